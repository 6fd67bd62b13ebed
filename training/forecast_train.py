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
    CGM_STEPS,
    HISTORY_STEPS,
    HORIZONS_MIN,
    INPUT_CGM,
    INPUT_KIND,
    OUTPUT_GLUCOSE,
    QUANTILES,
    build_forecast_inputs,
    contract_metadata,
    forecast_targets,
    usable_origins,
)
from glucose_model.forecast_network import (
    FEATURES,
    MIN_SCALE_MG_DL,
    SCALE_FEATURES,
    SHRINKAGE_GROUPS,
    ForecastNetwork,
    ForecastNetworkConfig,
    shrinkage_group,
)
from glucose_model.metrics import held_out_people
from glucose_model.records import Recording
from glucose_model.resample import GRID_STEP_MIN, resample_to_grid
from mealimpact.model_repository.config import ONNX_PLATFORM, ModelConfig, TensorConfig, write_model_config
from mealimpact.model_repository.metadata import ForecastMetadata
from mealimpact.model_repository.sessions import open_session
from training.glucose_export import DATA_ATTRIBUTION, weights_sha256
from training.losses import pinball_loss

logger = logging.getLogger(__name__)

MODEL_NAME = "glucose_forecast"
OPSET = 18
EXPORT_TOLERANCE_MG_DL = 1e-2  # ORT must match torch to this on every export
SENSOR_NOISE_AR = 0.6  # lag-1 autocorrelation of the added sensor noise (5-min steps)


class ForecastExportError(RuntimeError):
    """The exported ONNX graph does not reproduce the torch network."""


@dataclass(frozen=True)
class ForecastTrainConfig:
    stride_steps: int = 2  # one forecast origin every this many 5-min grid steps
    held_out_fraction: float = 0.2  # of the people of each cohort, never trained on
    seed: int = 0
    # Training copies cut to the last 3 h, as a request with 3 h of CGM is (the rest see up to 24 h).
    short_context_fraction: float = 0.5
    network: ForecastNetworkConfig = field(default_factory=ForecastNetworkConfig)
    # Gradient training (federated sites' rounds, `fit_forecast`); central training is closed-form.
    epochs: int = 12
    batch_size: int = 512
    learning_rate: float = 2e-3  # AdamW, cosine-decayed to zero
    weight_decay: float = 1e-4


@dataclass
class WindowSet:
    """Forecast examples: raw CGM (N, CGM_STEPS) with NaN gaps, kind codes (N, 1), targets (N, K) mg/dL,
    who and where from."""

    cgm: npt.NDArray[np.float32]
    kind: npt.NDArray[np.float32]
    targets: npt.NDArray[np.float32]
    person: npt.NDArray[np.str_]  # (N,) person_id
    cohort: npt.NDArray[np.str_]  # (N,) cohort name

    def __len__(self) -> int:
        return int(self.targets.shape[0])

    def subset(self, keep: npt.NDArray[np.bool_]) -> WindowSet:
        return WindowSet(
            self.cgm[keep], self.kind[keep], self.targets[keep], self.person[keep], self.cohort[keep]
        )

    @staticmethod
    def concatenate(parts: Sequence[WindowSet]) -> WindowSet:
        if not parts:
            return empty_windows()
        return WindowSet(
            np.concatenate([p.cgm for p in parts]),
            np.concatenate([p.kind for p in parts]),
            np.concatenate([p.targets for p in parts]),
            np.concatenate([p.person for p in parts]),
            np.concatenate([p.cohort for p in parts]),
        )


def empty_windows() -> WindowSet:
    return WindowSet(
        np.zeros((0, CGM_STEPS), np.float32),
        np.zeros((0, 1), np.float32),
        np.zeros((0, len(HORIZONS_MIN)), np.float32),
        np.zeros(0, dtype=np.str_),
        np.zeros(0, dtype=np.str_),
    )


def person_key(recording: Recording) -> str:
    # Person ids are stable across cohorts sharing people (D1NAMO and Dubosson), so holding out an
    # id holds that person out of every cohort.
    return recording.person_id


def forecast_windows(recordings: Sequence[Recording], stride_steps: int = 1) -> WindowSet:
    """Every usable forecast origin (every `stride_steps` grid steps) with all horizons measured."""
    parts = []
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
        n = anchors.shape[0]
        inputs = build_forecast_inputs(grid, anchors, recording.kind)
        parts.append(
            WindowSet(
                inputs.cgm_mg_dl,
                inputs.diabetes_kind,
                y[anchors].astype(np.float32),
                np.full(n, person_key(recording)),
                np.full(n, recording.cohort),
            )
        )
    return WindowSet.concatenate(parts)


def predict_windows(
    network: nn.Module, windows: WindowSet, batch_size: int = 8192
) -> npt.NDArray[np.float32]:
    """(N, K, Q) torch predictions in eval mode."""
    network.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(windows), batch_size):
            cgm = torch.from_numpy(windows.cgm[start : start + batch_size])
            kind = torch.from_numpy(windows.kind[start : start + batch_size])
            out.append(network(cgm, kind).numpy())
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


# ---- closed-form fit -----------------------------------------------------------------------------


def with_sensor_noise(
    cgm: npt.NDArray[np.float32], sigma_mg_dl: float, rng: np.random.Generator
) -> npt.NDArray[np.float32]:
    """`cgm` (N, T) plus AR(1) noise (lag-1 correlation SENSOR_NOISE_AR, marginal SD sigma_mg_dl).

    A copy of a real trace as a noisier sensor would have recorded it: the model learns from the
    trace itself how far a trend can be trusted, instead of from which cohort it came.
    """
    if sigma_mg_dl <= 0:
        return cgm
    e = rng.standard_normal(cgm.shape).astype(np.float32)
    noise = np.empty_like(e)
    noise[:, 0] = e[:, 0]
    innovation = np.float32(np.sqrt(1.0 - SENSOR_NOISE_AR**2))
    for j in range(1, cgm.shape[1]):
        noise[:, j] = SENSOR_NOISE_AR * noise[:, j - 1] + innovation * e[:, j]
    return cgm + np.float32(sigma_mg_dl) * noise


def cohort_weights(cohort: npt.NDArray[np.str_]) -> npt.NDArray[np.float64]:
    """(N,) weights giving every cohort the same total (1), so Weinstock's 200 people do not decide alone."""
    names, index, counts = np.unique(cohort, return_inverse=True, return_counts=True)
    del names
    return 1.0 / counts[index].astype(np.float64)


@dataclass
class TrainingCopies:
    """Features of every training copy (sensor-noise and short-context variants) and their targets."""

    features: npt.NDArray[np.float64]  # (M, F)
    scale_features: npt.NDArray[np.float64]  # (M, S)
    change: npt.NDArray[np.float64]  # (M, K) target minus the copy's last reading
    weight: npt.NDArray[np.float64]  # (M,)
    cohort: npt.NDArray[np.str_]  # (M,)
    as_recorded: npt.NDArray[np.bool_]  # (M,) True for the copies without added sensor noise
    group: npt.NDArray[np.int64]  # (M,) index into SHRINKAGE_GROUPS

    def subset(self, keep: npt.NDArray[np.bool_]) -> TrainingCopies:
        return TrainingCopies(
            self.features[keep],
            self.scale_features[keep],
            self.change[keep],
            self.weight[keep],
            self.cohort[keep],
            self.as_recorded[keep],
            self.group[keep],
        )


def training_copies(
    network: ForecastNetwork, windows: WindowSet, config: ForecastTrainConfig, batch_size: int = 16384
) -> TrainingCopies:
    """The graph's own features (one definition) of each window as every configured sensor would see it."""
    rng = np.random.default_rng(config.seed)
    base_weight = cohort_weights(windows.cohort)
    sigmas = config.network.sensor_noise_mg_dl or (0.0,)
    feats, scales, change, weight, cohort, clean, group = [], [], [], [], [], [], []
    for sigma in sigmas:
        for start in range(0, len(windows), batch_size):
            cgm = with_sensor_noise(windows.cgm[start : start + batch_size], sigma, rng)
            short = rng.random(cgm.shape[0]) < config.short_context_fraction
            cgm[short, : CGM_STEPS - HISTORY_STEPS] = np.nan
            with torch.no_grad():
                f, s = network.features(torch.from_numpy(np.ascontiguousarray(cgm)))
            feats.append(f.numpy().astype(np.float64))
            scales.append(s.numpy().astype(np.float64))
            change.append(windows.targets[start : start + batch_size] - cgm[:, -1:].astype(np.float64))
            weight.append(base_weight[start : start + batch_size] / len(sigmas))
            cohort.append(windows.cohort[start : start + batch_size])
            clean.append(np.full(cgm.shape[0], sigma <= 0))
            kind = torch.from_numpy(windows.kind[start : start + batch_size])
            group.append(shrinkage_group(kind).numpy().argmax(axis=1))
    return TrainingCopies(
        np.concatenate(feats),
        np.concatenate(scales),
        np.concatenate(change),
        np.concatenate(weight),
        np.concatenate(cohort),
        np.concatenate(clean),
        np.concatenate(group).astype(np.int64),
    )


@dataclass
class RidgeStatistics:
    """Weighted sufficient statistics of one cohort's copies, so a ridge on any set of cohorts is a sum."""

    gram: npt.NDArray[np.float64]  # (F, F) sum of w x x^T
    cross: npt.NDArray[np.float64]  # (F, K) sum of w x y^T
    total_weight: float

    @staticmethod
    def of(copies: TrainingCopies) -> RidgeStatistics:
        xw = copies.features * copies.weight[:, None]
        return RidgeStatistics(xw.T @ copies.features, xw.T @ copies.change, float(copies.weight.sum()))


def weighted_ridge(
    statistics: Sequence[RidgeStatistics], penalty: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Ridge of y (K outputs) on x (F features) through the origin, x scaled by its weighted RMS.

    No intercept and no centring: every feature is 0 for a flat trace, so a flat trace gets exactly
    no change, whatever cohorts the fit came from. Returns (RMS scale (F,), coefficients (F, K) on
    the scaled x). The penalty is per unit of total weight (independent of the number of windows).
    """
    total = sum(s.total_weight for s in statistics)
    gram = np.sum([s.gram for s in statistics], axis=0) / total  # (F, F)
    cross = np.sum([s.cross for s in statistics], axis=0) / total  # (F, K)
    rms = np.sqrt(np.maximum(np.diag(gram), 0.0)) + 1e-6
    scaled_gram = gram / np.outer(rms, rms) + penalty * 1e-3 * np.eye(gram.shape[0])
    coef = np.linalg.solve(scaled_gram, cross / rms[:, None]).astype(np.float64)
    return rms, coef


def cohort_robust_shrinkage(
    copies: TrainingCopies, statistics: dict[str, RidgeStatistics], penalty: float, power: float = np.inf
) -> npt.NDArray[np.float64]:
    """(len(SHRINKAGE_GROUPS), K) factors on the predicted change, chosen for cohorts the fit never saw.

    For each training cohort, the ridge is fitted on the other cohorts and its change forecasts of
    that cohort's recorded (noise-free) copies are scaled by alpha; a group's alpha is the grid
    value whose errors on the group's cohorts, each relative to that cohort's persistence error,
    have the smallest power mean (`power` inf: the worst cohort's; 1: the plain mean). A cohort
    whose trends mislead (another sensor, another physiology) pulls alpha below 1: toward no change.
    A group without a training cohort takes the worst-case alpha over every cohort (whatever
    `power`); "unknown" takes the smallest of them all. Needs at least three cohorts; otherwise 1.
    """
    horizons = copies.change.shape[1]
    n_groups = len(SHRINKAGE_GROUPS)
    if len(statistics) < 3:
        return np.ones((n_groups, horizons))
    grid = np.arange(0.0, 1.21, 0.02)  # (A,)
    ratios, groups = [], []
    for cohort in statistics:
        rms, coef = weighted_ridge([s for c, s in statistics.items() if c != cohort], penalty)
        mine = (copies.cohort == cohort) & copies.as_recorded
        predicted = (copies.features[mine] / rms) @ coef  # (n, K)
        y, w = copies.change[mine], copies.weight[mine]
        pp, py, yy = w @ predicted**2, w @ (predicted * y), w @ y**2  # (K,) each
        ratios.append(
            (yy - 2 * grid[:, None] * py + grid[:, None] ** 2 * pp) / np.maximum(yy, 1e-9)
        )  # (A, K)
        groups.append(int(np.bincount(copies.group[mine], minlength=n_groups).argmax()))

    def best(members: list[int], power: float = power) -> npt.NDArray[np.float64]:
        stacked = np.stack([ratios[i] for i in members])  # (C, A, K)
        loss = stacked.max(axis=0) if np.isinf(power) else (np.maximum(stacked, 0.0) ** power).mean(axis=0)
        return np.asarray(grid[np.argmin(loss, axis=0)], dtype=np.float64)

    everyone = best(list(range(len(ratios))), np.inf)  # a group never seen: the worst case
    out = np.empty((n_groups, horizons))
    for g in range(n_groups):
        members = [i for i, group in enumerate(groups) if group == g]
        out[g] = best(members) if members else everyone
    unknown = SHRINKAGE_GROUPS.index("unknown")
    out[unknown] = np.minimum(out.min(axis=0), everyone)
    return out


def weighted_quantile(values: npt.NDArray[np.float64], weights: npt.NDArray[np.float64], q: float) -> float:
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, q * cumulative[-1])])


def fit_closed_form(windows: WindowSet, config: ForecastTrainConfig) -> ForecastNetwork:
    """The shipped recipe: ridge on the graph's features for the change, then the band.

    1. every window as several sensors would have recorded it (config.network.sensor_noise_mg_dl),
       some cut to 3 h (config.short_context_fraction), every cohort weighted alike;
    2. the change from the last reading: weighted ridge through the origin (a flat trace gets no
       change; penalty config.network.ridge), times a per-horizon shrinkage toward no change chosen
       by leave-one-cohort-out inside the training cohorts (cohort_robust_shrinkage);
    3. the band scale: least squares of |residual| on the scale features (the trace's noise,
       slopes, 3-h SD and 24-h step size), floored;
    4. residual / scale quantiles (conformal) at config.network.band_levels for the outer quantiles,
       median pinned to 0.
    """
    if len(windows) == 0:
        raise ValueError(
            "no training windows: the recordings have no 3-h CGM stretch followed by 1 h of readings"
        )
    torch.set_num_threads(1)
    network = ForecastNetwork(config.network)
    return fit_from_copies(network, training_copies(network, windows, config), config)


def fit_from_copies(
    network: ForecastNetwork, copies: TrainingCopies, config: ForecastTrainConfig
) -> ForecastNetwork:
    """Steps 2-4 of fit_closed_form on precomputed copies (leave-one-cohort-out reuses them)."""
    statistics = {c: RidgeStatistics.of(copies.subset(copies.cohort == c)) for c in np.unique(copies.cohort)}
    rms, coef = weighted_ridge(list(statistics.values()), config.network.ridge)
    shrinkage = cohort_robust_shrinkage(
        copies, statistics, config.network.ridge, config.network.shrinkage_power
    )
    logger.info("change shrinkage per group and horizon: %s", np.round(shrinkage, 2).tolist())
    residual = copies.change - (copies.features / rms) @ coef * shrinkage[copies.group]  # (M, K)
    s, w = copies.scale_features, copies.weight
    gram = (s * w[:, None]).T @ s + 1e-6 * np.eye(s.shape[1])
    scale_coef = np.linalg.solve(gram, (s * w[:, None]).T @ np.abs(residual))  # (S, K)
    scale = np.maximum(s @ scale_coef, MIN_SCALE_MG_DL)
    ratio = residual / scale
    low, high = config.network.band_levels
    levels = [low if q < 0.5 else high if q > 0.5 else q for q in QUANTILES]
    quantiles = np.array(
        [[weighted_quantile(ratio[:, k], w, q) for q in levels] for k in range(len(HORIZONS_MIN))]
    )
    middle = len(QUANTILES) // 2
    quantiles[:, middle] = 0.0
    quantiles[:, :middle] = np.minimum(quantiles[:, :middle], 0.0)
    quantiles[:, middle + 1 :] = np.maximum(quantiles[:, middle + 1 :], 0.0)
    with torch.no_grad():
        network.feature_scale.copy_(torch.from_numpy(rms))
        network.change.weight.copy_(torch.from_numpy(coef.T))
        network.scale.weight.copy_(torch.from_numpy(scale_coef.T))
        network.scale.bias.zero_()
        network.residual_quantiles.copy_(torch.from_numpy(quantiles))
        network.shrinkage.copy_(torch.from_numpy(shrinkage))
    network.eval()
    return network


def train_forecast(
    train: WindowSet, config: ForecastTrainConfig, show_progress: bool = True
) -> ForecastNetwork:
    """Fit the forecast network on `train` (closed form; see fit_closed_form)."""
    del show_progress  # seconds, not minutes: nothing to show
    return fit_closed_form(train, config)


def fit_forecast(
    network: nn.Module,
    windows: WindowSet,
    epochs: int,
    config: ForecastTrainConfig,
    permutation: Callable[[int], torch.Tensor],
    progress: tqdm | None = None,
) -> float:
    """Train `network` in place on `windows` by gradient: pinball loss, AdamW, learning rate
    cosine-decayed to zero over this call's epochs, batches in the order `permutation(n)` gives
    each epoch. Returns the mean loss of the last epoch. Each federated site's rounds use it (the
    central recipe is the closed form, which FedAvg cannot average)."""
    optimizer = torch.optim.AdamW(
        network.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    steps_per_epoch = max(1, -(-len(windows) // config.batch_size))
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * steps_per_epoch)
    cgm, targets = torch.from_numpy(windows.cgm), torch.from_numpy(windows.targets)
    kind = torch.from_numpy(windows.kind)
    total = 0.0
    for _epoch in range(epochs):
        network.train()
        order = permutation(len(windows))
        total = 0.0
        for start in range(0, len(windows), config.batch_size):
            batch = order[start : start + config.batch_size]
            loss = pinball_loss(network(cgm[batch], kind[batch]), targets[batch], QUANTILES)
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


def model_config(max_batch_size: int = 256) -> ModelConfig:
    """Triton/KServe model configuration of the exported forecast model."""
    return ModelConfig(
        name=MODEL_NAME,
        platform=ONNX_PLATFORM,
        max_batch_size=max_batch_size,
        inputs=(
            TensorConfig(INPUT_CGM, "TYPE_FP32", (CGM_STEPS,)),
            TensorConfig(INPUT_KIND, "TYPE_FP32", (1,)),
        ),
        outputs=(TensorConfig(OUTPUT_GLUCOSE, "TYPE_FP32", (len(HORIZONS_MIN), len(QUANTILES))),),
        dynamic_batching=True,
        max_queue_delay_us=500,
    )


def forecast_metadata(
    network: nn.Module,
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
            INPUT_CGM: "glucose mg/dL on the 5-min grid, oldest first, the forecast origin last; NaN where "
            "no reading (gaps, and hours the request did not send)",
            INPUT_KIND: "the person's kind as a code (kind_codes); -1 when unknown",
            OUTPUT_GLUCOSE: "mg/dL at horizons_min x quantiles",
        },
        # Computed inside the graph from the raw CGM (glucose_model/forecast_network.py).
        "features": list(FEATURES),
        "scale_features": list(SCALE_FEATURES),
        "training_config": asdict(config),
        "change_shrinkage": {
            group: [round(float(a), 4) for a in row]
            for group, row in zip(
                SHRINKAGE_GROUPS, getattr(network, "shrinkage", torch.ones(3, 4)).tolist(), strict=True
            )
        },
        "training_data": list(training_data),
        "held_out_people": list(held_out),
        # Every person whose CGM was trained on, so an evaluation never scores them (D1NAMO and
        # Dubosson share people under one id).
        "trained_people": sorted(trained_people),
        "metrics": metrics,
        "weights_sha256": weights_sha256(network),
    }
    return ForecastMetadata(**values).to_props()  # type: ignore[arg-type]


def export_forecast(
    network: nn.Module, metadata: dict[str, str], model_dir: Path, check: WindowSet | None = None
) -> Path:
    """Write `model_dir/<version>/model.onnx` (one file) and `model_dir/config.pbtxt`; check ORT vs torch."""
    import onnx

    version = json.loads(metadata["version"])
    out = model_dir / str(version) / "model.onnx"
    out.parent.mkdir(parents=True, exist_ok=True)
    network.eval()
    example = torch.full((4, CGM_STEPS), 120.0)
    example[0, :100] = float("nan")
    example_kind = torch.tensor([[0.0], [2.0], [3.0], [-1.0]])
    # The TorchScript exporter: 1 s instead of 30 s for this graph, and the same numbers (checked below).
    torch.onnx.export(
        network,
        (example, example_kind),
        str(out),
        dynamo=False,
        input_names=[INPUT_CGM, INPUT_KIND],
        output_names=[OUTPUT_GLUCOSE],
        dynamic_axes={INPUT_CGM: {0: "batch"}, INPUT_KIND: {0: "batch"}, OUTPUT_GLUCOSE: {0: "batch"}},
        opset_version=OPSET,
    )
    model = onnx.load(str(out))
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save_model(model, str(out))
    onnx.checker.check_model(str(out))

    if check is not None and len(check) > 0:
        probe, probe_kind = check.cgm[:256], check.kind[:256]
    else:
        probe, probe_kind = example.numpy(), example_kind.numpy()
    session = open_session(out)
    got = session.run([OUTPUT_GLUCOSE], {INPUT_CGM: probe, INPUT_KIND: probe_kind})[0]
    with torch.no_grad():
        want = network(torch.from_numpy(probe), torch.from_numpy(probe_kind)).numpy()
    worst = float(np.max(np.abs(got - want)))
    if not worst <= EXPORT_TOLERANCE_MG_DL:
        raise ForecastExportError(
            f"ONNX Runtime differs from torch by {worst:.4f} mg/dL (> {EXPORT_TOLERANCE_MG_DL})"
        )
    logger.info("exported %s; max |ORT - torch| = %.2e mg/dL", out, worst)
    write_model_config(model_dir, model_config())
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


def baseline_forecasts(train: WindowSet, test: WindowSet) -> dict[str, npt.NDArray[np.float64]]:
    """(N, K) forecasts of `test` by the baselines, the fitted ones fitted on `train` (same data as the model).

    persistence; linear (the last 30 min's slope continued); damped trend (phi fitted, every cohort
    weighted alike); ridge on the last 3 h (future glucose on the 36 readings, gaps filled toward now).
    """
    from glucose_model.baselines import DampedTrend, RecentRidge, linear_extrapolation, persistence

    horizons = np.array(HORIZONS_MIN, np.float64)
    test_recent = test.cgm[:, -HISTORY_STEPS:].astype(np.float64)
    out = {
        "persistence": persistence(test_recent[:, -1], len(HORIZONS_MIN)),
        "linear": linear_extrapolation(test_recent, GRID_STEP_MIN, horizons),
    }
    if len(train):
        train_recent = train.cgm[:, -HISTORY_STEPS:].astype(np.float64)
        damped = DampedTrend(GRID_STEP_MIN).fit(
            train_recent, train.targets.astype(np.float64), horizons, cohort_weights(train.cohort)
        )
        out["damped_trend"] = damped.predict(test_recent, horizons)
        out["ridge_3h"] = (
            RecentRidge().fit(train_recent, train.targets.astype(np.float64)).predict(test_recent)
        )
    return out


def baseline_metrics(train: WindowSet, test: WindowSet) -> dict[str, dict[str, float]]:
    """The baselines' point metrics on `test`, for the model metadata."""
    return {
        name: point_metrics(values.astype(np.float32), test.targets)
        for name, values in baseline_forecasts(train, test).items()
    }


def run_forecast_training(
    recordings: Sequence[Recording],
    model_dir: Path,
    version: str,
    config: ForecastTrainConfig,
    show_progress: bool = False,
) -> tuple[Path, dict[str, object]]:
    """Split by person, train, measure on held-out people beside the baselines, export. Returns (onnx, metrics)."""
    held_out = held_out_people(
        ((r.cohort, person_key(r)) for r in recordings), config.held_out_fraction, config.seed
    )
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
            **baseline_metrics(train, test),
            "band_10_90_coverage": float(inside.mean()),
        }
    trained = sorted(set(train.person.tolist()))
    metadata = forecast_metadata(
        network, config, version, describe_training_data(recordings), held_out, metrics, trained
    )
    return export_forecast(network, metadata, model_dir, test if len(test) else train), metrics
