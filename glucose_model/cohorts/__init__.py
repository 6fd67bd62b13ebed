"""Loaders for the real CGM cohorts in `../shared/data`, the canonical (simulated) cohort folder and a
folder of device exports (`exports`: a hospital's patients' Dexcom, LibreView... files).

Every loader takes the folder it reads (never a hard-coded path) and returns one `Recording` per
person and recording period. Person ids are stable across cohorts that share people (D1NAMO and
its Dubosson/GlucoBench resampling both use `d1namo-00N`), so splits by person stay honest.
"""

from __future__ import annotations

from pathlib import Path

from glucose_model.cohorts.canonical import load_canonical
from glucose_model.cohorts.colas import load_colas
from glucose_model.cohorts.d1namo import (
    CARB_ENERGY_SHARE,
    KCAL_ESTIMATE_CONFIDENCE,
    load_d1namo,
    load_d1namo_person,
    load_dubosson,
)
from glucose_model.cohorts.exports import load_exports
from glucose_model.cohorts.shanghai import (
    SHANGHAI_CBG,
    SHANGHAI_CGM,
    load_shanghai,
    load_shanghai_file,
    shanghai_files,
)
from glucose_model.cohorts.tables import CohortError
from glucose_model.cohorts.weinstock import load_weinstock
from glucose_model.records import Recording

COHORT_FOLDERS = {
    "d1namo": "d1namo",
    "dubosson": "dubosson2018",
    "shanghai": "shanghai",
    "weinstock": "weinstock2016",
    "colas": "colas2019",
}
LAYOUTS = ("d1namo", "dubosson", "shanghai", "weinstock", "colas", "canonical", "exports")


def detect_layout(folder: Path) -> str:
    """Which loader reads `folder`: one of LAYOUTS. Raises CohortError when none does."""
    folder = Path(folder)
    if (folder / "people.csv").exists() and (folder / "cgm.csv").exists():
        return "canonical"
    if any(
        (p / "glucose.csv").exists() and (p / "food.csv").exists() for p in folder.glob("*") if p.is_dir()
    ):
        return "d1namo"
    if any(folder.glob("Dubosson*.csv")):
        return "dubosson"
    if (
        (folder / "Shanghai_T1DM").is_dir()
        or (folder / "Shanghai_T2DM").is_dir()
        or any(folder.glob("processed_*_*_*.csv"))
    ):
        return "shanghai"
    if any(folder.glob("Weinstock*.zip")):
        return "weinstock"
    if any(folder.glob("colas2019*.csv")):
        return "colas"
    # Last, so every folder another layout claims keeps its layout: people.csv beside device exports.
    if (folder / "people.csv").exists():
        return "exports"
    raise CohortError(
        f"{folder}: not a known cohort layout ({', '.join(LAYOUTS)}); pass the cohort's own folder"
    )


_LOADERS = {
    "d1namo": load_d1namo,
    "dubosson": load_dubosson,
    "shanghai": load_shanghai,
    "weinstock": load_weinstock,
    "colas": load_colas,
    "canonical": load_canonical,
    "exports": load_exports,
}


def load_cohort(root: Path, name: str = "auto") -> list[Recording]:
    """Load cohort `name` (a LAYOUTS entry, or "auto") from `root`.

    root may be the data root (`../shared/data`, the cohort's usual sub-folder is used) or the
    cohort's own folder; with "auto" it must be the cohort's own folder.
    """
    root = Path(root)
    if name == "auto":
        name = detect_layout(root)
        return _LOADERS[name](root)
    if name not in _LOADERS:
        raise CohortError(f"unknown cohort {name!r}; choose one of {', '.join(LAYOUTS)} or auto")
    sub = root / COHORT_FOLDERS.get(name, "")
    folder = sub if name in COHORT_FOLDERS and sub.is_dir() else root
    if not folder.is_dir():
        raise CohortError(f"{folder}: folder not found")
    return _LOADERS[name](folder)


__all__ = [
    "CARB_ENERGY_SHARE",
    "COHORT_FOLDERS",
    "KCAL_ESTIMATE_CONFIDENCE",
    "LAYOUTS",
    "SHANGHAI_CBG",
    "SHANGHAI_CGM",
    "CohortError",
    "detect_layout",
    "load_canonical",
    "load_cohort",
    "load_colas",
    "load_d1namo",
    "load_d1namo_person",
    "load_dubosson",
    "load_exports",
    "load_shanghai",
    "load_shanghai_file",
    "load_weinstock",
    "shanghai_files",
]
