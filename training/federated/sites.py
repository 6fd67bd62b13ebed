"""Hospital sites for federated training: one cohort folder per site, its people split into train and test.

A site reads its own folder with the cohort loaders (any layout they know); the split is by person,
so no person is ever both trained on and scored: either the response model's own split rule (a
share of the people held out) or one fold of a K-fold split (over the K folds every person is held
out exactly once, which is how the sweep scores every person of the small cohorts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from glucose_model.cohorts import load_cohort
from glucose_model.metrics import held_out_rows
from glucose_model.records import Recording

# The demo's hospitals: real cohorts in ../shared/data, each a different population and device.
DEMO_SITES = (
    ("shanghai_t2dm", "shanghai/Shanghai_T2DM"),  # type 2, 15-min CGM, free-text meals
    ("shanghai_t1dm", "shanghai/Shanghai_T1DM"),  # type 1, same hospital system, different people
    ("d1namo", "d1namo"),  # type 1, Switzerland, 5-min CGM, meal photos with kcal
)
HELD_OUT_FRACTION = 0.25  # of each site's people, never trained on by any model


class SiteError(ValueError):
    """A site is misconfigured: unknown name, missing folder, or no people to train on."""


@dataclass(frozen=True)
class SiteSpec:
    name: str  # how the site is named in logs and the report (never a person's id)
    folder: Path  # the site's own cohort folder
    layout: str = "auto"  # a glucose_model.cohorts.LAYOUTS entry, or auto-detection


@dataclass(frozen=True)
class SiteRecordings:
    """A site's recordings, split by person."""

    name: str
    train: list[Recording]
    test: list[Recording]

    @property
    def test_people(self) -> list[str]:
        return sorted({r.person_id for r in self.test})


def demo_sites(data_root: Path, count: int) -> list[SiteSpec]:
    """The first `count` DEMO_SITES under `data_root` (../shared/data)."""
    if not 2 <= count <= len(DEMO_SITES):
        raise SiteError(f"the demo has 2 to {len(DEMO_SITES)} sites, asked for {count}")
    specs = [SiteSpec(name, Path(data_root) / sub) for name, sub in DEMO_SITES[:count]]
    missing = [str(s.folder) for s in specs if not s.folder.is_dir()]
    if missing:
        raise SiteError(
            f"site folders not found: {', '.join(missing)} (is ../shared/data beside the checkout?)"
        )
    return specs


def held_out_people(person_ids: Sequence[str], fraction: float, seed: int) -> set[str]:
    """The people of one site held out for testing, by the response model's split rule."""
    people = np.asarray(sorted(set(person_ids)), dtype=np.str_)
    # held_out_rows splits per cohort ("<cohort>/<person>"); a site is one cohort here.
    held = held_out_rows(np.char.add("site/", people), fraction, seed)
    return {str(p) for p in people[held]}


def check_folds(folds: int, fold: int = 0) -> None:
    """SiteError unless `folds` is 0 (no K-fold split: a held-out share instead) or at least 2 with
    0 <= fold < folds; the demo and the sweep check their options with it before anything runs."""
    if folds and (folds < 2 or not 0 <= fold < folds):
        raise SiteError(
            f"fold {fold} of {folds}: folds must be 0 (a held-out share) or at least 2, with 0 <= fold < folds"
        )


def fold_people(person_ids: Sequence[str], folds: int, fold: int, seed: int) -> set[str]:
    """The people of fold `fold` of `folds`: the site's people shuffled by `seed` and dealt out in
    turn, so the folds differ in size by at most one and every person is in exactly one fold."""
    if not folds:
        raise SiteError("fold_people needs at least 2 folds, got 0")
    check_folds(folds, fold)
    people = sorted(set(person_ids))
    order = np.random.default_rng(seed).permutation(len(people))
    return {people[i] for position, i in enumerate(order) if position % folds == fold}


def split_site(
    name: str,
    recordings: Sequence[Recording],
    fraction: float,
    seed: int,
    folds: int = 0,
    fold: int = 0,
) -> SiteRecordings:
    """Split a site's recordings by person into train and test: fold `fold` of `folds` held out when
    `folds` >= 2, else `fraction` of the people by the response model's rule."""
    if not recordings:
        raise SiteError(f"site {name}: no recordings were read")
    person_ids = [r.person_id for r in recordings]
    held = (
        fold_people(person_ids, folds, fold, seed) if folds else held_out_people(person_ids, fraction, seed)
    )
    return SiteRecordings(
        name,
        [r for r in recordings if r.person_id not in held],
        [r for r in recordings if r.person_id in held],
    )


def load_site(
    spec: SiteSpec, fraction: float = HELD_OUT_FRACTION, seed: int = 0, folds: int = 0, fold: int = 0
) -> SiteRecordings:
    """Read the site's folder with the cohort loaders and split it by person (see split_site)."""
    if not spec.folder.is_dir():
        raise SiteError(f"site {spec.name}: data folder {spec.folder} not found")
    return split_site(spec.name, load_cohort(spec.folder, spec.layout), fraction, seed, folds, fold)
