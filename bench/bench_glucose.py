"""Glucose models in ONNX Runtime: response predictions per second (batch 1 vs batched), explanation
latency (one batched call vs the same rows one by one) and forecast latency; ratios in one process.

Run with `python -m bench` (every bench) or `python -m bench.bench_glucose`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from bench.timing import median_s
from glucose_model.explanation import coalition_inputs, raw_coalition_inputs
from glucose_model.features import MealContext, build_inputs
from glucose_model.forecast import Forecaster, build_forecast_inputs
from glucose_model.impact import ResponsePredictor
from glucose_model.personal import no_history_feed
from glucose_model.records import DiabetesKind, GlucoseSeries, Meal
from glucose_model.resample import resample_to_grid
from glucose_model.response_inputs import no_history_raw_feed, raw_inputs
from training.glucose_evaluate import load_onnx

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
BATCH = 64


def _trace(n_readings: int, seed: int) -> GlucoseSeries:
    rng = np.random.default_rng(seed)
    start = datetime(2024, 6, 1, 9, 0, tzinfo=UTC)
    times = [start + timedelta(minutes=5 * i) for i in range(n_readings)]
    glucose = 110 + np.cumsum(rng.normal(0, 2, n_readings))
    return GlucoseSeries.from_datetimes(times, glucose)


def bench_response() -> list[str]:
    model = load_onnx(MODELS_DIR, "glucose_response")
    if model is None:
        return ["glucose_response: not in models/, skipped"]
    contexts = []
    for i in range(BATCH):
        glucose = _trace(37, i)
        meal_time = glucose.datetime_at(len(glucose) - 1)
        contexts.append(MealContext(Meal(meal_time, carbs_g=20.0 + i), glucose, DiabetesKind.TYPE2))
    predictor = ResponsePredictor(model.metadata, model.infer)

    def inputs_of(batch: list[MealContext]) -> dict[str, np.ndarray]:
        # A raw graph (version 3 on) takes the raw inputs; its features are built in the graph.
        return (raw_inputs(batch) if predictor.raw else build_inputs(batch)).as_feed()

    def feed(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        # A personal graph (version 2 on) also takes the person and history inputs: here, none known.
        if "person_fields" not in model.metadata:
            return inputs
        n = next(iter(inputs.values())).shape[0]
        return {**inputs, **(no_history_raw_feed(n) if predictor.raw else no_history_feed(n))}

    rows = [feed(inputs_of([c])) for c in contexts]
    batched = feed(inputs_of(contexts))
    one_s = median_s(lambda: [model.infer(r) for r in rows])
    batch_s = median_s(lambda: model.infer(batched))
    impact_s = median_s(lambda: predictor.impact(contexts[0]))
    # The same explanation rows (coalitions + what-ifs) one model call each: what batching saves.
    actual = build_inputs([contexts[0]])
    coalitions = (
        raw_coalition_inputs(raw_inputs([contexts[0]]), actual.features[0], predictor.reference).as_feed()
        if predictor.raw
        else coalition_inputs(actual, predictor.reference).as_feed()
    )
    n_coalitions = next(iter(coalitions.values())).shape[0]
    single_rows = [feed({k: v[i : i + 1] for k, v in coalitions.items()}) for i in range(n_coalitions)]
    coalition_feed = feed(coalitions)
    coalition_batch_s = median_s(lambda: model.infer(coalition_feed))
    coalition_single_s = median_s(lambda: [model.infer(r) for r in single_rows], repeats=10)
    return [
        f"response predictions/s: batch 1 {BATCH / one_s:,.0f}, batch {BATCH} {BATCH / batch_s:,.0f} "
        f"(x{one_s / batch_s:.1f})",
        f"explanation model calls: {len(single_rows)} coalition rows in one call {1000 * coalition_batch_s:.2f} ms, "
        f"one call each {1000 * coalition_single_s:.2f} ms (x{coalition_single_s / coalition_batch_s:.1f})",
        f"impact request end to end (inputs, one batched call, Shapley values, what-ifs): {1000 * impact_s:.2f} ms",
    ]


def bench_forecast() -> list[str]:
    model = load_onnx(MODELS_DIR, "glucose_forecast")
    if model is None:
        return ["glucose_forecast: not in models/, skipped"]
    forecaster = Forecaster(model.metadata, model.infer)
    trace = _trace(36, 0)
    single_s = median_s(lambda: forecaster.forecast(trace, kind=DiabetesKind.TYPE1))
    grid = resample_to_grid(_trace(36 + BATCH, 1))
    inputs = build_forecast_inputs(grid, np.arange(36, 36 + BATCH))
    batch_s = median_s(lambda: forecaster.predict(inputs))
    one = [build_forecast_inputs(grid, np.array([i])) for i in range(36, 36 + BATCH)]
    one_s = median_s(lambda: [forecaster.predict(x) for x in one])
    return [
        f"forecast request (resample + inputs + model + alerts): {1000 * single_s:.2f} ms",
        f"forecast origins/s: batch 1 {BATCH / one_s:,.0f}, batch {BATCH} {BATCH / batch_s:,.0f} (x{one_s / batch_s:.1f})",
    ]


def main() -> None:
    for line in (*bench_response(), *bench_forecast()):
        print(f"[glucose] {line}")


if __name__ == "__main__":
    main()
