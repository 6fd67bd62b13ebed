"""What the 24 h of CGM context buys the shipped forecast: its held-out people's windows scored with
the full input and with everything older than 3 h removed (NaN), and the request time end to end.

    python scripts/forecast_context_value.py [--data ../shared/data] [--models-dir models]

Prints the Markdown table quoted in models/glucose_forecast/MODEL_CARD.md.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from glucose_model.cohorts import load_cohort
from glucose_model.forecast import CGM_STEPS, HISTORY_STEPS, Forecaster, ForecastInputs
from glucose_model.records import DiabetesKind, GlucoseSeries
from training.forecast_train import forecast_windows
from training.glucose_evaluate import FORECAST_MODEL, load_onnx

COHORTS = ("shanghai", "dubosson", "weinstock", "colas")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    args = parser.parse_args()
    model = load_onnx(args.models_dir, FORECAST_MODEL)
    if model is None:
        raise SystemExit(f"no {FORECAST_MODEL} in {args.models_dir}")
    forecaster = Forecaster(model.metadata, model.infer)
    held = set(json.loads(model.metadata["held_out_people"]))
    recordings = [r for name in COHORTS for r in load_cohort(args.data, name) if r.person_id in held]
    windows = forecast_windows(recordings, stride_steps=3)
    print(
        "| cohort | origins | RMSE 30 (24 h / 3 h) | RMSE 60 (24 h / 3 h) | band +60 coverage (24 h / 3 h) |"
    )
    print("|---|---|---|---|---|")
    for cohort in sorted(set(windows.cohort.tolist())):
        mine = windows.subset(windows.cohort == cohort)
        short = mine.cgm.copy()
        short[:, : CGM_STEPS - HISTORY_STEPS] = np.nan
        cells = []
        for cgm in (mine.cgm, short):
            q = forecaster.predict(ForecastInputs(cgm, mine.kind))
            rmse = np.sqrt(((q[..., 1] - mine.targets) ** 2).mean(axis=0))
            inside = (mine.targets >= q[..., 0]) & (mine.targets <= q[..., 2])
            cells.append((rmse, inside.mean(axis=0)))
        (full_rmse, full_cover), (short_rmse, short_cover) = cells
        print(
            f"| {cohort} | {len(mine)} | {full_rmse[1]:.2f} / {short_rmse[1]:.2f} | {full_rmse[3]:.2f} / "
            f"{short_rmse[3]:.2f} | {full_cover[3]:.2f} / {short_cover[3]:.2f} |"
        )
    start = datetime(2024, 3, 1, tzinfo=UTC)
    for hours in (3, 24):
        n = hours * 12
        times = [start + timedelta(minutes=5 * i) for i in range(n)]
        trace = GlucoseSeries.from_datetimes(times, 120 + 30 * np.sin(np.arange(n) / 20.0))
        forecaster.forecast(trace, kind=DiabetesKind.TYPE1)
        began, calls = time.perf_counter(), 200
        for _ in range(calls):
            forecaster.forecast(trace, kind=DiabetesKind.TYPE1)
        per_call_ms = (time.perf_counter() - began) / calls * 1000
        print(
            f"forecast request with {hours} h of CGM (resample + inputs + model + alerts): {per_call_ms:.2f} ms"
        )


if __name__ == "__main__":
    main()
