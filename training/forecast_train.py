"""Train the glucose forecast network on CGM recordings, split by person, and export it to ONNX.

`mealimpact train forecast` calls `train_forecast` then `export_forecast`; tests call them on tiny data.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
from torch import nn
from tqdm import tqdm

from glucose_model.forecast import (
    CONTEXT_FEATURES,
    HISTORY_STEPS,
    HORIZONS_MIN,
    INPUT_CONTEXT,
    INPUT_SERIES,
    OUTPUT_GLUCOSE,
    QUANTILES,
    SERIES_CHANNELS,
    build_forecast_inputs,
    contract_metadata,
    forecast_targets,
    usable_origins,
)
from glucose_model.forecast_network import ForecastNetwork, ForecastNetworkConfig, input_scaling
from glucose_model.records import Recording
from glucose_model.resample import GRID_STEP_MIN, resample_to_grid
from training.glucose_export import DATA_ATTRIBUTION, weights_sha256

logger = logging.getLogger(__name__)

MODEL_NAME = "glucose_forecast"
OPSET = 18
EXPORT_TOLERANCE_MG_DL = 1e-2  # ORT must match torch to this on every export


class ForecastExportError(RuntimeError):
    """The exported ONNX graph does not reproduce the torch network."""


@dataclass(frozen=True)
class ForecastTrainConfig:
    epochs: int = 12  # passes over the training windows
    batch_size: int = 512
    learning_rate: float = 2e-3  # AdamW, cosine-decayed to zero
    weight_decay: float = 1e-4
    stride_steps: int = 2  # one forecast origin every this many 5-min grid steps
    held_out_fraction: float = 0.2  # of the people of each cohort, never trained on
    seed: int = 0
    network: ForecastNetworkConfig = field(default_factory=ForecastNetworkConfig)


@dataclass
class WindowSet:
    """Forecast examples: inputs (N, C, H) and (N, F), targets (N, K) mg/dL, and who they are from."""

    series: npt.NDArray[np.float32]
    context: npt.NDArray[np.float32]
    targets: npt.NDArray[np.float32]
    person: npt.NDArray[np.str_]  # (N,) person_id

    def __len__(self) -> int:
        return int(self.targets.shape[0])

    def subset(self, keep: npt.NDArray[np.bool_]) -> WindowSet:
        return WindowSet(self.series[keep], self.context[keep], self.targets[keep], self.person[keep])


def person_key(recording: Recording) -> str:
    # Person ids are stable across cohorts sharing people (D1NAMO and Dubosson), so holding out an
    # id holds that person out of every cohort.
    return recording.person_id


def forecast_windows(recordings: Sequence[Recording], stride_steps: int = 1) -> WindowSet:
    """Every usable forecast origin (every `stride_steps` grid steps) with all horizons measured."""
    series, context, targets, person = [], [], [], []
    for recording in recordings:
        grid = resample_to_grid(recording.glucose)
        if len(grid.series) <= HISTORY_STEPS:
            continue
        y = forecast_targets(grid, np.arange(len(grid.series)))  # (G, K)
        ok = usable_origins(grid) & np.isfinite(y).all(axis=1)
        ok[: HISTORY_STEPS // 3] = False  # the first hour has too little history to learn from
        anchors = np.flatnonzero(ok)[::stride_steps]
        if anchors.shape[0] == 0:
            continue
        inputs = build_forecast_inputs(
            grid, anchors, recording.meals, recording.insulin, recording.activity, recording.kind
        )
        series.append(inputs.series)
        context.append(inputs.context)
        targets.append(y[anchors].astype(np.float32))
        person.append(np.full(anchors.shape[0], person_key(recording)))
    if not series:
        empty = np.zeros((0, len(SERIES_CHANNELS), HISTORY_STEPS), np.float32)
        return WindowSet(
            empty,
            np.zeros((0, len(CONTEXT_FEATURES)), np.float32),
            np.zeros((0, len(HORIZONS_MIN)), np.float32),
            np.zeros(0, dtype=np.str_),
        )
    return WindowSet(
        np.concatenate(series), np.concatenate(context), np.concatenate(targets), np.concatenate(person)
    )


def split_people(recordings: Sequence[Recording], held_out_fraction: float, seed: int) -> list[str]:
    """The held-out people: `held_out_fraction` of each cohort (at least one when it has two or more)."""
    rng = np.random.default_rng(seed)
    by_cohort: dict[str, set[str]] = {}
    for r in recordings:
        by_cohort.setdefault(r.cohort, set()).add(person_key(r))
    held_out: list[str] = []
    for cohort in sorted(by_cohort):
        people = sorted(by_cohort[cohort])
        n = round(held_out_fraction * len(people))
        n = max(n, 1) if len(people) >= 2 and held_out_fraction > 0 else n
        held_out.extend(str(p) for p in rng.permutation(people)[:n])
    return sorted(held_out)


def pinball_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    # predicted (B, K, Q), target (B, K): the quantile loss, averaged over horizons and quantiles
    q = torch.tensor(QUANTILES, dtype=predicted.dtype).view(1, 1, -1)
    error = target.unsqueeze(-1) - predicted
    return torch.maximum(q * error, (q - 1.0) * error).mean()


def predict_windows(
    network: ForecastNetwork, windows: WindowSet, batch_size: int = 4096
) -> npt.NDArray[np.float32]:
    """(N, K, Q) torch predictions in eval mode."""
    network.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(windows), batch_size):
            s = torch.from_numpy(windows.series[start : start + batch_size])
            c = torch.from_numpy(windows.context[start : start + batch_size])
            out.append(network(s, c).numpy())
    return np.concatenate(out) if out else np.zeros((0, len(HORIZONS_MIN), len(QUANTILES)), np.float32)


def point_metrics(
    predicted_p50: npt.NDArray[np.float32], targets: npt.NDArray[np.float32]
) -> dict[str, float]:
    """RMSE and MAE (mg/dL) of the median at every horizon."""
    metrics: dict[str, float] = {}
    for k, h in enumerate(HORIZONS_MIN):
        error = predicted_p50[:, k].astype(np.float64) - targets[:, k]
        metrics[f"rmse_{h}min_mg_dl"] = float(np.sqrt(np.mean(error**2))) if error.size else float("nan")
        metrics[f"mae_{h}min_mg_dl"] = float(np.mean(np.abs(error))) if error.size else float("nan")
    return metrics


def train_forecast(
    train: WindowSet, config: ForecastTrainConfig, show_progress: bool = True
) -> ForecastNetwork:
    """Fit a ForecastNetwork on `train` with the pinball loss."""
    if len(train) == 0:
        raise ValueError(
            "no training windows: the recordings have no 3-h CGM stretch followed by 1 h of readings"
        )
    # The network is small: one thread is faster than several contending for a shared CPU.
    torch.set_num_threads(1)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    network = ForecastNetwork(config.network)
    steps = config.epochs * max(1, -(-len(train) // config.batch_size))
    with tqdm(total=steps, desc="train forecast", disable=not show_progress) as bar:
        fit_forecast(
            network, train, config.epochs, config, lambda n: torch.from_numpy(rng.permutation(n)), bar
        )
    return network


def fit_forecast(
    network: nn.Module,
    windows: WindowSet,
    epochs: int,
    config: ForecastTrainConfig,
    permutation: Callable[[int], torch.Tensor],
    progress: tqdm | None = None,
) -> float:
    """Train `network` in place on `windows`: pinball loss, AdamW, learning rate cosine-decayed to
    zero over this call's epochs, batches in the order `permutation(n)` gives each epoch. Returns
    the mean loss of the last epoch. Central training and each federated site's rounds share it."""
    optimizer = torch.optim.AdamW(
        network.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    steps_per_epoch = max(1, -(-len(windows) // config.batch_size))
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * steps_per_epoch)
    series, context = torch.from_numpy(windows.series), torch.from_numpy(windows.context)
    targets = torch.from_numpy(windows.targets)
    total = 0.0
    for _epoch in range(epochs):
        network.train()
        order = permutation(len(windows))
        total = 0.0
        for start in range(0, len(windows), config.batch_size):
            batch = order[start : start + config.batch_size]
            loss = pinball_loss(network(series[batch], context[batch]), targets[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += float(loss.detach()) * len(batch)
            if progress is not None:
                progress.update(1)
                progress.set_postfix(loss=f"{loss.item():.2f}")
    network.eval()
    return total / max(len(windows), 1)


def config_pbtxt(max_batch_size: int = 256) -> str:
    """Triton/KServe model configuration of the exported forecast model."""
    return f"""name: "{MODEL_NAME}"
backend: "onnxruntime"
max_batch_size: {max_batch_size}
input [
  {{ name: "{INPUT_SERIES}" data_type: TYPE_FP32 dims: [ {len(SERIES_CHANNELS)}, {HISTORY_STEPS} ] }},
  {{ name: "{INPUT_CONTEXT}" data_type: TYPE_FP32 dims: [ {len(CONTEXT_FEATURES)} ] }}
]
output [
  {{ name: "{OUTPUT_GLUCOSE}" data_type: TYPE_FP32 dims: [ {len(HORIZONS_MIN)}, {len(QUANTILES)} ] }}
]
dynamic_batching {{ max_queue_delay_microseconds: 500 }}
"""


def forecast_metadata(
    network: ForecastNetwork,
    config: ForecastTrainConfig,
    version: str,
    training_data: Sequence[str],
    held_out: Sequence[str],
    metrics: dict[str, object],
    trained_people: Sequence[str] = (),
) -> dict[str, str]:
    """The ONNX metadata_props (JSON values): the contract `glucose_model.forecast` checks, and provenance."""
    values: dict[str, object] = {
        "version": version,
        **contract_metadata(),
        "units": {
            INPUT_SERIES: "glucose mg/dL (0 where unobserved), observed 0/1, carbs g, rapid insulin units, "
            "steps, heart rate bpm (0 where unrecorded); per 5-min slot",
            INPUT_CONTEXT: "0/1 flags and one-hot kind, time of day as sin/cos of the local clock angle",
            OUTPUT_GLUCOSE: "mg/dL at horizons_min x quantiles",
        },
        "input_scaling": input_scaling(),
        "train_config": asdict(config),
        "training_data": list(training_data),
        "held_out_people": list(held_out),
        # Every person whose CGM was trained on, so an evaluation never scores them (D1NAMO and
        # Dubosson share people under one id).
        "trained_people": sorted(trained_people),
        "metrics": metrics,
        "sha256": weights_sha256(network),
    }
    return {key: json.dumps(value) for key, value in values.items()}


def export_forecast(
    network: ForecastNetwork, metadata: dict[str, str], model_dir: Path, check: WindowSet | None = None
) -> Path:
    """Write `model_dir/<version>/model.onnx` (one file) and `model_dir/config.pbtxt`; check ORT vs torch."""
    import onnx
    import onnxruntime as ort

    version = json.loads(metadata["version"])
    out = model_dir / str(version) / "model.onnx"
    out.parent.mkdir(parents=True, exist_ok=True)
    network.eval()
    example = (torch.zeros(2, len(SERIES_CHANNELS), HISTORY_STEPS), torch.zeros(2, len(CONTEXT_FEATURES)))
    example[0][:, 0, :] = 120.0
    example[0][:, 1, :] = 1.0
    batch = torch.export.Dim("batch", min=1, max=4096)
    program = torch.onnx.export(
        network,
        example,
        dynamo=True,
        input_names=[INPUT_SERIES, INPUT_CONTEXT],
        output_names=[OUTPUT_GLUCOSE],
        dynamic_shapes={"series": {0: batch}, "context": {0: batch}},
        opset_version=OPSET,
        external_data=False,
    )
    assert program is not None
    model = program.model_proto
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save_model(model, str(out))
    onnx.checker.check_model(str(out))

    probe = check if check is not None and len(check) > 0 else None
    series = probe.series[:256] if probe else example[0].numpy()
    context = probe.context[:256] if probe else example[1].numpy()
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = session.run([OUTPUT_GLUCOSE], {INPUT_SERIES: series, INPUT_CONTEXT: context})[0]
    with torch.no_grad():
        want = network(torch.from_numpy(series), torch.from_numpy(context)).numpy()
    worst = float(np.max(np.abs(got - want)))
    if worst > EXPORT_TOLERANCE_MG_DL:
        raise ForecastExportError(
            f"ONNX Runtime differs from torch by {worst:.4f} mg/dL (> {EXPORT_TOLERANCE_MG_DL})"
        )
    logger.info("exported %s; max |ORT - torch| = %.2e mg/dL", out, worst)
    (model_dir / "config.pbtxt").write_text(config_pbtxt())
    return out


def describe_training_data(recordings: Sequence[Recording]) -> list[str]:
    """One line per cohort: name, people, source and licence (simulated cohorts say so)."""
    lines = []
    for cohort in sorted({r.cohort for r in recordings}):
        people = len({r.person_id for r in recordings if r.cohort == cohort})
        source = DATA_ATTRIBUTION.get(cohort) or DATA_ATTRIBUTION.get(
            cohort.split("_")[0], "user-supplied cohort"
        )
        lines.append(f"{cohort}: {people} people; {source}")
    return lines


def baseline_metrics(windows: WindowSet) -> dict[str, dict[str, float]]:
    """Persistence and linear extrapolation on the same windows, for the model metadata."""
    from glucose_model.baselines import linear_extrapolation, persistence

    glucose = np.where(windows.series[:, 1] > 0, windows.series[:, 0], np.nan).astype(np.float64)
    last = glucose[:, -1]
    horizons = np.array(HORIZONS_MIN, np.float64)
    flat = persistence(last, len(HORIZONS_MIN)).astype(np.float32)
    line = linear_extrapolation(glucose, GRID_STEP_MIN, horizons).astype(np.float32)
    return {
        "persistence": point_metrics(flat, windows.targets),
        "linear": point_metrics(line, windows.targets),
    }


def run_forecast_training(
    recordings: Sequence[Recording],
    model_dir: Path,
    version: str,
    config: ForecastTrainConfig,
    show_progress: bool = True,
) -> tuple[Path, dict[str, object]]:
    """Split by person, train, measure on held-out people beside the baselines, export. Returns (onnx, metrics)."""
    held_out = split_people(recordings, config.held_out_fraction, config.seed)
    windows = forecast_windows(recordings, config.stride_steps)
    test_mask = np.isin(windows.person, held_out)
    train, test = windows.subset(~test_mask), windows.subset(test_mask)
    logger.info("forecast windows: %d train, %d held-out", len(train), len(test))
    network = train_forecast(train, config, show_progress)
    metrics: dict[str, object] = {"train_windows": len(train), "held_out_windows": len(test)}
    if len(test):
        predicted = predict_windows(network, test)
        inside = (test.targets >= predicted[..., 0]) & (test.targets <= predicted[..., -1])
        metrics["held_out"] = {
            "model": point_metrics(predicted[..., len(QUANTILES) // 2], test.targets),
            **baseline_metrics(test),
            "band_10_90_coverage": float(inside.mean()),
        }
    trained = sorted(set(train.person.tolist()))
    metadata = forecast_metadata(
        network, config, version, describe_training_data(recordings), held_out, metrics, trained
    )
    return export_forecast(network, metadata, model_dir, test if len(test) else train), metrics
