"""The Colas 2019 layout (id, time, gl in mg/dL; people without diabetes): parsing, ids, detection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from glucose_model import cohorts
from glucose_model.records import DiabetesKind


def write_colas(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["id,time,gl"]
    rows += [f"1,2012-01-01 00:{5 * i:02d}:00,{86 + i}" for i in range(6)]
    rows += [f"12,2012-01-03 10:{5 * i:02d}:00,{101 - i}" for i in range(4)]
    rows.append("12,2012-01-03 10:20:00,NA")
    (folder / "colas2019_people_001_104.csv").write_text("\n".join(rows) + "\n")
    return folder


def test_colas_people_series_and_kind(tmp_path: Path) -> None:
    folder = write_colas(tmp_path / "colas2019")
    assert cohorts.detect_layout(folder) == "colas"
    recordings = cohorts.load_cohort(folder)
    assert [r.person_id for r in recordings] == ["colas-001", "colas-012"]
    first, second = recordings
    assert first.kind is DiabetesKind.NONE and first.cohort == "colas"
    np.testing.assert_array_equal(first.glucose.glucose_mg_dl, [86, 87, 88, 89, 90, 91])
    assert np.all(np.diff(first.glucose.times_utc_s) == 300)
    assert len(second.glucose) == 4  # the NA reading is dropped, not read as a value
    # By name from the data root, through its usual sub-folder.
    assert len(cohorts.load_cohort(tmp_path, "colas")) == 2


def test_colas_folder_without_the_file_is_a_named_error(tmp_path: Path) -> None:
    with pytest.raises(cohorts.CohortError, match="colas2019"):
        cohorts.load_colas(tmp_path)
