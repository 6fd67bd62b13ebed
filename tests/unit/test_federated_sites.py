"""Sites split by person: no one both trained on and tested, the split is repeatable, bad sites are named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from glucose_model.records import DiabetesKind, GlucoseSeries, Recording
from training.federated.sites import (
    DEMO_SITES,
    SiteError,
    check_folds,
    demo_sites,
    fold_people,
    held_out_people,
    split_site,
)


def recording(person: str, day: int) -> Recording:
    start = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=day)
    times = [start + timedelta(minutes=5 * i) for i in range(12)]
    return Recording(
        person, GlucoseSeries.from_datetimes(times, np.full(12, 110.0)), DiabetesKind.TYPE2, cohort="c"
    )


def test_people_are_split_not_recordings() -> None:
    recordings = [recording(f"p{i}", day) for i in range(8) for day in range(2)]
    site = split_site("h", recordings, 0.25, seed=3)
    train_people = {r.person_id for r in site.train}
    assert set(site.test_people).isdisjoint(train_people)
    assert len(site.test_people) == 2
    assert len(site.train) + len(site.test) == len(recordings)
    # every recording of a held-out person is held out
    assert all(sum(r.person_id == p for r in site.test) == 2 for p in site.test_people)


def test_split_is_repeatable_and_depends_on_the_seed() -> None:
    people = [f"p{i}" for i in range(20)]
    assert held_out_people(people, 0.25, 1) == held_out_people(people[::-1], 0.25, 1)
    assert any(held_out_people(people, 0.25, 1) != held_out_people(people, 0.25, s) for s in range(2, 6))


def test_over_the_folds_every_person_is_held_out_exactly_once() -> None:
    people = [f"p{i}" for i in range(10)]
    folds = [fold_people(people, 4, f, seed=7) for f in range(4)]
    assert sorted(p for fold in folds for p in fold) == sorted(people)
    assert sorted(len(f) for f in folds) == [2, 2, 3, 3]
    assert fold_people(people[::-1], 4, 1, seed=7) == folds[1]  # order of reading does not matter
    assert any(fold_people(people, 4, 1, seed=s) != folds[1] for s in range(8, 12))
    recordings = [recording(p, day) for p in people for day in range(2)]
    site = split_site("h", recordings, 0.25, seed=7, folds=4, fold=1)
    assert set(site.test_people) == folds[1]
    assert {r.person_id for r in site.train}.isdisjoint(folds[1])


def test_bad_folds_are_named_errors() -> None:
    for folds, fold in ((1, 0), (4, 4), (4, -1)):
        with pytest.raises(SiteError, match="fold"):
            fold_people(["a", "b"], folds, fold, 0)
    with pytest.raises(SiteError, match="at least 2 folds"):
        fold_people(["a", "b"], 0, 0, 0)
    for folds, fold in ((1, 0), (4, 4), (4, -1), (-2, 0)):
        with pytest.raises(SiteError, match="folds must be 0"):
            check_folds(folds, fold)
    check_folds(0)  # a held-out share, no K-fold split
    check_folds(4, 3)


def test_a_site_of_one_person_trains_on_it_and_tests_no_one() -> None:
    assert held_out_people(["only"], 0.25, 0) == set()


def test_empty_site_and_bad_counts_are_named_errors(tmp_path: Path) -> None:
    with pytest.raises(SiteError):
        split_site("h", [], 0.25, 0)
    with pytest.raises(SiteError):
        demo_sites(tmp_path, 1)
    with pytest.raises(SiteError, match="not found"):
        demo_sites(tmp_path, 3)


def test_demo_sites_are_the_three_named_cohorts(tmp_path: Path) -> None:
    for _, sub in DEMO_SITES:
        (tmp_path / sub).mkdir(parents=True)
    specs = demo_sites(tmp_path, 3)
    assert [s.name for s in specs] == ["shanghai_t2dm", "shanghai_t1dm", "d1namo"]
    assert specs[0].folder == tmp_path / "shanghai" / "Shanghai_T2DM"
