"""Training losses shared by the response and forecast networks (torch; the numpy metrics live in
`glucose_model.metrics`, which serving imports without torch)."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def pinball_loss(predicted: torch.Tensor, target: torch.Tensor, quantiles: Sequence[float]) -> torch.Tensor:
    """Mean quantile loss of (B, K, Q) predictions on (B, K) targets, NaN targets ignored.

    With every target finite this equals the plain mean over B * K * Q (the forecast's windows).
    """
    q = torch.tensor(tuple(quantiles), dtype=predicted.dtype).view(1, 1, -1)
    valid = torch.isfinite(target)
    error = torch.nan_to_num(target).unsqueeze(2) - predicted  # (B, K, Q)
    loss = torch.maximum(q * error, (q - 1) * error) * valid.unsqueeze(2)
    return loss.sum() / (valid.sum() * len(quantiles)).clamp(min=1)
