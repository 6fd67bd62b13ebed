"""One definition: the self-contained response graph (models/glucose_response/3, raw inputs, features
built in the graph) equals version 2 fed with `features.py`'s arrays, on real meals and edge cases.

Checked: the graph's own `features` output equals `features.build_inputs` column by column, its
outputs equal version 2's, and ResponsePredictor's whole answer (curve, explanation, what-ifs) is
the same through either file.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glucose_model.features import CGM_POINTS, FEATURE_NAMES, MealContext, build_inputs, pre_meal_glucose
from glucose_model.impact import (
    ImpactResult,
    PastMeal,
    ResponsePredictor,
    past_meal_inputs,
    raw_past_meal_inputs,
)
from glucose_model.metrics import IAUC_WINDOW_MIN
from glucose_model.personal import (
    INPUT_HISTORY_SLOT,
    INPUT_PERSON,
    MAX_HISTORY_MEALS,
    history_arrays,
    person_row,
)
from glucose_model.records import (
    ActivitySample,
    DiabetesKind,
    GlucoseSeries,
    InsulinDose,
    InsulinKind,
    Meal,
)
from glucose_model.response_inputs import OUTPUT_FEATURES, raw_history, raw_inputs

MODELS = Path(__file__).resolve().parents[2] / "models" / "glucose_response"
V2, V3 = MODELS / "2" / "model.onnx", MODELS / "3" / "model.onnx"
TOLERANCE = 1e-4  # mg/dL, probability, feature units
# The answer sums 64-128 coalition values with Shapley weights and re-scores spikes: 1e-3.
ANSWER_TOLERANCE = 1e-3
MEAL_TIME = datetime(2024, 5, 3, 12, 40, tzinfo=timezone(timedelta(hours=2)))


@cache
def _session(path: Path) -> Any:
    import onnxruntime as ort

    if not path.is_file():
        pytest.skip(f"{path} not exported")
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _metadata(path: Path) -> dict[str, str]:
    return dict(_session(path).get_modelmeta().custom_metadata_map)


def _infer(path: Path) -> Any:
    session = _session(path)
    names = [o.name for o in session.get_outputs()]

    def infer(feed: dict[str, npt.NDArray[Any]]) -> dict[str, npt.NDArray[Any]]:
        return dict(zip(names, session.run(names, feed), strict=True))

    return infer


def _series(values: npt.NDArray[np.float64], end: datetime, step_min: int = 5) -> GlucoseSeries:
    keep = np.isfinite(values)
    times = [end - timedelta(minutes=step_min * (len(values) - 1 - i)) for i in range(len(values))]
    return GlucoseSeries.from_datetimes(
        [t for t, k in zip(times, keep, strict=True) if k], values[keep], "test"
    )


def _context(
    cgm: npt.NDArray[np.float64],
    meal: Meal,
    kind: DiabetesKind | None = None,
    **extra: Any,
) -> MealContext:
    return MealContext(meal=meal, glucose=_series(cgm, meal.time), kind=kind, **extra)


def edge_cases() -> list[MealContext]:
    """Holes, unknown everything, every kind, a photo interval, activity and insulin, odd times."""
    rng = np.random.default_rng(3)
    trace = 140 + np.cumsum(rng.normal(0, 3, 37))
    holes = trace.copy()
    holes[[0, 1, 2, 10, 11, 12, 13, 14, 30, 33]] = np.nan  # the baseline window keeps 5 of 7
    sparse = trace.copy()
    sparse[:25] = np.nan  # only the last hour
    sparse[[26, 28, 31, 32, 35]] = np.nan  # 7 of 12 in the last hour, 2 in the trend window
    plain = Meal(MEAL_TIME, 45.0)
    full = Meal(
        MEAL_TIME,
        62.0,
        sugars_g=12.5,
        fiber_g=3.2,
        fat_g=18.0,
        protein_g=22.0,
        glycemic_index=68.0,
        carbs_p10_g=40.0,
        carbs_p90_g=90.0,
    )
    cases = [_context(trace, plain), _context(holes, plain), _context(sparse, full, DiabetesKind.TYPE1)]
    cases += [_context(trace, full, kind) for kind in DiabetesKind]
    previous = (
        Meal(MEAL_TIME - timedelta(hours=3, minutes=10), 35.0),
        Meal(MEAL_TIME - timedelta(hours=30), 80.0),
    )
    cases.append(
        _context(
            holes,
            full,
            DiabetesKind.TYPE1,
            activity=(ActivitySample(MEAL_TIME - timedelta(minutes=90), 60.0, 1800.0, 95.0),),
            planned_walk_min=20.0,
            insulin=(
                InsulinDose(MEAL_TIME - timedelta(minutes=10), 4.0, InsulinKind.RAPID),
                InsulinDose(MEAL_TIME - timedelta(hours=5), 12.0, InsulinKind.BASAL),
            ),
            sleep_hours=5.5,
            previous_meals=previous,
        )
    )
    cases.append(_context(trace, Meal(MEAL_TIME - timedelta(hours=12, minutes=33), 0.0), DiabetesKind.NONE))
    late = MEAL_TIME.replace(hour=23, minute=58, second=30)
    cases.append(_context(trace, Meal(late, 120.0, carbs_p10_g=100.0, carbs_p90_g=100.0), insulin=()))
    return cases


def _v2_feed(inputs: Any, history: Any, n: int) -> dict[str, Any]:
    return {
        **inputs.as_feed(),
        INPUT_PERSON: np.full((n, 9), np.nan, np.float32),
        INPUT_HISTORY_SLOT: np.zeros(n, np.int64),
        **history.as_feed(),
    }


def _compare_graphs(contexts: list[MealContext], past: list[PastMeal]) -> float:
    """Run both files on the same meals (sharing one history set); return the worst difference."""
    n = len(contexts)
    v2_inputs = build_inputs(contexts)
    grids = np.stack([pre_meal_glucose(c.glucose, c.meal.time).glucose_mg_dl for c in contexts])
    v3_inputs = raw_inputs(contexts, grids)
    past_v2, measured = past_meal_inputs(past) if past else (build_inputs([]), np.zeros((0, 37)))
    past_v3, after = raw_past_meal_inputs(past)
    v2_out = _session(V2).run(None, _v2_feed(v2_inputs, history_arrays([(past_v2, measured)]), n))
    feed3 = {
        **v3_inputs.as_feed(),
        INPUT_PERSON: np.full((n, 9), np.nan, np.float32),
        INPUT_HISTORY_SLOT: np.zeros(n, np.int64),
        **raw_history([(past_v3, after)], MAX_HISTORY_MEALS).as_feed(),
    }
    names = [o.name for o in _session(V3).get_outputs()]
    v3_out = dict(zip(names, _session(V3).run(names, feed3), strict=True))
    feature_diff = np.abs(v3_out[OUTPUT_FEATURES] - v2_inputs.features)
    worst_column = FEATURE_NAMES[int(np.argmax(feature_diff.max(axis=0)))]
    assert feature_diff.max() <= TOLERANCE, (
        f"in-graph features differ in {worst_column}: {feature_diff.max()}"
    )
    worst = float(feature_diff.max())
    for got, want in zip([v3_out[k] for k in names[:3]], v2_out, strict=True):
        diff = float(np.max(np.abs(got - want)))
        assert diff <= TOLERANCE, diff
        worst = max(worst, diff)
    return worst


def test_in_graph_features_and_outputs_equal_version_2_on_edge_cases() -> None:
    assert _compare_graphs(edge_cases(), []) <= TOLERANCE


def test_all_nan_cgm_stays_finite_and_unknown_kind_gets_the_lower_threshold() -> None:
    """The graph itself never returns NaN (the API refuses such a window before the model)."""
    feed = {
        "cgm_mg_dl": np.full((2, CGM_POINTS), np.nan, np.float32),
        "meal": np.full((2, 8), np.nan, np.float32),
        "context": np.full((2, 8), np.nan, np.float32),
        "diabetes_kind": np.array([[-1.0], [np.nan]], np.float32),
        INPUT_PERSON: np.full((2, 9), np.nan, np.float32),
        INPUT_HISTORY_SLOT: np.zeros(2, np.int64),
        **raw_history([], MAX_HISTORY_MEALS).as_feed(),
    }
    names = [o.name for o in _session(V3).get_outputs()]
    out = dict(zip(names, _session(V3).run(names, feed), strict=True))
    assert all(np.isfinite(v).all() for v in out.values())
    features = out[OUTPUT_FEATURES]
    assert features[:, FEATURE_NAMES.index("spike_threshold_mg_dl")].tolist() == [140.0, 140.0]
    assert features[:, FEATURE_NAMES.index("kind_known")].tolist() == [0.0, 0.0]
    known = [i for i, n in enumerate(FEATURE_NAMES) if n.endswith("_known")]
    assert not features[:, known].any()


def _past_meals(seed: int, n: int) -> list[PastMeal]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        time = MEAL_TIME - timedelta(days=i + 1, minutes=int(rng.integers(0, 600)))
        before = 110 + np.cumsum(rng.normal(0, 2, 37))
        after = before[-1] + rng.uniform(10, 80) * np.sin(np.linspace(0, np.pi, 38))[1:]
        after[rng.random(37) < 0.1] = np.nan
        meal = Meal(time, float(rng.uniform(20, 100)), sugars_g=None if i % 2 else 8.0, fat_g=12.0)
        context = MealContext(meal=meal, glucose=_series(before, time), kind=DiabetesKind.TYPE2)
        measured = _series(after, time + timedelta(minutes=5 * 37))
        out.append(PastMeal(context, measured))
    return out


def test_with_a_history_the_graphs_agree() -> None:
    contexts = [c for c in edge_cases() if c.kind == DiabetesKind.TYPE2]
    assert _compare_graphs(contexts, _past_meals(5, 12)) <= TOLERANCE


def _answers_agree(a: ImpactResult, b: ImpactResult) -> float:
    da, db = a.as_dict(), b.as_dict()
    worst = 0.0

    def walk(x: Any, y: Any, where: str) -> None:
        nonlocal worst
        if isinstance(x, dict):
            assert set(x) == set(y), where
            for k in x:
                walk(x[k], y[k], f"{where}.{k}")
        elif isinstance(x, list):
            assert len(x) == len(y), where
            for i, (u, v) in enumerate(zip(x, y, strict=True)):
                walk(u, v, f"{where}[{i}]")
        elif isinstance(x, float) and isinstance(y, float):
            # An area over 120 min adds up 1e-4 mg/dL differences: 120x the tolerance there.
            scale = IAUC_WINDOW_MIN if "iauc" in where else 1.0
            worst = max(worst, abs(x - y) / scale)
            assert x == pytest.approx(y, abs=ANSWER_TOLERANCE * scale), where
        elif where != ".model_version":
            assert x == y, where

    walk(da, db, "")
    return worst


def test_predictor_answers_and_explanations_are_the_same_through_either_file() -> None:
    v2 = ResponsePredictor(_metadata(V2), _infer(V2))
    v3 = ResponsePredictor(_metadata(V3), _infer(V3))
    assert v3.raw and not v2.raw
    person = person_row(medication=["oral"])
    for context in edge_cases():
        _answers_agree(v2.impact(context, [], person), v3.impact(context, [], person))
    context = edge_cases()[-3]
    history = _past_meals(7, 6)
    _answers_agree(v2.impact(context, history, person), v3.impact(context, history, person))


@pytest.mark.data
@pytest.mark.parametrize("cohort", ["shanghai", "d1namo"])
def test_real_meals_with_their_history(shared_data: Path, cohort: str) -> None:
    """Real meal windows as training sees them (`context_from_window`), with up to 10 earlier meals."""
    from glucose_model.cohorts import load_cohort
    from training.glucose_history_evaluation import person_meals

    recordings = load_cohort(shared_data / cohort, cohort)
    people = sorted({r.person_id for r in recordings})[:2]
    meals = [m for m in person_meals([r for r in recordings if r.person_id in people])]
    assert len(meals) > 12
    contexts = [m.context for m in meals[:40]]
    history = [m.past for m in meals if m.person == meals[-1].person][:10]
    _compare_graphs(contexts, history)
    v2 = ResponsePredictor(_metadata(V2), _infer(V2))
    v3 = ResponsePredictor(_metadata(V3), _infer(V3))
    target = meals[-1]
    _answers_agree(
        v2.impact(target.context, history, target.person_fields),
        v3.impact(target.context, history, target.person_fields),
    )


def test_reference_meal_raw_gives_the_reference_features() -> None:
    """The raw reference meal (explanation.REFERENCE_MEAL_RAW) is REFERENCE_MEAL_FEATURES in the graph."""
    from glucose_model.explanation import REFERENCE_MEAL_FEATURES, REFERENCE_MEAL_RAW
    from glucose_model.response_inputs import CONTEXT_NAMES, MEAL_NAMES

    feed = {
        "cgm_mg_dl": np.full((1, CGM_POINTS), 120.0, np.float32),
        "meal": np.array([[REFERENCE_MEAL_RAW[n] for n in MEAL_NAMES]], np.float32),
        "context": np.array([[REFERENCE_MEAL_RAW[n] for n in CONTEXT_NAMES]], np.float32),
        "diabetes_kind": np.array([[2.0]], np.float32),
        INPUT_PERSON: np.full((1, 9), np.nan, np.float32),
        INPUT_HISTORY_SLOT: np.zeros(1, np.int64),
        **raw_history([], MAX_HISTORY_MEALS).as_feed(),
    }
    names = [o.name for o in _session(V3).get_outputs()]
    features = dict(zip(names, _session(V3).run(names, feed), strict=True))[OUTPUT_FEATURES][0]
    for name, value in REFERENCE_MEAL_FEATURES.items():
        assert features[FEATURE_NAMES.index(name)] == pytest.approx(value, abs=1e-6), name
    assert features[FEATURE_NAMES.index("baseline_glucose_mg_dl")] == 120.0
    assert features[FEATURE_NAMES.index("trend_mg_dl_per_min")] == 0.0


def test_a_raw_graph_needs_its_raw_reference_meal_and_names_a_wrong_column() -> None:
    """The raw reference travels in the metadata; a file without it, or naming a column this code does
    not have, stops the predictor (and so the server) at start-up."""
    import json

    from glucose_model.explanation import ReferenceMealError
    from glucose_model.impact import ResponseMetadataError

    metadata = _metadata(V3)
    reference = json.loads(metadata["reference_meal"])
    without = {**metadata, "reference_meal": json.dumps({k: v for k, v in reference.items() if k != "raw"})}
    with pytest.raises(ResponseMetadataError, match=r"reference_meal\.raw"):
        ResponsePredictor(without, _infer(V3))
    renamed = dict(reference["raw"]["meal_and_context"])
    renamed["carbohydrate_g"] = renamed.pop("carbs_g")
    wrong = {**reference, "raw": {**reference["raw"], "meal_and_context": renamed}}
    with pytest.raises(ReferenceMealError, match="carbohydrate_g"):
        ResponsePredictor({**metadata, "reference_meal": json.dumps(wrong)}, _infer(V3))


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    kind=st.sampled_from([-1.0, 0.0, 1.0, 2.0, 3.0]),
    carbs=st.lists(st.floats(0.0, 200.0), min_size=2, max_size=2),
    walk=st.lists(st.floats(0.0, 90.0), min_size=2, max_size=2),
    insulin=st.lists(st.floats(0.0, 15.0), min_size=2, max_size=2),
)
def test_raw_inputs_keep_the_physiology(
    seed: int, kind: float, carbs: list[float], walk: list[float], insulin: list[float]
) -> None:
    """On the shipped file with raw inputs (random unknowns, gaps): more carbohydrate never lowers the
    p50 peak, a longer planned walk and more rapid insulin never raise it."""
    from glucose_model.metrics import peak_rise
    from glucose_model.response_inputs import CONTEXT_INDEX, MEAL_INDEX, no_history_raw_feed

    rng = np.random.default_rng(seed)
    cgm = (rng.uniform(80, 250) + np.cumsum(rng.normal(0, 3, CGM_POINTS))).astype(np.float32)
    cgm[rng.random(CGM_POINTS) < 0.2] = np.nan
    meal = rng.uniform(0, 80, 8).astype(np.float32)
    meal[rng.random(8) < 0.4] = np.nan
    context = np.array([rng.uniform(0, 1440), rng.uniform(30, 600), 40, 7, 500, 70, 0, 0], np.float32)
    context[rng.random(8) < 0.4] = np.nan
    rows = [(min(carbs), walk[0], insulin[0]), (max(carbs), walk[0], insulin[0])]
    rows += [(carbs[0], min(walk), insulin[0]), (carbs[0], max(walk), insulin[0])]
    rows += [(carbs[0], walk[0], min(insulin)), (carbs[0], walk[0], max(insulin))]
    n = len(rows)
    meals = np.repeat(meal[None], n, axis=0)
    contexts = np.repeat(context[None], n, axis=0)
    for i, (c, w, u) in enumerate(rows):
        meals[i, MEAL_INDEX["carbs_g"]] = c
        contexts[i, CONTEXT_INDEX["planned_walk_min"]] = w
        contexts[i, CONTEXT_INDEX["rapid_insulin_units"]] = u
    feed = {
        "cgm_mg_dl": np.repeat(cgm[None], n, axis=0),
        "meal": meals,
        "context": contexts,
        "diabetes_kind": np.full((n, 1), kind, np.float32),
        **no_history_raw_feed(n),
    }
    rise = _session(V3).run(["rise_mg_dl"], feed)[0].astype(np.float64)
    peak, _ = peak_rise(rise[:, :, 1])
    assert peak[1] >= peak[0] - 1e-3  # more carbs
    assert peak[3] <= peak[2] + 1e-3  # longer walk
    assert peak[5] <= peak[4] + 1e-3  # more insulin
