"""The forecast network (torch): 3 h of CGM and events -> glucose quantiles at +15..+60 min.

Inputs and outputs are those of `glucose_model.forecast`; scaling lives inside the network so
the exported ONNX file takes and returns plain mg/dL, grams, units and steps.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from glucose_model.forecast import CONTEXT_FEATURES, HISTORY_STEPS, HORIZONS_MIN, QUANTILES, SERIES_CHANNELS

# Input scaling (written into the model metadata by the exporter): typical magnitudes, so every
# channel enters the network at order 1.
GLUCOSE_CENTER_MG_DL = 140.0
GLUCOSE_SCALE_MG_DL = 50.0
CARBS_SCALE_G = 50.0
INSULIN_SCALE_UNITS = 5.0
STEPS_SCALE = 500.0
HEART_RATE_SCALE_BPM = 100.0
# The network predicts changes from the latest reading in units of this many mg/dL.
CHANGE_SCALE_MG_DL = 30.0


@dataclass(frozen=True)
class ForecastNetworkConfig:
    hidden: int = 192  # width of the two hidden layers
    dropout: float = 0.1  # between hidden layers, training only

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}


def input_scaling() -> dict[str, float]:
    """The scaling constants, for the model metadata."""
    return {
        "glucose_center_mg_dl": GLUCOSE_CENTER_MG_DL,
        "glucose_scale_mg_dl": GLUCOSE_SCALE_MG_DL,
        "carbs_scale_g": CARBS_SCALE_G,
        "insulin_scale_units": INSULIN_SCALE_UNITS,
        "steps_scale": STEPS_SCALE,
        "heart_rate_scale_bpm": HEART_RATE_SCALE_BPM,
        "change_scale_mg_dl": CHANGE_SCALE_MG_DL,
    }


class ForecastNetwork(nn.Module):
    """MLP over the scaled window; outputs non-crossing quantiles around a median change."""

    channel_scale: torch.Tensor  # (1, C, 1) divisor of each input channel

    def __init__(self, config: ForecastNetworkConfig = ForecastNetworkConfig()) -> None:
        super().__init__()
        n_in = len(SERIES_CHANNELS) * HISTORY_STEPS + len(CONTEXT_FEATURES)
        self.n_horizons = len(HORIZONS_MIN)
        self.n_quantiles = len(QUANTILES)
        self.body = nn.Sequential(
            nn.Linear(n_in, config.hidden),
            nn.GELU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.hidden, config.hidden),
            nn.GELU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.hidden, self.n_horizons * self.n_quantiles),
        )
        scale = torch.tensor(
            [GLUCOSE_SCALE_MG_DL, 1.0, CARBS_SCALE_G, INSULIN_SCALE_UNITS, STEPS_SCALE, HEART_RATE_SCALE_BPM]
        )
        self.register_buffer("channel_scale", scale.view(1, -1, 1), persistent=False)

    def forward(self, series: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        # series: (B, C, H); context: (B, F) -> (B, K horizons, Q quantiles) in mg/dL
        observed = series[:, 1:2, :]  # (B, 1, H)
        glucose = (series[:, 0:1, :] - GLUCOSE_CENTER_MG_DL) * observed  # unobserved -> 0 after centring
        scaled = torch.cat([glucose, series[:, 1:, :]], dim=1) / self.channel_scale  # (B, C, H)
        x = torch.cat([scaled.flatten(1), context], dim=1)  # (B, C*H + F)
        raw = self.body(x).view(-1, self.n_horizons, self.n_quantiles)  # (B, K, Q)
        # The median is raw[..., middle]; the other quantiles are softplus-spaced below and above
        # it (cumulatively), so the band never crosses.
        middle = self.n_quantiles // 2
        median = raw[..., middle : middle + 1]
        below = torch.cumsum(nn.functional.softplus(raw[..., :middle]).flip(-1), dim=-1).flip(-1)
        above = torch.cumsum(nn.functional.softplus(raw[..., middle + 1 :]), dim=-1)
        change = torch.cat([median - below, median, median + above], dim=-1) * CHANGE_SCALE_MG_DL
        latest = series[:, 0, -1].view(-1, 1, 1)  # (B, 1, 1) the origin reading, always observed
        return latest + change
