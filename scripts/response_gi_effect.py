"""What the served response model does with a meal's glycemic index (GI): the evidence for not accepting it.

GI was known for every simulated training meal (35-95) and for no real one, so the known bit also says
"simulated". For the README's example request (serving/examples/impact.json) at 30/60/100 g carbohydrate
and each kind, prints the predicted peak and spike probability with GI unknown (what the API sends) and at
GI 35, 55 (the reference meal's) and 95.

    .venv/bin/python scripts/response_gi_effect.py [--models-dir models]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path

from glucose_model.impact import ImpactResult, ResponsePredictor
from mealimpact.inference import session_infer
from mealimpact.model_repository.loading import load_model
from serving.request_records import meal_context, meal_record, person_fields
from serving.schemas.meals import ImpactRequest
from serving.settings import GLUCOSE_RESPONSE

EXAMPLE = Path(__file__).resolve().parents[1] / "serving" / "examples" / "impact.json"
NOW = datetime(2026, 11, 28, 12, 30, tzinfo=UTC)  # just after the example meal
GI_VALUES = (None, 35.0, 55.0, 95.0)


def _predict(predictor: ResponsePredictor, body: ImpactRequest, gi: float | None) -> ImpactResult:
    meal = dataclasses.replace(meal_record(body.meal), glycemic_index=gi)
    return predictor.impact(meal_context(body, meal, NOW), (), person_fields(body.profile))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    args = parser.parse_args()
    model, session = load_model(args.models_dir / GLUCOSE_RESPONSE)
    predictor = ResponsePredictor(model.metadata, session_infer(session))
    example = json.loads(EXAMPLE.read_text())
    print(f"glucose_response version {predictor.version}: peak mg/dL (spike probability)")
    header = " | ".join(f"GI {'unknown' if gi is None else f'{gi:.0f}'}" for gi in GI_VALUES)
    print(f"| kind | carbs g | {header} |")
    print("|" + " --- |" * (2 + len(GI_VALUES)))
    for kind in ("none", "prediabetes", "type2", "type1", None):
        for carbs in (30, 60, 100):
            request = {
                **example,
                "meal": {**example["meal"], "carbs_g": carbs},
                "profile": {"diabetes": kind},
            }
            body = ImpactRequest.model_validate(request)
            results = [_predict(predictor, body, gi) for gi in GI_VALUES]
            cells = [f"{r.peak.glucose_mg_dl:.1f} ({r.spike.probability:.3f})" for r in results]
            print(f"| {kind or 'unknown'} | {carbs} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
