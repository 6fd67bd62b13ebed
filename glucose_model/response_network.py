"""The post-meal response network (torch): pre-meal CGM + meal features -> rise quantiles and spike risk.

The curve is monotone BY CONSTRUCTION: increasing in carbohydrate, decreasing in the planned walk
and in rapid insulin; the context pathway never sees those three inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from glucose_model.features import (
    CARBS_INDEX,
    CGM_POINTS,
    CURVE_MINUTES,
    FEATURE_INDEX,
    FEATURES,
    INSULIN_INDEX,
    N_FEATURES,
    WALK_INDEX,
)

# Carbohydrate enters through these increasing, zero-at-zero basis functions (grams): a linear term
# and saturating terms, so the dose-response can bend without losing monotonicity.
CARB_SATURATION_G = (25.0, 75.0, 150.0)
CARB_LINEAR_SCALE_G = 50.0
WALK_SCALE_MIN = 15.0
INSULIN_SCALE_UNITS = 5.0
SPIKE_MARGIN_SCALE_MG_DL = 20.0
CGM_SCALE_MG_DL = 50.0


@dataclass(frozen=True)
class NetworkConfig:
    conv_channels: int = 16  # first CGM conv layer; the second has twice as many
    cgm_embedding: int = 48  # size of the CGM summary fed to the trunk
    hidden: int = 96  # width of the context MLP
    curve_knots: int = 10  # smooth bumps (every 20 min) that every per-minute curve is made of


class ResponseNetwork(nn.Module):
    """(cgm_rel_mg_dl (B,37), cgm_mask (B,37), features (B,F)) -> (rise_mg_dl (B,37,3), spike_probability (B,1), ...)."""

    feature_center: torch.Tensor
    feature_scale: torch.Tensor
    context_mask: torch.Tensor
    carb_saturation_g: torch.Tensor
    ramp: torch.Tensor
    curve_basis: torch.Tensor

    def __init__(self, config: NetworkConfig = NetworkConfig()) -> None:
        super().__init__()
        self.config = config
        n_t = CURVE_MINUTES.shape[0]
        self.n_t = n_t
        self.n_basis = 1 + len(CARB_SATURATION_G)
        self.register_buffer("feature_center", torch.tensor([f.center for f in FEATURES]))
        self.register_buffer("feature_scale", torch.tensor([f.scale for f in FEATURES]))
        context_mask = torch.ones(N_FEATURES)
        context_mask[[CARBS_INDEX, WALK_INDEX, INSULIN_INDEX]] = 0.0  # the monotone inputs stay out
        self.register_buffer("context_mask", context_mask)
        self.register_buffer("carb_saturation_g", torch.tensor(CARB_SATURATION_G))
        self.register_buffer("ramp", torch.tensor(CURVE_MINUTES / CURVE_MINUTES[-1], dtype=torch.float32))
        # Every curve is a mix of Gaussian bumps over time, so it is smooth by construction (37
        # independent outputs gave saw-toothed curves), and non-negative mixes stay non-negative.
        m = config.curve_knots
        centers = torch.linspace(0.0, float(CURVE_MINUTES[-1]), m).view(m, 1)
        width_min = float(CURVE_MINUTES[-1]) / max(m - 1, 1)
        minutes = torch.tensor(CURVE_MINUTES, dtype=torch.float32).view(1, n_t)
        self.register_buffer(
            "curve_basis", torch.exp(-0.5 * ((minutes - centers) / width_min) ** 2)
        )  # (M, 37)
        c = config.conv_channels
        self.cgm_encoder = nn.Sequential(
            nn.Conv1d(2, c, kernel_size=5, padding=2),
            nn.GELU(),
            nn.Conv1d(c, 2 * c, kernel_size=5, stride=2, padding=2),
            nn.GELU(),
            nn.Flatten(),
            nn.Linear(2 * c * ((CGM_POINTS + 1) // 2), config.cgm_embedding),
            nn.GELU(),
        )
        self.trunk = nn.Sequential(
            nn.Linear(config.cgm_embedding + N_FEATURES, config.hidden),
            nn.GELU(),
            nn.Linear(config.hidden, config.hidden),
            nn.GELU(),
        )
        h = config.hidden
        self.base_head = nn.Linear(h, m)  # curve without the meal (drift from the pre-meal state)
        self.carb_gain_head = nn.Linear(h, self.n_basis * m)  # >= 0 after softplus
        self.walk_head = nn.Linear(h, 2 * m)  # attenuation and direct drop, >= 0
        self.insulin_head = nn.Linear(h, 2 * m)
        self.band_head = nn.Linear(h, 2 * m)  # widths below p50 and above it, >= 0
        self.band_carb_share = nn.Parameter(torch.full((2,), -1.5))  # band also grows with the carb response
        self.spike_head = nn.Linear(h, 2)  # slope (>= 0) and offset of the logit over the peak margin

    def forward_logits(
        self, cgm_rel_mg_dl: torch.Tensor, cgm_mask: torch.Tensor, features: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(rise quantiles (B,37,3) in mg/dL, spike logit (B,), d logit / d p50 peak in 1/(mg/dL) (B,))."""
        b = features.shape[0]
        x = (features - self.feature_center) / self.feature_scale  # (B, F)
        cgm = torch.stack([cgm_rel_mg_dl / CGM_SCALE_MG_DL, cgm_mask], dim=1)  # (B, 2, 37)
        h = self.trunk(torch.cat([self.cgm_encoder(cgm), x * self.context_mask], dim=1))  # (B, H)

        carbs_g = features[:, CARBS_INDEX : CARBS_INDEX + 1].clamp(min=0.0)  # (B, 1)
        basis = torch.cat(
            [carbs_g / CARB_LINEAR_SCALE_G, 1.0 - torch.exp(-carbs_g / self.carb_saturation_g)], dim=1
        )  # (B, K)
        m = self.config.curve_knots
        gain = self._curve(
            nn.functional.softplus(self.carb_gain_head(h)).view(b, self.n_basis, m)
        )  # (B, K, 37)
        gain = gain.transpose(1, 2)  # (B, 37, K)
        # (B, 37) >= 0, increasing in carbs; zero at minute 0, where glucose is still the baseline.
        carb_response = (gain * basis.unsqueeze(1)).sum(dim=2) * 20.0 * self.ramp.sqrt()

        walk = torch.log1p(features[:, WALK_INDEX : WALK_INDEX + 1].clamp(min=0.0) / WALK_SCALE_MIN)  # (B, 1)
        insulin = torch.log1p(
            features[:, INSULIN_INDEX : INSULIN_INDEX + 1].clamp(min=0.0) / INSULIN_SCALE_UNITS
        )  # (B, 1)
        walk_attenuation, walk_drop = self._curve(
            nn.functional.softplus(self.walk_head(h)).view(b, 2, m)
        ).unbind(1)
        insulin_attenuation, insulin_drop = self._curve(
            nn.functional.softplus(self.insulin_head(h)).view(b, 2, m)
        ).unbind(1)
        damped = carb_response * torch.exp(
            -walk_attenuation * walk - insulin_attenuation * insulin
        )  # (B, 37)
        p50 = (
            self._curve(self.base_head(h)) * 20.0 * self.ramp
            + damped
            - 10.0 * walk_drop * walk * self.ramp
            - 20.0 * insulin_drop * insulin * self.ramp
        )  # (B, 37)

        widths = self._curve(nn.functional.softplus(self.band_head(h)).view(b, 2, m)) * 10.0  # (B, 2, 37)
        carb_share = nn.functional.softplus(self.band_carb_share).view(1, 2, 1)
        widths = widths * self.ramp + carb_share * damped.unsqueeze(1)
        rise = torch.stack([p50 - widths[:, 0], p50, p50 + widths[:, 1]], dim=2)  # (B, 37, 3)

        baseline = features[:, FEATURE_INDEX["baseline_glucose_mg_dl"]]
        threshold = features[:, FEATURE_INDEX["spike_threshold_mg_dl"]]
        margin = (baseline + p50.max(dim=1).values - threshold) / SPIKE_MARGIN_SCALE_MG_DL  # (B,)
        slope_raw, offset = self.spike_head(h).unbind(1)
        slope = nn.functional.softplus(slope_raw) + 0.1
        logit = slope * margin + offset  # increasing in the p50 peak
        return rise, logit, slope / SPIKE_MARGIN_SCALE_MG_DL

    def _curve(self, coefficients: torch.Tensor) -> torch.Tensor:
        """(..., M) bump weights -> (..., 37) values at CURVE_MINUTES."""
        return coefficients @ self.curve_basis

    def forward(
        self, cgm_rel_mg_dl: torch.Tensor, cgm_mask: torch.Tensor, features: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The ONNX outputs: rise_mg_dl (B,37,3) at p10, p50, p90 (features.QUANTILES),
        spike_probability (B,1), spike_logit_per_mg_dl (B,1) (lets a personal adjustment re-score the spike)."""
        rise, logit, slope = self.forward_logits(cgm_rel_mg_dl, cgm_mask, features)
        return rise, torch.sigmoid(logit).unsqueeze(1), slope.unsqueeze(1)


def parameter_count(network: nn.Module) -> int:
    return sum(p.numel() for p in network.parameters())
