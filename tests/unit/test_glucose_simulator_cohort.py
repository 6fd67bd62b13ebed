"""The --people spec parser (user-supplied text) and the cohort configuration."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from glucose_model.records import DiabetesKind
from glucose_model.simulator.cohort import CohortConfig, SimulationConfigError, parse_people


def test_parses_the_documented_spec_and_none_as_healthy() -> None:
    assert parse_people("healthy:50,prediabetes:50,type2:50,type1:50") == (
        (DiabetesKind.NONE, 50),
        (DiabetesKind.PREDIABETES, 50),
        (DiabetesKind.TYPE2, 50),
        (DiabetesKind.TYPE1, 50),
    )
    assert parse_people(" none:3 , Type1:0") == ((DiabetesKind.NONE, 3), (DiabetesKind.TYPE1, 0))


@pytest.mark.parametrize("spec", ["healthy", "healthy:x", "adult:3", "healthy:-1", "type1:0", ""])
def test_bad_specs_say_what_is_wrong(spec: str) -> None:
    with pytest.raises(SimulationConfigError):
        parse_people(spec)


@given(st.text(max_size=40))
def test_any_text_either_parses_or_raises_the_named_error(spec: str) -> None:
    try:
        groups = parse_people(spec)
    except SimulationConfigError:
        return
    assert sum(n for _, n in groups) > 0 and all(n >= 0 for _, n in groups)


@given(
    st.lists(
        st.tuples(st.sampled_from(["healthy", "none", "prediabetes", "type2", "type1"]), st.integers(0, 500)),
        min_size=1,
        max_size=6,
    )
)
def test_round_trip_of_valid_specs(pairs: list[tuple[str, int]]) -> None:
    spec = ",".join(f"{name}:{n}" for name, n in pairs)
    if sum(n for _, n in pairs) == 0:
        with pytest.raises(SimulationConfigError):
            parse_people(spec)
        return
    parsed = parse_people(spec)
    assert [n for _, n in parsed] == [n for _, n in pairs]
    assert len(CohortConfig(people=parsed, days=1).kinds) == sum(n for _, n in pairs)


def test_days_must_be_positive() -> None:
    with pytest.raises(SimulationConfigError, match="--days"):
        CohortConfig(people=((DiabetesKind.NONE, 1),), days=0)


def test_equal_kind_shares_gives_the_remainder_to_the_first_kinds() -> None:
    from glucose_model.records import KIND_ORDER, equal_kind_shares

    assert equal_kind_shares(10) == tuple(zip(KIND_ORDER, (3, 3, 2, 2), strict=True))
    assert sum(n for _, n in equal_kind_shares(7)) == 7
    assert [k for k, _ in equal_kind_shares(0)] == list(KIND_ORDER)
