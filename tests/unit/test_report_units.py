"""The report's display unit: parsing what people type, and printing in mg/dL or mmol/L."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from glucose_model.records import MG_DL_PER_MMOL_L, RecordError
from glucose_model.report.units import DisplayUnit


@pytest.mark.parametrize(
    ("text", "unit"),
    [
        ("mg/dL", DisplayUnit.MG_DL),
        (" MG/DL ", DisplayUnit.MG_DL),
        ("mmol/L", DisplayUnit.MMOL_L),
        ("mmol", DisplayUnit.MMOL_L),
    ],
)
def test_parse_accepts_usual_spellings(text: str, unit: DisplayUnit) -> None:
    assert DisplayUnit.parse(text) is unit


def test_parse_refuses_unknown_units_by_name() -> None:
    with pytest.raises(RecordError, match="use 'mg/dL' or 'mmol/L'"):
        DisplayUnit.parse("g/L")


def test_consensus_thresholds_print_as_clinicians_know_them() -> None:
    assert [DisplayUnit.MMOL_L.text(v, False) for v in (54, 70, 180, 250)] == ["3.0", "3.9", "10.0", "13.9"]
    assert DisplayUnit.MG_DL.text(145.786) == "146 mg/dL"


@given(st.floats(-300, 300, allow_nan=False))
def test_delta_never_prints_minus_zero_and_keeps_its_sign(delta_mg_dl: float) -> None:
    for unit in DisplayUnit:
        printed = unit.text_delta(delta_mg_dl)
        number = float(printed.split()[0])
        assert not printed.startswith("-0 ") and printed.split()[0] not in ("-0.0", "-0")
        scale = 1.0 if unit is DisplayUnit.MG_DL else 1.0 / MG_DL_PER_MMOL_L
        assert number == pytest.approx(delta_mg_dl * scale, abs=0.5 * 10.0**-unit.decimals + 1e-9)
