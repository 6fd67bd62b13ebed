"""The committed Shanghai label audit is what `mealimpact audit-shanghai-foods` writes today: the match
table already carries every hand-checked override, and a rerun over the real logs gives the same CSV."""

from __future__ import annotations

import shutil
from pathlib import Path

from glucose_model.food_audit import (
    AUDIT_CSV_PATH,
    OVERRIDES_PATH,
    apply_overrides,
    audit,
    meal_texts,
    write_audit,
)
from glucose_model.food_text import MATCH_TABLE_PATH, load_match_table


def test_the_committed_audit_and_match_table_are_current(shared_data: Path, tmp_path: Path) -> None:
    table_copy = tmp_path / MATCH_TABLE_PATH.name
    shutil.copy(MATCH_TABLE_PATH, table_copy)
    assert apply_overrides(table_copy, OVERRIDES_PATH) == 0, "overrides not applied to the committed table"
    assert table_copy.read_bytes() == MATCH_TABLE_PATH.read_bytes()
    load_match_table.cache_clear()
    rows = audit(meal_texts(shared_data / "shanghai"), dict(load_match_table()))
    rerun = tmp_path / "audit.csv"
    write_audit(rows, rerun, tmp_path / "audit.md", "test")
    assert rerun.read_text(encoding="utf-8") == AUDIT_CSV_PATH.read_text(encoding="utf-8"), (
        "rerun `mealimpact audit-shanghai-foods` and commit its output"
    )
    glucose = next(r for r in rows if r.name == "glucose")
    assert glucose.match is not None and glucose.match.carbs_g > 90  # a hypo treatment is carbohydrate
