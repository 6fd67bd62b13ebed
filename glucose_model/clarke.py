"""Clarke error grid (Clarke et al. 1987, Diabetes Care 10:622): clinical zones of glucose predictions.

A: within 20 % (or both below 70); B: off but benign; C: would cause overcorrection; D: a missed
high or low; E: a high read as a low or the reverse. Reference and prediction in mg/dL.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

ZONES = ("A", "B", "C", "D", "E")


def clarke_zones(reference_mg_dl: npt.ArrayLike, predicted_mg_dl: npt.ArrayLike) -> npt.NDArray[np.str_]:
    """(N,) zone letter of each (reference, prediction) pair; the rules are checked in the order A, E, C, D."""
    ref = np.asarray(reference_mg_dl, dtype=np.float64)
    pred = np.asarray(predicted_mg_dl, dtype=np.float64)
    if ref.shape != pred.shape:
        raise ValueError(f"reference and prediction must have one shape, got {ref.shape} and {pred.shape}")
    zone_a = ((ref <= 70) & (pred <= 70)) | ((pred <= 1.2 * ref) & (pred >= 0.8 * ref))
    zone_e = ((ref >= 180) & (pred <= 70)) | ((ref <= 70) & (pred >= 180))
    zone_c = ((ref >= 70) & (ref <= 290) & (pred >= ref + 110)) | (
        (ref >= 130) & (ref <= 180) & (pred <= (7.0 / 5.0) * ref - 182)
    )
    zone_d = (
        ((ref >= 240) & (pred >= 70) & (pred <= 180))
        | ((ref <= 175.0 / 3.0) & (pred <= 180) & (pred >= 70))
        | ((ref >= 175.0 / 3.0) & (ref <= 70) & (pred >= (6.0 / 5.0) * ref))
    )
    return np.select([zone_a, zone_e, zone_c, zone_d], ["A", "E", "C", "D"], default="B")


def zone_percentages(reference_mg_dl: npt.ArrayLike, predicted_mg_dl: npt.ArrayLike) -> dict[str, float]:
    """Percent of pairs in each zone A-E (finite pairs only); sums to 100, all NaN when none are finite."""
    ref = np.asarray(reference_mg_dl, dtype=np.float64).ravel()
    pred = np.asarray(predicted_mg_dl, dtype=np.float64).ravel()
    ok = np.isfinite(ref) & np.isfinite(pred)
    if not ok.any():
        return {zone: float("nan") for zone in ZONES}
    zones = clarke_zones(ref[ok], pred[ok])
    return {zone: float(100.0 * np.mean(zones == zone)) for zone in ZONES}
