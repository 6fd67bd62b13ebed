"""Importers on random and mutated input: they either read it or raise a CgmImportError, nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glucose_model.importers import FORMATS, CgmImportError, import_bytes

FIXTURES = Path(__file__).parents[1] / "fixtures" / "cgm"
FIXTURE_FILES = sorted(p.name for p in FIXTURES.iterdir())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000), st.sampled_from(["auto", *FORMATS]))
def test_random_bytes_raise_only_import_errors(data: bytes, fmt: str) -> None:
    try:
        rec = import_bytes(data, "junk", fmt=fmt)
    except CgmImportError as err:
        assert str(err)  # every error carries a message for the user
        return
    assert rec.report.readings_kept == len(rec.glucose)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(FIXTURE_FILES),
    st.integers(0, 10_000),
    st.integers(0, 40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=12),
)
def test_mutated_exports_raise_only_import_errors(name: str, position: int, cut: int, insert: str) -> None:
    text = (FIXTURES / name).read_text(encoding="utf-8")
    position %= len(text)
    mutated = text[:position] + insert + text[position + cut :]
    try:
        rec = import_bytes(mutated.encode("utf-8"), name)
    except CgmImportError:
        return
    report = rec.report
    assert report.readings_kept == len(rec.glucose)
    assert report.readings_read == report.readings_kept + report.out_of_range + report.duplicates


@pytest.mark.parametrize("name", FIXTURE_FILES)
def test_every_fixture_reads_and_accounts_for_every_reading(name: str) -> None:
    rec = import_bytes((FIXTURES / name).read_bytes(), name, tz="Europe/Zurich")
    r = rec.report
    assert r.readings_kept == len(rec.glucose) > 0
    assert r.readings_read == r.readings_kept + r.out_of_range + r.duplicates
    assert r.censored_low <= int((rec.glucose.glucose_mg_dl < 40).sum())
    assert r.censored_high <= int((rec.glucose.glucose_mg_dl > 400).sum())
