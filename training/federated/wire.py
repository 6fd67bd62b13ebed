"""What crosses the wire from a site, described and checked: weight arrays shaped like the model's
parameters, example counts and losses; nothing else. Numpy only, so it is testable without flwr;
the server applies it to every reply it receives (server_app.InspectingFedAvg)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

# Metric names a site may report: training loss with the fit, held-out losses with the evaluation.
ALLOWED_METRICS = frozenset(
    {
        "train_loss",
        "curve_mae_mg_dl",
        "peak_rise_mae_mg_dl",
        "curve_rmse_60min_mg_dl",
        "rmse_60_min_mg_dl",  # its name from sites on the previous release
        "iauc_2h_pearson_r",
        "rmse_30min_mg_dl",
        "rmse_60min_mg_dl",
        "mae_30min_mg_dl",
    }
)


class WireViolationError(RuntimeError):
    """A site sent something other than model weights, counts and losses."""


@dataclass(frozen=True)
class ReplySummary:
    """The shape of one site's reply, without its values: what an auditor needs to see."""

    array_shapes: list[tuple[int, ...]]
    array_dtypes: list[str]
    num_examples: int
    metric_names: list[str]
    extra_keys: list[str] = field(default_factory=list)  # any record key beyond weights/counts/metrics


def summarize_reply(
    arrays: Sequence[npt.NDArray[np.generic]],
    num_examples: int,
    metrics: Mapping[str, object],
    extra_keys: Sequence[str] = (),
) -> ReplySummary:
    return ReplySummary(
        [tuple(int(d) for d in a.shape) for a in arrays],
        [str(a.dtype) for a in arrays],
        int(num_examples),
        sorted(metrics),
        sorted(extra_keys),
    )


def check_reply(summary: ReplySummary, parameter_shapes: Sequence[tuple[int, ...]]) -> None:
    """Raise WireViolationError unless the reply is exactly the model's parameters, a count and losses."""
    problems = []
    if summary.array_shapes != [tuple(s) for s in parameter_shapes]:
        problems.append(
            f"arrays of shapes {summary.array_shapes}, the model's parameters are {list(parameter_shapes)}"
        )
    if any(d != "float32" for d in summary.array_dtypes):
        problems.append(f"array dtypes {sorted(set(summary.array_dtypes))}, expected float32 weights only")
    if summary.num_examples < 0:
        problems.append(f"negative example count {summary.num_examples}")
    unknown = sorted(set(summary.metric_names) - ALLOWED_METRICS)
    if unknown:
        problems.append(f"metrics {unknown} are not counts or losses")
    if summary.extra_keys:
        problems.append(f"unexpected record keys {summary.extra_keys}")
    if problems:
        raise WireViolationError(
            "a site's reply carried more than weights and counts: " + "; ".join(problems)
        )
