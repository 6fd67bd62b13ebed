"""Forecast version 1 (inputs `series` + `context`, built by the code of commit 2400b46) against the
current model, on the same origins of people neither model trained on, and v1 on every Colas person.

Version 1's inputs can only be built by its own code, so this runs against a checkout of it:

    mkdir -p /tmp/v1 && git archive 2400b46 glucose_model | tar -x -C /tmp/v1
    git show 2400b46:models/glucose_forecast/1/model.onnx > /tmp/v1/model.onnx
    cp glucose_model/cohorts/colas.py /tmp/v1/glucose_model/cohorts/
    PYTHONPATH=/tmp/v1 python scripts/forecast_v1_comparison.py /tmp/v1/model.onnx models/glucose_forecast/5/model.onnx

Prints the Markdown table quoted in models/glucose_forecast/MODEL_CARD.md. Not run by the tests.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from glucose_model.cohorts import load_cohort  # version 1's code (PYTHONPATH)
from glucose_model.cohorts.colas import load_colas
from glucose_model.forecast import HISTORY_STEPS, build_forecast_inputs, forecast_targets, usable_origins
from glucose_model.resample import resample_to_grid
from mealimpact.model_repository.sessions import open_session

CGM_STEPS = 288
KIND_CODES = {"none": 0.0, "prediabetes": 1.0, "type2": 2.0, "type1": 3.0}


def main() -> None:
    old = open_session(sys.argv[1])
    new = open_session(sys.argv[2])
    old_trained = set(json.loads(old.get_modelmeta().custom_metadata_map["trained_people"]))
    new_trained = set(json.loads(new.get_modelmeta().custom_metadata_map["trained_people"]))
    data = Path(sys.argv[3] if len(sys.argv) > 3 else "../shared/data")
    recordings = [r for name in ("shanghai", "dubosson", "weinstock") for r in load_cohort(data, name)]
    recordings += load_colas(data / "colas2019")
    sets: dict[str, dict[str, list[np.ndarray] | set[str]]] = {}
    for r in recordings:
        grid = resample_to_grid(r.glucose)
        n = len(grid.series)
        if n <= HISTORY_STEPS:
            continue
        y = forecast_targets(grid, np.arange(n))
        ok = usable_origins(grid) & np.isfinite(y).all(axis=1)
        ok[: HISTORY_STEPS // 3] = False
        anchors = np.flatnonzero(ok)
        if len(anchors) == 0:
            continue
        inputs = build_forecast_inputs(grid, anchors, r.meals, r.insulin, r.activity, r.kind)
        p_old = old.run(None, {"series": inputs.series, "context": inputs.context})[0][:, :, 1]
        glucose = np.where(grid.valid, grid.glucose_mg_dl, np.nan)
        padded = np.concatenate([np.full(CGM_STEPS - 1, np.nan), glucose])
        cgm = np.lib.stride_tricks.sliding_window_view(padded, CGM_STEPS)[anchors].astype(np.float32)
        code = KIND_CODES.get(r.kind.value if r.kind else "", -1.0)
        kind = np.full((len(anchors), 1), code, np.float32)
        p_new = new.run(None, {"cgm_mg_dl": cgm, "diabetes_kind": kind})[0][:, :, 1]
        names = []
        if r.person_id not in old_trained and r.person_id not in new_trained:
            names.append(f"{r.cohort} (people neither model saw)")
        if r.cohort == "colas":
            names.append("colas (every person; v1 never saw the cohort)")
        for name in names:
            s = sets.setdefault(name, {"old": [], "new": [], "flat": [], "y": [], "people": set()})
            for key, value in (
                ("old", p_old),
                ("new", p_new),
                ("flat", np.repeat(cgm[:, -1:], 4, 1)),
                ("y", y[anchors]),
            ):
                s[key].append(value)  # type: ignore[union-attr]
            s["people"].add(r.person_id)  # type: ignore[union-attr]
    print("| set | people | origins | RMSE 30 v1 / new / persistence | RMSE 60 v1 / new / persistence |")
    print("|---|---|---|---|---|")
    for name, s in sorted(sets.items()):
        y = np.concatenate(s["y"])  # type: ignore[arg-type]
        rmse = {k: np.sqrt(((np.concatenate(s[k]) - y) ** 2).mean(0)) for k in ("old", "new", "flat")}  # type: ignore[arg-type]
        print(
            f"| {name} | {len(s['people'])} | {len(y)} | {rmse['old'][1]:.2f} / {rmse['new'][1]:.2f} / "
            f"{rmse['flat'][1]:.2f} | {rmse['old'][3]:.2f} / {rmse['new'][3]:.2f} / {rmse['flat'][3]:.2f} |"
        )


if __name__ == "__main__":
    main()
