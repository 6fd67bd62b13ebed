"""The personal response model in ONNX Runtime: one whole impact request (inputs, 128 explanation
coalitions + what-ifs in one call, Shapley values) with 0, 10 and 50 past meals as history.

Run with `python -m bench personal` (or `python -m bench.bench_personal`) (the issue's bar: under 30 ms per request with 50 meals).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from bench.timing import median_s
from glucose_model.features import MealContext
from glucose_model.impact import PastMeal, ResponsePredictor
from glucose_model.personal import person_row
from glucose_model.records import DiabetesKind, GlucoseSeries, Meal
from mealimpact.model_repository.loading import load_model
from mealimpact.model_repository.sessions import session_options

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
HISTORY_SIZES = (0, 10, 50)


def _trace(start: datetime, n_readings: int, seed: int) -> GlucoseSeries:
    rng = np.random.default_rng(seed)
    times = [start + timedelta(minutes=5 * i) for i in range(n_readings)]
    return GlucoseSeries.from_datetimes(times, 120 + np.cumsum(rng.normal(0, 2, n_readings)))


def bench_personal() -> list[str]:
    folder = MODELS_DIR / "glucose_response"
    if not folder.is_dir():
        return ["glucose_response: not in models/, skipped"]
    # One thread, as a loaded server core; the serving default may use more.
    model, session = load_model(folder, session_options=session_options(1))
    outputs = [o.name for o in session.get_outputs()]

    def infer(feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(outputs, session.run(outputs, feed), strict=True))

    predictor = ResponsePredictor(dict(model.metadata), infer)
    now = datetime(2024, 6, 30, 12, 0, tzinfo=UTC)
    glucose = _trace(now - timedelta(minutes=180), 37, 0)
    context = MealContext(Meal(now, carbs_g=60.0, fiber_g=4.0), glucose, DiabetesKind.TYPE2)
    past: list[PastMeal] = []
    for k in range(max(HISTORY_SIZES)):
        when = now - timedelta(hours=8 * (k + 1))
        trace = _trace(when - timedelta(minutes=180), 73, k + 1)
        before = trace.times_utc_s < int(when.timestamp())
        pre = GlucoseSeries(
            trace.times_utc_s[before], trace.utc_offset_min[before], trace.glucose_mg_dl[before], "b"
        )
        post = GlucoseSeries(
            trace.times_utc_s[~before], trace.utc_offset_min[~before], trace.glucose_mg_dl[~before], "b"
        )
        past.append(PastMeal(MealContext(Meal(when, carbs_g=30.0 + k), pre, DiabetesKind.TYPE2), post))
    past.reverse()  # oldest first
    person = person_row(age_years=58, medication=["oral"])
    lines = [f"glucose_response version {model.version} (personal: {predictor.personal}), one ORT thread"]
    for n in HISTORY_SIZES:
        history = past[len(past) - n :] if n else []

        def request(history: list[PastMeal] = history) -> object:
            return predictor.impact(context, history, person)

        seconds = median_s(request, repeats=30)
        lines.append(f"impact request with {n} past meals: {1000 * seconds:.1f} ms (median of 30)")
    return lines


def main() -> None:
    print("\n".join(bench_personal()))


if __name__ == "__main__":
    main()
