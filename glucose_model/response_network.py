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
from glucose_model.personal import MIN_MEASURED_SHARE, N_PERSON_FIELDS, PERSON_FIELDS

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


# ---- the person inside the model ----------------------------------------------------------------

HISTORY_RESIDUAL_WINDOWS = ((1, 13), (13, 25), (25, 37))  # curve indices: 5-60, 65-120, 125-180 min
HISTORY_SHRINK_MEALS = 3.0  # the plain mean residual is shrunk as if 3 meals had matched exactly
PERSON_SCALE_LIMIT = 1.5  # |log scale| of the curve, so the person can multiply it by 0.22-4.5
# What a past meal is described by: the inputs the app can send for it (`PastMealIn`: the meal's
# carbohydrate and composition, its time, the CGM before it, the person's kind). The graph sets every
# other column of `history_features` to "unknown" (0, known bit 0), so the caller cannot make the
# history mean something the encoder was not trained on.
HISTORY_FEATURES_KEPT = (
    "baseline_glucose_mg_dl",
    "trend_mg_dl_per_min",
    "carbs_g",
    "sugars_g",
    "sugars_known",
    "fiber_g",
    "fiber_known",
    "fat_g",
    "fat_known",
    "protein_g",
    "protein_known",
    "time_of_day_sin",
    "time_of_day_cos",
    "kind_none",
    "kind_prediabetes",
    "kind_type2",
    "kind_type1",
    "kind_known",
    "spike_threshold_mg_dl",
)


@dataclass(frozen=True)
class PersonConfig:
    token: int = 32  # size of one past meal's encoding
    attention: int = 16  # query/key size of the attention over past meals
    hidden: int = 64
    # The profile fields also act without history (their own head); False: only beside the history.
    profile_without_history: bool = True


class PersonEncoder(nn.Module):
    """Past meals (their inputs, the population model's curve for them, the measured curve) and the
    profile fields -> a per-time log scale and offset of this meal's predicted rise.

    The current meal enters only through its context (never carbs, walk or insulin), and the result
    is rise * exp(scale(t)) + offset(t), so the monotone guarantees of ResponseNetwork hold. With no
    usable past meal and no known profile field the adjustment is exactly 0 (the population model).
    """

    field_center: torch.Tensor
    field_scale: torch.Tensor
    field_used: torch.Tensor
    feature_center: torch.Tensor
    feature_scale: torch.Tensor
    context_mask: torch.Tensor
    curve_basis: torch.Tensor
    ramp: torch.Tensor
    history_keep: torch.Tensor

    def __init__(self, base: ResponseNetwork, config: PersonConfig = PersonConfig()) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("field_center", torch.tensor([f.center for f in PERSON_FIELDS]))
        self.register_buffer("field_scale", torch.tensor([f.scale for f in PERSON_FIELDS]))
        # Fields no training example carried stay out (weights for them would be untrained noise).
        self.register_buffer("field_used", torch.zeros(N_PERSON_FIELDS))
        for name in ("feature_center", "feature_scale", "context_mask", "curve_basis", "ramp"):
            self.register_buffer(name, getattr(base, name).clone())
        keep = torch.zeros(N_FEATURES)
        keep[[FEATURE_INDEX[n] for n in HISTORY_FEATURES_KEPT]] = 1.0
        self.register_buffer("history_keep", keep)
        n_f = N_FEATURES
        n_resid = 4 + 2 * len(HISTORY_RESIDUAL_WINDOWS)
        self.n_resid = n_resid
        self.token = nn.Sequential(
            nn.Linear(n_f + n_resid, config.hidden),
            nn.GELU(),
            nn.Linear(config.hidden, config.token),
            nn.GELU(),
        )
        self.query = nn.Linear(n_f, config.attention)
        self.key = nn.Linear(n_f + n_resid, config.attention)
        self.null_logit = nn.Parameter(torch.zeros(1))
        m = base.config.curve_knots
        self.m = m
        n_fields = 2 * N_PERSON_FIELDS
        self.history_head = nn.Sequential(
            nn.Linear(2 * config.token + 3 + n_f + n_fields, config.hidden),
            nn.GELU(),
            nn.Linear(config.hidden, 2 * m),
        )
        self.field_head = nn.Sequential(nn.Linear(n_f + n_fields, 16), nn.GELU(), nn.Linear(16, 2 * m))
        for head in (self.history_head, self.field_head):
            last = head[-1]
            assert isinstance(last, nn.Linear)
            nn.init.zeros_(last.weight)  # start at the population model
            nn.init.zeros_(last.bias)

    def residuals(
        self, predicted_p50: torch.Tensor, measured: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(..., 37) population curves and measured rises (NaN gaps) -> (..., R) summaries, (...) valid."""
        ok = torch.isfinite(measured)
        filled = torch.where(ok, measured, torch.zeros_like(measured))
        valid = (ok[..., 1:].float().mean(dim=-1) >= MIN_MEASURED_SHARE).float()
        measured_peak = torch.where(ok[..., 1:], filled[..., 1:], torch.full_like(filled[..., 1:], -1e4))
        measured_peak = measured_peak.max(dim=-1).values.clamp(min=-100.0) * valid
        predicted_peak = predicted_p50[..., 1:].max(dim=-1).values
        parts = [
            (measured_peak - predicted_peak) / 50.0,
            torch.log((measured_peak.clamp(min=0.0) + 20.0) / (predicted_peak.clamp(min=0.0) + 20.0)),
            measured_peak / 50.0,
            predicted_peak / 50.0,
        ]
        error = (filled - predicted_p50) * ok.float()
        for lo, hi in HISTORY_RESIDUAL_WINDOWS:
            count = ok[..., lo:hi].float().sum(dim=-1)
            parts.append(error[..., lo:hi].sum(dim=-1) / count.clamp(min=1.0) / 50.0)
            parts.append((count > 0).float())
        return torch.stack(parts, dim=-1) * valid.unsqueeze(-1), valid

    def forward(
        self,
        features: torch.Tensor,
        person: torch.Tensor,
        history_x: torch.Tensor,
        history_residuals: torch.Tensor,
        history_valid: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """features (B,F); person (B,P) NaN = unknown; per row's history: normalised inputs (B,H,F),
        residual summaries (B,H,R), valid (B,H) -> (log scale (B,37), offset mg/dL (B,37))."""
        known = torch.isfinite(person).float() * self.field_used
        fields = torch.where(
            known > 0, (person - self.field_center) / self.field_scale, torch.zeros_like(person)
        )
        fields = torch.cat([fields * known, known], dim=1)  # (B, 2P)
        x = (features - self.feature_center) / self.feature_scale * self.context_mask  # (B, F)
        tokens_in = torch.cat([history_x, history_residuals], dim=-1)  # (B, H, F+R)
        tokens = self.token(tokens_in) * history_valid.unsqueeze(-1)  # (B, H, T)
        n = history_valid.sum(dim=1, keepdim=True)  # (B, 1)
        pooled = tokens.sum(dim=1) / (n + 1.0)
        q = self.query(x).unsqueeze(1)  # (B, 1, A)
        k = self.key(tokens_in)  # (B, H, A)
        logits = (q * k).sum(dim=-1) / float(self.config.attention) ** 0.5  # (B, H)
        logits = torch.where(history_valid > 0, logits, torch.full_like(logits, -1e4))
        null = self.null_logit.expand(logits.shape[0], 1)
        weights = torch.softmax(torch.cat([null, logits], dim=1), dim=1)[:, 1:]  # (B, H)
        attended = (weights.unsqueeze(-1) * tokens).sum(dim=1)  # (B, T)
        shrunk = history_residuals[..., :2].sum(dim=1) / (n + HISTORY_SHRINK_MEALS)  # (B, 2)
        count = torch.log1p(n) / 4.0
        h = self.history_head(torch.cat([pooled, attended, shrunk, count, x, fields], dim=1))  # (B, 2M)
        f = self.field_head(torch.cat([x, fields], dim=1))
        has_history = (n > 0).float()
        has_fields = (known.sum(dim=1, keepdim=True) > 0).float() * float(self.config.profile_without_history)
        coefficients = has_history * h + has_fields * f  # (B, 2M)
        log_scale = (coefficients[:, : self.m] @ self.curve_basis).clamp(
            -PERSON_SCALE_LIMIT, PERSON_SCALE_LIMIT
        )
        offset = (coefficients[:, self.m :] @ self.curve_basis) * 20.0 * self.ramp
        return log_scale, offset


def personalise(
    rise: torch.Tensor,
    logit: torch.Tensor,
    slope: torch.Tensor,
    log_scale: torch.Tensor,
    offset: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Population outputs (rise (B,37,3), spike logit (B,), d logit/d peak (B,)) -> the person's
    rise and spike logit: rise * exp(log_scale) + offset, the logit moved along with the p50 peak."""
    adjusted = rise * torch.exp(log_scale).unsqueeze(2) + offset.unsqueeze(2)
    # Over all 37 minutes, as ResponseNetwork's margin: the logit is then exactly the population
    # head's increasing function of the person's p50 peak (minute 0 stays 0), so the spike keeps the
    # monotone guarantees too (over minutes 5-180 it could rise while the peak fell).
    shift = adjusted[:, :, 1].max(dim=1).values - rise[:, :, 1].max(dim=1).values
    return adjusted, logit + slope * shift


class PersonalResponseNetwork(nn.Module):
    """The exported graph: the population ResponseNetwork plus the PersonEncoder over the history.

    Inputs: the population inputs (B rows), the profile fields (B, P) with NaN = unknown, and per row
    the index of its history set in the history inputs (S, H, ...); a set whose measured rises are
    all NaN is "no history". The population network runs once on every past meal (S*H rows).
    """

    def __init__(self, base: ResponseNetwork, encoder: PersonEncoder) -> None:
        super().__init__()
        self.base = base
        self.encoder = encoder

    def forward(
        self,
        cgm_rel_mg_dl: torch.Tensor,
        cgm_mask: torch.Tensor,
        features: torch.Tensor,
        person: torch.Tensor,
        history_slot: torch.Tensor,
        history_cgm_rel_mg_dl: torch.Tensor,
        history_cgm_mask: torch.Tensor,
        history_features: torch.Tensor,
        history_rise_mg_dl: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rise, logit, slope = self.base.forward_logits(cgm_rel_mg_dl, cgm_mask, features)
        history_features = history_features * self.encoder.history_keep
        s, h = history_features.shape[0], history_features.shape[1]
        past_rise, _, _ = self.base.forward_logits(
            history_cgm_rel_mg_dl.reshape(s * h, CGM_POINTS),
            history_cgm_mask.reshape(s * h, CGM_POINTS),
            history_features.reshape(s * h, N_FEATURES),
        )
        past_p50 = past_rise[:, :, 1].reshape(s, h, CURVE_MINUTES.shape[0])
        residuals, valid = self.encoder.residuals(past_p50, history_rise_mg_dl)  # (S,H,R), (S,H)
        past_x = (history_features - self.encoder.feature_center) / self.encoder.feature_scale
        slot = history_slot.long()
        log_scale, offset = self.encoder(features, person, past_x[slot], residuals[slot], valid[slot])
        adjusted, adjusted_logit = personalise(rise, logit, slope, log_scale, offset)
        return adjusted, torch.sigmoid(adjusted_logit).unsqueeze(1), slope.unsqueeze(1)
