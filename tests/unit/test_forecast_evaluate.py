"""Forecast evaluation: the alert table's counting and the shrinkage toward no change, on tiny arrays."""

from __future__ import annotations

import numpy as np
import pytest

from glucose_model.forecast import HORIZONS_MIN
from training.forecast_evaluate import alert_scores, cgm_trend_forecast, losses, point_scores
from training.forecast_train import RidgeStatistics, TrainingCopies, cohort_robust_shrinkage


def test_low_alerts_count_hits_misses_and_lead_time() -> None:
    current = np.array([100.0, 90.0, 80.0, 65.0])  # the last origin is already low: not judged
    measured = np.array(
        [[95, 90, 88, 85], [75, 68, 60, 55], [66, 60, 58, 57], [60, 58, 57, 56]], np.float32
    )  # events at origins 1 (first below 70 at +30) and 2 (at +15)
    forecast = np.array(
        [[90, 69, 60, 50], [80, 72, 70, 65], [70, 65, 60, 55], [60, 55, 50, 50]], np.float64
    )  # alerts at origins 0 (false) and 2 (hit); origin 1 missed
    got = alert_scores(current, forecast, measured, 70.0, below=True)
    assert got["origins"] == 3 and got["events"] == 2 and got["alerts"] == 2
    assert got["precision"] == pytest.approx(0.5) and got["recall"] == pytest.approx(0.5)
    assert got["lead_time_min"] == pytest.approx(15.0)


def test_persistence_never_warns_of_a_crossing_ahead() -> None:
    current = np.array([150.0, 170.0])
    measured = np.array([[160, 185, 190, 200], [175, 178, 179, 181]], np.float32)
    flat = np.repeat(current[:, None], len(HORIZONS_MIN), axis=1)
    got = alert_scores(current, flat, measured, 180.0, below=False)
    assert got["events"] == 1 and got["alerts"] == 0 and got["recall"] == 0.0 and got["precision"] is None


def test_cgm_trend_continues_the_last_15_minutes() -> None:
    cgm = np.full((1, 288), np.nan, np.float32)
    cgm[0, -10:-4] = 200.0  # a fall earlier than the last 15 min does not count
    cgm[0, -4:] = [100.0, 101.0, 102.0, 103.0]  # +0.2 mg/dL/min
    np.testing.assert_allclose(cgm_trend_forecast(cgm)[0], 103.0 + 0.2 * np.array(HORIZONS_MIN))


def test_scores_and_losses_name_where_the_model_is_not_better() -> None:
    targets = np.array([[100, 110, 120, 130]], np.float32).repeat(3, 0)
    good = targets.astype(np.float64) + 1.0
    bad = targets.astype(np.float64) + 5.0
    figures: dict[str, object] = {
        "model": point_scores(bad, targets),
        "persistence": point_scores(good, targets),
    }
    model = point_scores(bad, targets)
    assert model["rmse_30min_mg_dl"] == pytest.approx(5.0)
    assert model["clarke_ab_30min_percent"] == pytest.approx(100.0)
    assert len(losses(figures)) == 4  # RMSE and MAE at 30 and 60 min


def test_shrinkage_pulls_toward_no_change_when_a_held_out_cohort_is_misled() -> None:
    """Three cohorts where the feature predicts the change; in one of them the change is only half as
    large: the cohort-robust factor falls below 1 (and is 1 with fewer than three cohorts)."""
    rng = np.random.default_rng(0)
    parts = []
    for name, gain in (("a", 1.0), ("b", 1.0), ("c", 0.4)):
        x = rng.normal(0, 1, (500, 1))
        y = gain * x.repeat(4, 1) + rng.normal(0, 0.1, (500, 4))
        parts.append((name, x, y))
    copies = TrainingCopies(
        np.concatenate([x for _, x, _ in parts]),
        np.ones((1500, 1)),
        np.concatenate([y for _, _, y in parts]),
        np.full(1500, 1 / 500),
        np.repeat([n for n, _, _ in parts], 500),
        np.ones(1500, bool),
        np.ones(1500, np.int64),  # everyone in the "with diabetes" group
    )
    statistics = {n: RidgeStatistics.of(copies.subset(copies.cohort == n)) for n in ("a", "b", "c")}
    alpha = cohort_robust_shrinkage(copies, statistics, penalty=0.0)  # (groups, horizons)
    assert alpha.shape == (3, 4) and (alpha < 0.95).all() and (alpha > 0.3).all()
    # A group with no cohort of its own takes the factor over every cohort; unknown the smallest.
    np.testing.assert_array_equal(alpha[0], alpha[1])
    np.testing.assert_array_equal(alpha[2], alpha.min(axis=0))
    two = {n: statistics[n] for n in ("a", "b")}
    np.testing.assert_array_equal(cohort_robust_shrinkage(copies, two, penalty=0.0), np.ones((3, 4)))
