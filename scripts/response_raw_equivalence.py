"""Version 3 of the response model (raw inputs, features built in the graph) against version 2 fed
`features.py`'s arrays, on every real meal of the Shanghai and D1NAMO cohorts (the figures in
models/glucose_response/MODEL_CARD.md, "Version 3: raw inputs").

Graphs: the meals in chunks of 200, each chunk with 10 past meals of its last person as history; the
worst |difference| over the in-graph features and the outputs. Answers: every 25th-or-so meal through
ResponsePredictor on both files with that person's finished earlier meals (up to 10) as history; the
worst |difference| over every number of the answer (iAUC values divided by 120 min).

    .venv/bin/python scripts/response_raw_equivalence.py [--data ../shared/data] [--models models]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from glucose_model.cohorts import load_cohort
from glucose_model.features import MealContext, build_inputs
from glucose_model.impact import PastMeal, ResponsePredictor, past_meal_inputs, raw_past_meal_inputs
from glucose_model.metrics import IAUC_WINDOW_MIN
from glucose_model.personal import (
    INPUT_HISTORY_SLOT,
    INPUT_PERSON,
    MAX_HISTORY_MEALS,
    N_PERSON_FIELDS,
    history_arrays,
)
from glucose_model.response_inputs import OUTPUT_FEATURES, raw_history, raw_inputs
from mealimpact.model_repository.sessions import open_session
from training.glucose_history_evaluation import person_meals

CURVE_S = 180 * 60


def _session(path: Path) -> tuple[Any, Any]:
    session = open_session(path)
    names = [o.name for o in session.get_outputs()]
    return session, lambda feed: dict(zip(names, session.run(names, feed), strict=True))


def graph_difference(v2: Any, v3: Any, contexts: list[MealContext], past: list[PastMeal]) -> float:
    """Worst |v3 - v2| over the features and the three outputs, one history set for every row."""
    n = len(contexts)
    person = {
        INPUT_PERSON: np.full((n, N_PERSON_FIELDS), np.nan, np.float32),
        INPUT_HISTORY_SLOT: np.zeros(n, np.int64),
    }
    features = build_inputs(contexts)
    past_inputs, measured = past_meal_inputs(past)
    old = v2({**features.as_feed(), **person, **history_arrays([(past_inputs, measured)]).as_feed()})
    raw_past, after = raw_past_meal_inputs(past)
    new = v3(
        {
            **raw_inputs(contexts).as_feed(),
            **person,
            **raw_history([(raw_past, after)], MAX_HISTORY_MEALS).as_feed(),
        }
    )
    worst = float(np.max(np.abs(new[OUTPUT_FEATURES] - features.features)))
    return max(worst, *(float(np.max(np.abs(new[k] - old[k]))) for k in old))


def answer_difference(a: dict[str, Any], b: dict[str, Any], where: str = "") -> float:
    if isinstance(a, dict):
        return max([0.0, *(answer_difference(a[k], b[k], k) for k in a)])
    if isinstance(a, list):
        return max([0.0, *(answer_difference(x, y, where) for x, y in zip(a, b, strict=True))])
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) / (IAUC_WINDOW_MIN if "iauc" in where else 1.0)
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--models", type=Path, default=Path("models"))
    args = parser.parse_args()
    folder = args.models / "glucose_response"
    (s2, v2), (s3, v3) = _session(folder / "2" / "model.onnx"), _session(folder / "3" / "model.onnx")
    p2 = ResponsePredictor(dict(s2.get_modelmeta().custom_metadata_map), v2)
    p3 = ResponsePredictor(dict(s3.get_modelmeta().custom_metadata_map), v3)
    for cohort in ("shanghai", "d1namo"):
        meals = person_meals(load_cohort(args.data / cohort, cohort))
        graphs = 0.0
        for start in range(0, len(meals), 200):
            chunk = meals[start : start + 200]
            past = [m.past for m in chunk if m.person == chunk[-1].person][:10]
            graphs = max(graphs, graph_difference(v2, v3, [m.context for m in chunk], past))
        answers, scored = 0.0, meals[:: max(1, len(meals) // 25)]
        for meal in scored:
            history = [p.past for p in meals if p.person == meal.person and p.time_s < meal.time_s - CURVE_S][
                -10:
            ]
            a = p2.impact(meal.context, history, meal.person_fields).as_dict()
            b = p3.impact(meal.context, history, meal.person_fields).as_dict()
            answers = max(answers, answer_difference(a, b))
        print(
            f"{cohort}: {len(meals)} meals; graphs (features, outputs) worst |v3 - v2| {graphs:.2e}; "
            f"{len(scored)} answers worst {answers:.2e} mg/dL (iAUC / 120 min)"
        )


if __name__ == "__main__":
    main()
