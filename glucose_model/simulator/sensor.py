"""The CGM sensor: what a person's device reports, given the interstitial glucose.

Interstitial lag is part of the physiology (first-order, 5-10 min per subject). On top of it the
sensor adds errors with the structure Breton & Kovatchev 2008 (J Diabetes Sci Technol 2:853) found
in real sensors: a per-sensor calibration error (gain and offset, constant over a wear) and a
serially correlated noise, here AR(1) at the 5-min reading interval and proportional to glucose.
Readings are whole mg/dL clipped to the 40-400 range sensors report. The resulting MARD against
plasma glucose, lag included, is 8.9 % (`mealimpact check-simulator`, 20 subjects, one day, seed 11),
like current Dexcom G6 / Libre 2 sensors (MARD 8-10 %).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

SENSOR_RANGE_MG_DL = (40.0, 400.0)
CALIBRATION_GAIN_SD = 0.05  # relative, per sensor
CALIBRATION_OFFSET_SD_MG_DL = 3.0
NOISE_AR1_COEFFICIENT = 0.7  # correlation between consecutive 5-min readings
NOISE_RELATIVE_SD = 0.095  # stationary sd of the correlated noise, relative to glucose
NOISE_FLOOR_SD_MG_DL = 2.0  # white, absolute: dominates at low glucose


def cgm_readings(interstitial_mg_dl: FloatArray, rng: np.random.Generator) -> FloatArray:
    """(P, N) sensor readings for (P, N) interstitial glucose sampled every 5 min."""
    people, count = interstitial_mg_dl.shape
    gain = 1.0 + CALIBRATION_GAIN_SD * rng.standard_normal((people, 1))
    offset = CALIBRATION_OFFSET_SD_MG_DL * rng.standard_normal((people, 1))
    innovation_sd = NOISE_RELATIVE_SD * np.sqrt(1.0 - NOISE_AR1_COEFFICIENT**2)
    innovations = innovation_sd * rng.standard_normal((people, count))
    noise = np.empty((people, count))
    noise[:, 0] = NOISE_RELATIVE_SD * rng.standard_normal(people)
    for i in range(1, count):
        noise[:, i] = NOISE_AR1_COEFFICIENT * noise[:, i - 1] + innovations[:, i]
    white = NOISE_FLOOR_SD_MG_DL * rng.standard_normal((people, count))
    readings = interstitial_mg_dl * gain * (1.0 + noise) + offset + white
    return np.round(np.clip(readings, *SENSOR_RANGE_MG_DL)).astype(np.float64)


@dataclass(frozen=True)
class SensorProfile:
    """One kind of sensor: its noise, and the smoothing its firmware applies (which also adds lag)."""

    name: str
    noise_relative_sd: float = NOISE_RELATIVE_SD
    ar1_coefficient: float = NOISE_AR1_COEFFICIENT
    floor_sd_mg_dl: float = NOISE_FLOOR_SD_MG_DL
    smoothing_readings: int = 1  # trailing mean over this many 5-min readings (1 = raw); adds lag


# The variety a forecast trained on simulated people should see: the default raw sensor above, a
# smoothed modern sensor, a heavily filtered one (a trace as flat as a 15-min sensor interpolated),
# and an older, noisier one. Forecasts that read a trend from the trace must learn how far each
# can be trusted.
SENSOR_VARIETY = (
    SensorProfile("raw"),
    SensorProfile(
        "smoothed", noise_relative_sd=0.05, ar1_coefficient=0.8, floor_sd_mg_dl=1.0, smoothing_readings=3
    ),
    SensorProfile(
        "filtered", noise_relative_sd=0.04, ar1_coefficient=0.9, floor_sd_mg_dl=0.5, smoothing_readings=5
    ),
    SensorProfile("noisy", noise_relative_sd=0.12, ar1_coefficient=0.5, floor_sd_mg_dl=3.0),
)


def varied_cgm_readings(
    interstitial_mg_dl: FloatArray,
    rng: np.random.Generator,
    profiles: tuple[SensorProfile, ...] = SENSOR_VARIETY,
) -> FloatArray:
    """(P, N) readings, person p through sensor profiles[p % len(profiles)] (5-min readings)."""
    people, count = interstitial_mg_dl.shape
    out = np.empty((people, count))
    gain = 1.0 + CALIBRATION_GAIN_SD * rng.standard_normal((people, 1))
    offset = CALIBRATION_OFFSET_SD_MG_DL * rng.standard_normal((people, 1))
    for p in range(people):
        profile = profiles[p % len(profiles)]
        rho, sd = profile.ar1_coefficient, profile.noise_relative_sd
        innovations = sd * np.sqrt(1.0 - rho**2) * rng.standard_normal(count)
        noise = np.empty(count)
        noise[0] = sd * rng.standard_normal()
        for i in range(1, count):
            noise[i] = rho * noise[i - 1] + innovations[i]
        white = profile.floor_sd_mg_dl * rng.standard_normal(count)
        raw = interstitial_mg_dl[p] * gain[p] * (1.0 + noise) + offset[p] + white
        k = profile.smoothing_readings
        if k > 1:
            padded = np.concatenate([np.full(k - 1, raw[0]), raw])
            raw = np.convolve(padded, np.ones(k) / k, mode="valid")
        out[p] = raw
    return np.round(np.clip(out, *SENSOR_RANGE_MG_DL)).astype(np.float64)
