"""Calibration photo sets of training/vision_calibrate.py: a missing packaged photo is never silent."""

from __future__ import annotations

import pytest

from training.vision_calibrate import CalibrationDataError, packaged_photos

_PRESENT = ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg", "Grace Hopper portrait")
_ABSENT = ("matplotlib", "mpl-data/sample_data/no_such_photo.jpg", "missing")


def test_missing_packaged_photo_is_an_error_that_names_it() -> None:
    with pytest.raises(CalibrationDataError, match=r"no_such_photo\.jpg"):
        packaged_photos((_PRESENT, _ABSENT), is_food=False)


def test_missing_packaged_photo_is_left_out_when_not_required() -> None:
    photos = packaged_photos((_PRESENT, _ABSENT), is_food=False, required=False)
    assert [p.description for p in photos] == ["Grace Hopper portrait"]
    assert photos[0].path.is_file() and not photos[0].is_food
