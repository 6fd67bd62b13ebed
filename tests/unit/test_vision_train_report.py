"""Evaluation figures: top-k, per-class precision/recall, confusions, carb error, few-shot episodes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from training.vision_report import classification_report, evaluate_few_shot, personal_class_takeover


def test_report_figures_on_a_hand_checked_example() -> None:
    labels = ["bread", "rice", "salad"]
    truth = np.array([0, 0, 1, 2])
    probabilities = np.array(
        [[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.5, 0.1, 0.4]], dtype=np.float32
    )
    paths = [Path(f"{i}.jpg") for i in range(4)]
    carbs = np.array([[10, 20, 30]] * 4, dtype=np.float32)
    report = classification_report(
        "2", labels, truth, probabilities, paths, carbs_g=carbs, carbs_labels_g=[25, None, 10, 20]
    )
    assert report.top1_accuracy == 0.5  # photos 0 and 2
    assert report.top5_accuracy == 1.0  # top-3 of 3 classes
    bread, rice, salad = report.per_class
    assert (bread.precision, bread.recall) == (0.5, 0.5)  # predicted bread for photos 0 and 3
    assert (rice.precision, rice.recall) == (0.5, 1.0)
    assert np.isnan(salad.precision) and salad.recall == 0.0
    assert json.loads(json.dumps(report.to_json(), allow_nan=False))["per_class"][2]["precision"] is None
    assert report.confusion_matrix == ((1, 1, 0), (0, 1, 0), (1, 0, 0))
    assert {(c.true_label, c.predicted_label) for c in report.worst_confusions} == {
        ("bread", "rice"),
        ("salad", "bread"),
    }
    assert report.carbs_median_abs_error_g == 5.0  # |20-25|, |20-10|, |20-20| -> median 5
    assert report.kcal_median_abs_error is None


def test_few_shot_episodes_on_separable_embeddings_are_perfect_and_on_noise_near_chance() -> None:
    rng = np.random.default_rng(0)
    centres = np.eye(4, 32, dtype=np.float32)
    labels = [c for c in "abcd" for _ in range(6)]
    clean = np.stack([centres["abcd".index(c)] + 0.05 * rng.normal(size=32) for c in labels]).astype(
        np.float32
    )
    clean /= np.linalg.norm(clean, axis=1, keepdims=True)
    result = evaluate_few_shot(clean, labels, 3, episodes=20)
    assert result is not None and result.mean_accuracy == 1.0 and result.ways == 4
    noise = rng.normal(size=(24, 32)).astype(np.float32)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    chance = evaluate_few_shot(noise, labels, 3, episodes=100)
    assert chance is not None and chance.mean_accuracy < 0.5
    assert evaluate_few_shot(clean, labels, 6) is None  # no class has a 7th photo to query


def test_takeover_is_high_on_the_taught_dish_and_low_elsewhere() -> None:
    rng = np.random.default_rng(1)
    labels = [c for c in "ab" for _ in range(5)]
    x = np.stack([np.eye(2, 8)["ab".index(c)] + 0.05 * rng.normal(size=8) for c in labels]).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    rates = personal_class_takeover(x, labels, 2, temperature=0.02, threshold=0.6, episodes=20)
    assert rates is not None and rates.same_dish == 1.0 and rates.other_dish == 0.0
