"""The forecast graph (torch): raw CGM on the 5-min grid (NaN = gap) -> glucose quantiles at +15..+60 min.

Everything a phone would otherwise re-implement lives here, in nan-safe tensor ops that export to
ONNX: the gap masks, the recent slopes, the trace's own short-term noise and smoothness (how far
its trend can be trusted), its level against the last 3 h and 24 h, and the person's own
variability. The model predicts the change from the last reading as a linear function of those
trust-weighted features with no constant term (fitted in closed form, `training/forecast_train.py`):
every feature is 0 on a flat trace, so a flat trace is forecast flat, and an untrusted trend
(noisy, gappy) moves the forecast less. The band is that change plus quantiles of the residual scaled
by the trace's own recent variability (conformal, per window), so a flat sensor gets a narrow
band and a noisy one a wide band without knowing which cohort it came from.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from glucose_model.forecast import CGM_STEPS, HISTORY_STEPS, HORIZONS_MIN, KIND_CODES, QUANTILES
from glucose_model.records import DiabetesKind
from glucose_model.resample import GRID_STEP_MIN

# Fewer than this many valid readings in the 24 h input and its long-context features fall back to
# the 3-h ones (a request with 3 h of CGM is the common case).
LONG_CONTEXT_MIN_READINGS = 72
# Below this size a second difference (mg/dL per 5 min^2) is what interpolating a 15-min sensor
# onto the 5-min grid, or a sensor's own smoothing, leaves: the fraction of such steps says how
# smooth the sensor is.
SMOOTH_STEP_MG_DL = 0.25
# Scales that bring the trust factors to order 1 (and clip them, so an odd trace cannot push the
# linear model far outside the range it was fitted on).
NOISE_SCALE_MG_DL = 3.0
SD_SCALE_MG_DL = 30.0
STEP_SCALE_MG_DL = 5.0
TRUST_CLIP = 5.0
# Band scale floor: the median 30-min change of a flat, smooth trace is a few mg/dL, never zero.
MIN_SCALE_MG_DL = 2.0

FEATURES = (
    "slope_15min",
    "slope_15min_x_noise",
    "slope_15min_x_smooth",
    "slope_15min_x_valid_1h",
    "slope_15min_x_sd_3h",
    "slope_30min",
    "slope_30min_x_noise",
    "slope_30min_x_smooth",
    "slope_30min_x_valid_1h",
    "slope_30min_x_sd_3h",
    "acceleration",
    "acceleration_x_noise",
    "acceleration_x_smooth",
    "acceleration_x_valid_1h",
    "acceleration_x_sd_3h",
    "level_vs_3h",
    "level_vs_3h_x_smooth",
    "level_vs_3h_x_noise",
    "level_vs_24h",
    "level_vs_24h_x_has_24h",
    "slope_30min_x_step_rms_24h",
    *(f"relative_{-GRID_STEP_MIN * k}min" for k in range(HISTORY_STEPS - 1, -1, -1)),
)
# No constant: the band's width is proportional to the trace's own variability, so a smooth trace
# from a population with small excursions gets a narrow band (with a constant, fitted mostly on
# diabetic traces, people without diabetes left out of training got 0.86-0.90 coverage).
SCALE_FEATURES = ("noise_1h", "abs_slope_15min", "abs_slope_30min", "sd_3h", "step_rms_24h")
# How far the fitted change is carried out is set per group of people (a row of `shrinkage`):
# regulation differs with and without diabetes, and a request need not say which.
SHRINKAGE_GROUPS = ("without_diabetes", "with_diabetes", "unknown")
WITHOUT_DIABETES_CODES = (KIND_CODES[DiabetesKind.NONE], KIND_CODES[DiabetesKind.PREDIABETES])
WITH_DIABETES_CODES = (KIND_CODES[DiabetesKind.TYPE2], KIND_CODES[DiabetesKind.TYPE1])


def shrinkage_group(kind_code: torch.Tensor) -> torch.Tensor:
    """(B, 1) kind codes -> (B, len(SHRINKAGE_GROUPS)) one-hot of the person's shrinkage group."""
    without = (kind_code == WITHOUT_DIABETES_CODES[0]) | (kind_code == WITHOUT_DIABETES_CODES[1])
    with_ = (kind_code == WITH_DIABETES_CODES[0]) | (kind_code == WITH_DIABETES_CODES[1])
    unknown = ~(without | with_)
    return torch.cat([without, with_, unknown], dim=1).to(torch.float32)


@dataclass(frozen=True)
class ForecastNetworkConfig:
    ridge: float = 10.0  # L2 penalty of the closed-form fit on standardised features
    sensor_noise_mg_dl: tuple[float, ...] = (0.0, 2.0, 4.0, 6.0)  # training copies with added sensor noise
    # Power mean over a group's held-out training cohorts that its change shrinkage minimises
    # (inf: the worst cohort; 4 leans on the worst without letting one cohort alone decide). A group
    # with no training cohort of its own always takes the worst case over every cohort.
    shrinkage_power: float = 4.0
    # Levels of residual/scale read off the training copies for the p10 and p90 outputs: a cohort
    # left out of training has larger residuals than the training copies, so the levels are set a
    # little wider than 0.1/0.9 to cover 80 % there (leave-one-cohort-out; MODEL_CARD.md).
    band_levels: tuple[float, float] = (0.08, 0.92)

    def as_dict(self) -> dict[str, object]:
        return dict(asdict(self))


def _masked_mean(x: torch.Tensor, ok: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean over the last axis of x where ok; (mean, count). Rows with no ok values give 0."""
    n = ok.sum(-1)
    total = torch.where(ok, x, torch.zeros_like(x)).sum(-1)
    return total / n.clamp(min=1), n


def _slope(recent: torch.Tensor) -> torch.Tensor:
    """Least-squares slope in mg/dL/min of (B, k) readings ending now (NaN = gap); 0 with < 2."""
    k = recent.shape[-1]
    t = torch.arange(-(k - 1), 1, dtype=recent.dtype) * GRID_STEP_MIN  # (k,)
    ok = ~torch.isnan(recent)
    tt = torch.where(ok, t.expand_as(recent), torch.zeros_like(recent))
    mean_t, n = _masked_mean(tt, ok)
    mean_g, _ = _masked_mean(recent, ok)
    dt = torch.where(ok, tt - mean_t[:, None], torch.zeros_like(recent))
    dg = torch.where(ok, recent - mean_g[:, None], torch.zeros_like(recent))
    var = (dt * dt).sum(-1)
    slope = (dt * dg).sum(-1) / var.clamp(min=1e-6)
    return torch.where((n >= 2) & (var > 0), slope, torch.zeros_like(slope))


def _rms(x: torch.Tensor) -> torch.Tensor:
    ok = ~torch.isnan(x)
    mean_sq, _ = _masked_mean(x * x, ok)
    return torch.sqrt(mean_sq)


class ForecastFeatures(nn.Module):
    """(B, CGM_STEPS) mg/dL, NaN = no reading, last column = the origin (always a reading) ->
    (B, len(FEATURES)) and (B, len(SCALE_FEATURES))."""

    def forward(self, cgm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        recent = cgm[:, -HISTORY_STEPS:]  # (B, H) the last 3 h
        latest = recent[:, -1:]  # (B, 1)
        valid = ~torch.isnan(recent)
        s15, s30 = _slope(recent[:, -4:]), _slope(recent[:, -7:])
        acc = s15 - s30
        hour = recent[:, -13:]  # (B, 13) the last hour and the reading before it
        d2 = hour[:, 2:] - 2.0 * hour[:, 1:-1] + hour[:, :-2]  # (B, 11) NaN where any is a gap
        noise = _rms(d2)
        d2_ok = ~torch.isnan(d2)
        smooth, _ = _masked_mean((d2.abs() < SMOOTH_STEP_MG_DL).to(cgm.dtype), d2_ok)
        valid_1h = valid[:, -12:].to(cgm.dtype).mean(-1)
        mean_3h, _ = _masked_mean(recent, valid)
        var_3h, _ = _masked_mean((recent - mean_3h[:, None]) ** 2, valid)
        sd_3h = torch.sqrt(var_3h)
        level_3h = latest[:, 0] - mean_3h
        g0 = latest[:, 0]

        day_ok = ~torch.isnan(cgm)
        mean_24h, n_24h = _masked_mean(cgm, day_ok)
        has_24h = (n_24h >= LONG_CONTEXT_MIN_READINGS).to(cgm.dtype)
        level_24h = torch.where(has_24h > 0, g0 - mean_24h, level_3h)
        step_rms = _rms(cgm[:, 1:] - cgm[:, :-1])
        step_rms = torch.where(torch.isnan(step_rms), torch.zeros_like(step_rms), step_rms)

        trust_noise = (noise / NOISE_SCALE_MG_DL).clamp(0.0, TRUST_CLIP)
        trust_sd = (sd_3h / SD_SCALE_MG_DL).clamp(0.0, TRUST_CLIP)
        columns = []
        for x in (s15, s30, acc):
            columns += [x, x * trust_noise, x * smooth, x * valid_1h, x * trust_sd]
        columns += [level_3h, level_3h * smooth, level_3h * trust_noise]
        columns += [
            level_24h,
            level_24h * has_24h,
            s30 * (step_rms / STEP_SCALE_MG_DL).clamp(0.0, TRUST_CLIP),
        ]
        relative = recent - latest
        relative = torch.where(torch.isnan(relative), torch.zeros_like(relative), relative)  # (B, H)
        features = torch.cat([torch.stack(columns, dim=1), relative], dim=1)  # (B, F)
        scale = torch.stack([noise, s15.abs(), s30.abs(), sd_3h, step_rms], dim=1)  # (B, len(SCALE_FEATURES))
        return features, scale


class ForecastNetwork(nn.Module):
    """Features -> change from the last reading (linear, no bias: every feature is 0 on a flat trace,
    so a flat trace is forecast flat) times the shrinkage of the person's group (SHRINKAGE_GROUPS),
    band = change + residual quantiles x scale.

    `change` acts on features divided by `feature_scale` (a buffer, so the exported graph takes
    plain mg/dL); `scale` is linear in SCALE_FEATURES. `residual_quantiles` (K, Q) are quantiles
    of residual / scale on the training windows, the median column 0.
    """

    feature_scale: torch.Tensor
    residual_quantiles: torch.Tensor
    shrinkage: torch.Tensor

    def __init__(self, config: ForecastNetworkConfig = ForecastNetworkConfig()) -> None:
        super().__init__()
        self.config = config
        self.features = ForecastFeatures()
        k, q = len(HORIZONS_MIN), len(QUANTILES)
        self.change = nn.Linear(len(FEATURES), k, bias=False)
        self.scale = nn.Linear(len(SCALE_FEATURES), k)
        nn.init.zeros_(self.change.weight)
        nn.init.zeros_(self.scale.weight)
        nn.init.constant_(self.scale.bias, 10.0)
        self.register_buffer("feature_scale", torch.ones(len(FEATURES)))
        spread = torch.tensor([-1.3, 0.0, 1.3])[:q]  # about N(0, 1)'s p10/p50/p90 until fitted
        self.register_buffer("residual_quantiles", spread.repeat(k, 1))
        self.register_buffer("shrinkage", torch.ones(len(SHRINKAGE_GROUPS), k))  # (G, K)

    def forward(self, cgm: torch.Tensor, diabetes_kind: torch.Tensor) -> torch.Tensor:
        # cgm: (B, CGM_STEPS) mg/dL with NaN gaps; diabetes_kind: (B, 1) code
        # -> (B, K horizons, Q quantiles) mg/dL
        features, scale_features = self.features(cgm)
        z = features / self.feature_scale  # (B, F)
        change = self.change(z) * (shrinkage_group(diabetes_kind) @ self.shrinkage)  # (B, K)
        scale = self.scale(scale_features).clamp(min=MIN_SCALE_MG_DL)  # (B, K)
        latest = cgm[:, -1:]  # (B, 1)
        median = latest + change  # (B, K)
        return median.unsqueeze(-1) + scale.unsqueeze(-1) * self.residual_quantiles  # (B, K, Q)


__all__ = [
    "CGM_STEPS",
    "FEATURES",
    "SCALE_FEATURES",
    "SHRINKAGE_GROUPS",
    "ForecastFeatures",
    "ForecastNetwork",
    "ForecastNetworkConfig",
]
