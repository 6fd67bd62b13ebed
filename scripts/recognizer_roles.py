"""How the shipped recognizer names D1NAMO meal photos once foods and settings are apart.

    python scripts/recognizer_roles.py [--data ../shared/data/d1namo]

Prints, per photo, the most probable food and setting and whether the dish is named
(vision.recognition.NAMED_DISH_MIN_PROBABILITY), then the counts quoted in vision/recognition.py.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mealimpact.model_repository.sessions import open_session
from vision.metadata import OUTPUT_NAMES, parse_metadata
from vision.recognition import recognize_photo


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path("../shared/data/d1namo"))
    parser.add_argument("--model", type=Path, default=Path("models/food_recognizer/1/model.onnx"))
    args = parser.parse_args()
    session = open_session(args.model)
    metadata = parse_metadata(session.get_modelmeta().custom_metadata_map)

    def infer(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(OUTPUT_NAMES, session.run(list(OUTPUT_NAMES), feeds), strict=True))

    named = plate_first = 0
    photos = sorted(args.data.glob("*/food_pictures/*.jpg"))
    for photo in photos:
        result = recognize_photo(photo.read_bytes(), infer, metadata)
        top_setting = result.settings[0] if result.settings else None
        food = result.foods[0]
        named += result.dish is not None
        plate_first += (
            top_setting is not None
            and top_setting.name == "plate"
            and top_setting.probability > food.probability
        )
        setting = f"{top_setting.name} {top_setting.probability:.2f}" if top_setting else "-"
        print(
            f"{photo.relative_to(args.data)}: food {food.name} {food.probability:.2f}, setting {setting}, "
            f"{'named' if result.dish else 'unnamed dish'}"
        )
    print(
        f"{len(photos)} photos: {named} named, {len(photos) - named} unnamed; 'plate' above every food in {plate_first}"
    )


if __name__ == "__main__":
    main()
