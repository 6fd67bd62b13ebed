"""Measured against predicted rise late in the 3-h window, on the shipped response model's held-out
Shanghai people: shows whether the predicted curve climbs where the measured one falls.

Run: `python scripts/response_curve_tail.py [--data ../shared/data/shanghai]` (a few minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import onnx

from glucose_model.cohorts import load_cohort
from glucose_model.features import CURVE_MINUTES
from glucose_model.impact import OUTPUT_RISE
from glucose_model.metrics import peak_rise
from mealimpact.model_repository.sessions import open_session
from training.glucose_train import meal_examples

MODEL = Path(__file__).resolve().parents[1] / "models" / "glucose_response" / "1" / "model.onnx"
MINUTES = (90, 120, 150, 160, 170, 180)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/shanghai"))
    args = parser.parse_args()
    metadata = {p.key: p.value for p in onnx.load(str(MODEL)).metadata_props}
    held_out = set(json.loads(metadata["held_out_people"]))
    examples = meal_examples(load_cohort(args.data, "auto"))
    examples = examples.subset(np.array([p in held_out for p in examples.person]))
    session = open_session(MODEL)
    p50 = session.run([OUTPUT_RISE], examples.inputs.as_feed())[0][:, :, 1].astype(np.float64)  # (N, 37)
    measured = examples.rise_mg_dl.astype(np.float64)  # (N, 37), NaN = not measured
    print(f"{len(examples)} held-out meals; mean rise from baseline, mg/dL")
    for minute in MINUTES:
        j = int(np.flatnonzero(minute == CURVE_MINUTES)[0])
        ok = np.isfinite(measured[:, j])
        print(
            f"  minute {minute:3d}: measured {measured[ok, j].mean():6.1f}  predicted {p50[ok, j].mean():6.1f}"
        )
    _, predicted_minute = peak_rise(p50)
    _, measured_minute = peak_rise(np.where(np.isfinite(measured), measured, -np.inf))
    last = int(CURVE_MINUTES[-1])
    print(
        f"peak at minute {last}: predicted {100 * np.mean(predicted_minute == last):.0f} %, "
        f"measured {100 * np.mean(measured_minute == last):.0f} % of meals"
    )


if __name__ == "__main__":
    main()
