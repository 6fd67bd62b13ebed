"""`mealimpact cgm-import FILE` and `mealimpact cohort-summary ROOT`: read CGM data and say what was in it.

Only argparse at import time; the readers are imported inside the handlers.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from glucose_model.records import RecordError

if TYPE_CHECKING:
    from mealimpact.commands import CommandGroups

COHORT_CHOICES = ("all", "d1namo", "dubosson", "shanghai", "weinstock", "canonical", "exports", "auto")


def register(groups: CommandGroups) -> None:
    cgm_import = groups.root.add_parser(
        "cgm-import",
        help="read a CGM export (Dexcom, LibreView, Nightscout, Apple Health, generic CSV) and summarize it",
    )
    cgm_import.add_argument("file", type=Path, help="the export file")
    cgm_import.add_argument(
        "--format", default="auto", help="dexcom, libreview, nightscout, apple_health, generic_csv or auto"
    )
    cgm_import.add_argument(
        "--tz",
        default=None,
        help="IANA zone of the device clock (Europe/Zurich), for every time written without an offset "
        "(Dexcom, LibreView, generic CSV); default: Dexcom/LibreView read as UTC, generic CSV refused",
    )
    cgm_import.add_argument(
        "--keep-partial",
        action="store_true",
        help="a file cut short: keep the readings before the cut (with a warning) instead of refusing it",
    )
    cgm_import.set_defaults(handler=import_cgm)

    summary = groups.root.add_parser(
        "cohort-summary",
        help="load real or simulated cohorts and print counts, windows and food-text matching",
    )
    summary.add_argument(
        "root", type=Path, help="../shared/data, or a cohort's own folder with --cohort auto"
    )
    summary.add_argument("--cohort", choices=COHORT_CHOICES, default="all")
    summary.set_defaults(handler=summarize_cohorts)


def import_cgm(args: argparse.Namespace) -> int:
    from glucose_model.importers import CgmImportError, detect_format, import_file
    from glucose_model.metrics import summarize_cgm

    try:
        fmt = detect_format(args.file) if args.format == "auto" else args.format
        rec = import_file(args.file, fmt=fmt, tz=args.tz, keep_partial=args.keep_partial)
        summary = summarize_cgm(rec.glucose)
    except (CgmImportError, RecordError, OSError) as err:
        print(f"error: {err}")
        return 2
    r = rec.report
    print(f"{args.file.name}: {fmt}")
    print(
        f"readings read {r.readings_read}, kept {r.readings_kept} (sensor LOW {r.censored_low}, "
        f"HIGH {r.censored_high}), out of range {r.out_of_range}, "
        f"duplicates {r.duplicates}, gaps {r.gaps}, other rows {r.other_rows}"
    )
    for note in r.notes:
        print(f"{'warning' if 'cut at line' in note else 'note'}: {note}")
    print(
        f"events: meals {len(rec.meals)}, insulin {len(rec.insulin)}, activity {len(rec.activity)}, "
        f"sleep {len(rec.sleep)}"
    )
    print(
        f"days {summary.days_covered:.1f}, wear {summary.sensor_wear_percent:.0f} %, "
        f"mean {summary.mean_mg_dl:.0f} mg/dL, GMI {summary.gmi_percent:.1f} %, CV {summary.cv_percent:.0f} %, "
        f"TIR 70-180 {summary.time_in_range_70_180_percent:.0f} %, <70 "
        f"{summary.time_below_54_percent + summary.time_54_69_percent:.0f} %, >180 "
        f"{summary.time_181_250_percent + summary.time_above_250_percent:.0f} %"
    )
    return 0


def summarize_cohorts(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from glucose_model.cohorts import CohortError, load_cohort
    from glucose_model.food_text import GOOD_MATCH_CONFIDENCE, measure_match_coverage
    from glucose_model.windows import meal_windows

    names = ["d1namo", "dubosson", "shanghai", "weinstock"] if args.cohort == "all" else [args.cohort]
    for name in tqdm(names, desc="cohorts", disable=len(names) == 1):
        try:
            recordings = load_cohort(args.root, name)
        except (CohortError, OSError) as err:
            print(f"{name}: error: {err}")
            return 2
        days = sum(
            (r.glucose.times_utc_s[-1] - r.glucose.times_utc_s[0]) / 86400
            for r in recordings
            if len(r.glucose)
        )
        windows = sum(1 for r in recordings for _ in meal_windows(r))
        reports = [r.report for r in recordings]
        print(
            f"{name}: recordings {len(recordings)}, people {len({r.person_id for r in recordings})}, "
            f"days {days:.1f}, meals {sum(len(r.meals) for r in recordings)}, windows with enough coverage {windows}, "
            f"readings kept {sum(x.readings_kept for x in reports)} (sensor LOW "
            f"{sum(x.censored_low for x in reports)}, HIGH {sum(x.censored_high for x in reports)}), "
            f"out of range {sum(x.out_of_range for x in reports)}, "
            f"duplicates {sum(x.duplicates for x in reports)}, gaps {sum(x.gaps for x in reports)}"
        )
        texts = [
            m.description
            for r in recordings
            for m in r.meals
            if m.carbs_source == "usda-match" and m.description
        ]
        if texts:
            cover = measure_match_coverage(texts)
            print(
                f"{name} food text: {cover.items} items in {cover.meals} meals; matched with confidence >= "
                f"{GOOD_MATCH_CONFIDENCE}: {100 * cover.item_share:.1f} % of items, "
                f"{100 * cover.gram_share:.1f} % of grams"
            )
    return 0
