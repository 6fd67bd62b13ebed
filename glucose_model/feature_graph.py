"""`features.py` inside the ONNX graph (torch): raw CGM, meal, context and kind -> the response inputs.

NaN-safe tensor ops only, so the exported response model takes what a phone has (NaN = gap or
unknown) and builds the masks, baseline, relative CGM, trend, known bits, time of day, kind one-hot
and spike threshold itself. tests/integration/test_glucose_response_raw.py proves it equals
`features.build_inputs` column by column.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from glucose_model.features import (
    CGM_POINTS,
    FEATURE_INDEX,
    FEATURE_NAMES,
    LAST_MEAL_LOOKBACK_H,
    TREND_WINDOW_MIN,
    UNKNOWN_KIND_SPIKE_THRESHOLD_MG_DL,
)
from glucose_model.forecast import KIND_CODES
from glucose_model.metrics import BASELINE_WINDOW_MIN
from glucose_model.records import KIND_ORDER
from glucose_model.resample import GRID_STEP_MIN
from glucose_model.response_inputs import CONTEXT_INDEX, MEAL_INDEX, N_CONTEXT, N_MEAL

# Value column -> its known bit, for the columns that are "value if sent, else 0 with bit 0".
_OPTIONAL_MEAL = {
    "sugars_g": "sugars_known",
    "fiber_g": "fiber_known",
    "fat_g": "fat_known",
    "protein_g": "protein_known",
    "glycemic_index": "glycemic_index_known",
}
_OPTIONAL_CONTEXT = {
    "sleep_hours": "sleep_known",
    "steps_hour_before": "steps_known",
    "heart_rate_bpm_hour_before": "heart_rate_known",
    "planned_walk_min": "planned_walk_known",
    "rapid_insulin_units": "insulin_known",
}


def _known(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(value with NaN -> 0, 1.0 where finite)."""
    ok = torch.isfinite(x)
    return torch.where(ok, x, torch.zeros_like(x)), ok.to(x.dtype)


class FeatureGraph(nn.Module):
    """(cgm_mg_dl (N,37), meal (N,M), context (N,C), kind code (N,)) -> (cgm_rel_mg_dl (N,37),
    cgm_mask (N,37), features (N,F)), as `features.build_inputs` computes them."""

    minutes: torch.Tensor
    kind_codes: torch.Tensor
    kind_thresholds: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer(
            "minutes", torch.arange(-(CGM_POINTS - 1), 1, dtype=torch.float32) * GRID_STEP_MIN
        )  # (37,) -180..0
        self.register_buffer("kind_codes", torch.tensor([float(KIND_CODES[k]) for k in KIND_ORDER]))
        self.register_buffer("kind_thresholds", torch.tensor([k.spike_threshold_mg_dl for k in KIND_ORDER]))

    def forward(
        self, cgm_mg_dl: torch.Tensor, meal: torch.Tensor, context: torch.Tensor, kind: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        values, valid = _known(cgm_mg_dl)  # (N, 37)
        # Baseline: mean of the last 30 min (0 when none: the caller refuses such a window).
        w = valid * (self.minutes >= -BASELINE_WINDOW_MIN).to(values.dtype)
        n = w.sum(dim=1, keepdim=True)  # (N, 1)
        baseline = (values * w).sum(dim=1, keepdim=True) / n.clamp(min=1.0)
        rel = (values - baseline) * valid
        # Trend: least-squares slope over the last 30 min; 0 with fewer than 2 readings.
        t = valid * (self.minutes >= -TREND_WINDOW_MIN).to(values.dtype)
        nt = t.sum(dim=1, keepdim=True)
        x_mean = (self.minutes * t).sum(dim=1, keepdim=True) / nt.clamp(min=1.0)
        y_mean = (values * t).sum(dim=1, keepdim=True) / nt.clamp(min=1.0)
        dx = (self.minutes - x_mean) * t
        sxx = (dx * dx).sum(dim=1, keepdim=True)
        sxy = (dx * (values - y_mean)).sum(dim=1, keepdim=True)
        trend = torch.where(nt >= 2, sxy / sxx.clamp(min=1e-6), torch.zeros_like(sxy))

        col: dict[str, torch.Tensor] = {"baseline_glucose_mg_dl": baseline, "trend_mg_dl_per_min": trend}

        def m(name: str) -> torch.Tensor:
            return meal[:, MEAL_INDEX[name] : MEAL_INDEX[name] + 1]

        def c(name: str) -> torch.Tensor:
            return context[:, CONTEXT_INDEX[name] : CONTEXT_INDEX[name] + 1]

        col["carbs_g"] = _known(m("carbs_g"))[0]
        p10, p10_ok = _known(m("carbs_p10_g"))
        p90, p90_ok = _known(m("carbs_p90_g"))
        spread_ok = p10_ok * p90_ok
        col["carbs_spread_g"] = (p90 - p10) / 2.0 * spread_ok
        col["carbs_spread_known"] = spread_ok
        for name, bit in _OPTIONAL_MEAL.items():
            col[name], col[bit] = _known(m(name))
        minute, minute_ok = _known(c("local_minute_of_day"))
        angle = minute * (2.0 * math.pi / 1440.0)
        col["time_of_day_sin"] = torch.sin(angle) * minute_ok
        col["time_of_day_cos"] = torch.cos(angle) * minute_ok
        since, since_ok = _known(c("minutes_since_last_meal"))
        last_carbs, last_ok = _known(c("last_meal_carbs_g"))
        in_range = ((since > 0) & (since <= LAST_MEAL_LOOKBACK_H * 60.0)).to(values.dtype)
        last_known = since_ok * last_ok * in_range
        col["minutes_since_last_meal"] = since * last_known
        col["last_meal_carbs_g"] = last_carbs * last_known
        col["last_meal_known"] = last_known
        for name, bit in _OPTIONAL_CONTEXT.items():
            col[name], col[bit] = _known(c(name))
        # Kind: one-hot of the code (NaN or any other code = unknown), threshold by kind.
        onehot = (kind.reshape(-1, 1) == self.kind_codes).to(values.dtype)  # (N, 4)
        known = onehot.sum(dim=1, keepdim=True)
        for i, k in enumerate(KIND_ORDER):
            col[f"kind_{k.value}"] = onehot[:, i : i + 1]
        col["kind_known"] = known
        col["spike_threshold_mg_dl"] = (onehot * self.kind_thresholds).sum(
            dim=1, keepdim=True
        ) + UNKNOWN_KIND_SPIKE_THRESHOLD_MG_DL * (1.0 - known)
        features = torch.cat([col[name] for name in FEATURE_NAMES], dim=1)  # (N, F)
        return rel, valid, features


class RawResponseInputs(nn.Module):
    """The whole raw front of the response graph: the meals asked about and the past meals.

    Returns the version-2 graph's inputs: cgm_rel_mg_dl, cgm_mask, features (B rows) and the
    history's cgm_rel_mg_dl, cgm_mask, features, rise_mg_dl (S, H, ...), the rise being the
    measured glucose after each past meal minus that meal's own baseline.
    """

    def __init__(self) -> None:
        super().__init__()
        self.features = FeatureGraph()

    def forward(
        self,
        cgm_mg_dl: torch.Tensor,
        meal: torch.Tensor,
        context: torch.Tensor,
        diabetes_kind: torch.Tensor,
        history_cgm_mg_dl: torch.Tensor,
        history_meal: torch.Tensor,
        history_context: torch.Tensor,
        history_diabetes_kind: torch.Tensor,
        history_glucose_mg_dl: torch.Tensor,
    ) -> tuple[torch.Tensor, ...]:
        rel, mask, features = self.features(cgm_mg_dl, meal, context, diabetes_kind)
        s, h = history_cgm_mg_dl.shape[0], history_cgm_mg_dl.shape[1]
        h_rel, h_mask, h_features = self.features(
            history_cgm_mg_dl.reshape(s * h, CGM_POINTS),
            history_meal.reshape(s * h, N_MEAL),
            history_context.reshape(s * h, N_CONTEXT),
            history_diabetes_kind.reshape(s * h, 1),
        )
        b = FEATURE_INDEX["baseline_glucose_mg_dl"]
        baseline = h_features[:, b : b + 1].reshape(s, h, 1)
        rise = history_glucose_mg_dl - baseline  # NaN (not measured) stays NaN
        return (
            rel,
            mask,
            features,
            h_rel.reshape(s, h, CGM_POINTS),
            h_mask.reshape(s, h, CGM_POINTS),
            h_features.reshape(s, h, -1),
            rise,
        )
