"""Past meals whose measured 0..180-min curve overlaps the target meal's own response, in the history
evaluation, and the shipped personal model's scores without them.

`mealimpact evaluate glucose` gives each meal the k latest meals eaten before it as history, each with
its CGM to 3 h after it; a meal eaten less than 3 h before the target thus carries part of the target's
measured response, which an app predicting the target before it is eaten could not send. This scores
the same targets (unseen Shanghai people, k = 5, 10, 20) as evaluated and with history drawn only from
meals whose 3-h curve had ended when the target was eaten.

    .venv/bin/python scripts/history_overlap.py [--data ../shared/data/shanghai]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from glucose_model.cohorts import load_cohort
from glucose_model.impact import ResponsePredictor
from mealimpact.model_repository.loading import load_model
from training.glucose_evaluate import _by_cohort, unseen
from training.glucose_history_evaluation import PersonMeal, _scores, person_meals

CURVE_S = 180 * 60


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path("../shared/data/shanghai"))
    parser.add_argument("--models", type=Path, default=Path("models/glucose_response"))
    args = parser.parse_args()
    model, session = load_model(args.models)
    names = [o.name for o in session.get_outputs()]
    predictor = ResponsePredictor(
        dict(model.metadata), lambda feed: dict(zip(names, session.run(names, feed), strict=True))
    )
    for cohort, group in sorted(_by_cohort(load_cohort(args.data, "shanghai")).items()):
        people = {r.person_id for r in unseen(group, dict(model.metadata))}
        by_person: dict[str, list[PersonMeal]] = {}
        for meal in person_meals(group):
            if meal.person in people:
                by_person.setdefault(meal.person, []).append(meal)
        for k in (5, 10, 20):
            for ended_only in (False, True):
                chosen: list[tuple[PersonMeal, list[PersonMeal]]] = []
                overlapping = 0
                for rows in by_person.values():
                    for j, target in enumerate(rows):
                        earlier = [e for e in rows[:j] if e.time_s < target.time_s]
                        if len(earlier) < k:
                            continue  # the same targets in both variants
                        if ended_only:
                            earlier = [e for e in earlier if target.time_s - e.time_s >= CURVE_S]
                        history = earlier[-k:]
                        overlapping += any(target.time_s - e.time_s < CURVE_S for e in history)
                        chosen.append((target, history))
                if len(chosen) < 3:
                    continue
                results = [
                    predictor.impact(t.context, [e.past for e in h], t.person_fields) for t, h in chosen
                ]
                scores = _scores(
                    np.array([r.peak.rise_mg_dl for r in results]),
                    np.array([r.explanation.predicted_iauc_2h_mg_dl_min for r in results]),
                    np.array([r.spike.probability for r in results]),
                    [t for t, _ in chosen],
                )
                sizes = np.mean([len(h) for _, h in chosen])
                variant = "curves ended before the target" if ended_only else "as evaluated"
                print(
                    f"{cohort} {k:2d} earlier meals, {variant:31s}: {len(chosen):3d} targets, "
                    f"peak-rise MAE {scores['peak_rise_mae_mg_dl']:.2f}, r {scores['peak_rise_pearson_r']:.3f}; "
                    f"{overlapping} with a history meal < 3 h before, mean history {sizes:.1f} meals",
                    flush=True,
                )


if __name__ == "__main__":
    main()
