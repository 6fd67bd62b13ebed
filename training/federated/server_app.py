"""The Flower ServerApp: weighted FedAvg over the hospital sites, optional SecAgg+, and the export.

Every reply a site sends is described (record keys, array shapes, metric names) and checked against
the model's parameters before it is averaged; bytes and wall time are metered per round at the
Grid; the final weights go through the same ONNX export as central training.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from flwr.app import Context, Message
from flwr.common import (
    FitRes,
    Parameters,
    Scalar,
    bytes_to_ndarray,
    ndarrays_to_parameters,
    parameters_to_ndarrays,
)
from flwr.server import Grid, LegacyContext, ServerApp, ServerConfig
from flwr.server.client_proxy import ClientProxy
from flwr.server.strategy import FedAvg
from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow
from flwr.supercore.inflatable.inflatable_object import get_all_nested_objects

from training.federated.aggregation import server_momentum_step, weighted_average
from training.federated.names import FINAL_WEIGHTS, INITIAL_WEIGHTS, SERVER_LOG
from training.federated.pretraining import load_weights
from training.federated.privacy import DEFAULT_DELTA, epsilon
from training.federated.tasks import load_parameter_arrays, new_network, parameter_arrays, parameter_names
from training.federated.wire import check_reply, summarize_reply
from training.forecast_train import MODEL_NAME as FORECAST_NAME
from training.forecast_train import (
    ForecastExportError,
    ForecastTrainConfig,
    export_forecast,
    forecast_metadata,
)
from training.glucose_export import DATA_ATTRIBUTION, MODEL_NAME, ResponseExportError, response_metadata
from training.glucose_raw_export import RawExportError, export_trained_raw_response
from training.glucose_train import TrainConfig

logger = logging.getLogger(__name__)

# SecAgg+ scales each site's vector by num_examples / max_weight before quantising it to 22 bits
# over [-8, 8]: max_weight must exceed any site's count (meals; forecast windows are ~100x more)
# and not by much, or the quantisation error (about 4e-6 * max_weight / count) grows.
SECAGG_MAX_WEIGHT = {"response": 5_000.0, "forecast": 500_000.0}


@dataclass(frozen=True)
class FederationConfig:
    model: str = "response"
    rounds: int = 20
    local_epochs: int = 3
    fraction_fit: float = 1.0  # share of the connected sites sampled each round
    server_momentum: float = 0.0  # FedAvgM on the averaged update; 0: plain FedAvg
    min_sites: int = 2  # a round waits for this many sites
    secagg: bool = False
    dp_clip: float = 0.0  # 0: no client-side DP
    dp_noise: float = 0.0
    seed: int = 0
    out_dir: str = ""  # where the server writes its log, the weights and the exported model
    site_names: str = ""  # comma-separated, as the operator named the sites (for the model metadata)
    secagg_max_weight: float = 0.0  # 0: SECAGG_MAX_WEIGHT of the model
    initial_weights: str = ""  # .npz to start from (e.g. the simulator pre-training); "": fresh network

    @staticmethod
    def from_run_config(run_config: dict[str, Any]) -> FederationConfig:
        defaults = FederationConfig()
        return FederationConfig(
            model=str(run_config.get("model", defaults.model)),
            rounds=int(run_config.get("num-server-rounds", defaults.rounds)),
            local_epochs=int(run_config.get("local-epochs", defaults.local_epochs)),
            fraction_fit=float(run_config.get("fraction-fit", defaults.fraction_fit)),
            server_momentum=float(run_config.get("server-momentum", defaults.server_momentum)),
            min_sites=int(run_config.get("min-sites", defaults.min_sites)),
            secagg=bool(run_config.get("secagg", defaults.secagg)),
            dp_clip=float(run_config.get("dp-clip", defaults.dp_clip)),
            dp_noise=float(run_config.get("dp-noise", defaults.dp_noise)),
            seed=int(run_config.get("seed", defaults.seed)),
            out_dir=str(run_config.get("out-dir", defaults.out_dir)),
            site_names=str(run_config.get("site-names", defaults.site_names)),
            secagg_max_weight=float(run_config.get("secagg-max-weight", defaults.secagg_max_weight)),
            initial_weights=str(run_config.get("initial-weights", defaults.initial_weights)),
        )


@dataclass
class RoundCost:
    round: int
    bytes_to_sites: int = 0
    bytes_from_sites: int = 0
    messages: int = 0
    started_s: float = math.inf
    finished_s: float = 0.0

    @property
    def wall_s(self) -> float:
        return max(0.0, self.finished_s - self.started_s)


@dataclass
class RunLog:
    """What the server observed: per-round cost, the layout of every reply, training progress."""

    rounds: dict[int, RoundCost] = field(default_factory=dict)
    reply_layouts: list[dict[str, Any]] = field(default_factory=list)  # distinct layouts only
    replies_checked: int = 0
    fit_history: list[dict[str, float]] = field(default_factory=list)
    evaluation: dict[str, float] = field(default_factory=dict)
    participation: dict[str, int] = field(default_factory=dict)  # node id -> rounds trained

    def cost(self, server_round: int) -> RoundCost:
        return self.rounds.setdefault(server_round, RoundCost(server_round))


def message_layout(message: Message) -> dict[str, Any]:
    """The keys and shapes of a message's records, never their values."""
    content = message.content
    return {
        "message_type": message.metadata.message_type,
        "array_records": {
            name: [_array_shape(record[k]) for k in record] for name, record in content.array_records.items()
        },
        "metric_records": {name: sorted(record) for name, record in content.metric_records.items()},
        "config_records": {name: sorted(record) for name, record in content.config_records.items()},
    }


def wire_bytes(message: Message) -> int:
    """Bytes a message puts on the wire: Flower sends a message as content-addressed objects (the
    message, its records, array chunks), each deflated; a SuperNode pulls its message's whole tree."""
    return sum(len(obj.deflate()) for obj in get_all_nested_objects(message).values())


def _array_shape(array: Any) -> list[int]:
    # Legacy (NumPyClient) replies carry serialised numpy arrays without their shape on the record.
    if array.shape:
        return [int(d) for d in array.shape]
    return [int(d) for d in bytes_to_ndarray(array.data).shape]


class MeteredGrid(Grid):
    """The Grid the workflows talk through: counts serialised bytes and time per round, and keeps
    the layout of every reply (what actually crossed the wire), without touching the messages."""

    def __init__(self, grid: Grid, log: RunLog) -> None:
        self.grid = grid
        self.log = log

    def set_run(self, run: Any) -> None:
        self.grid.set_run(run)

    @property
    def run(self) -> Any:
        return self.grid.run

    def create_message(self, *args: Any, **kwargs: Any) -> Message:
        return self.grid.create_message(*args, **kwargs)

    def get_node_ids(self) -> Iterable[int]:
        return self.grid.get_node_ids()

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        messages = list(messages)
        self._count_out(messages)
        return self.grid.push_messages(messages)

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        replies = list(self.grid.pull_messages(message_ids))
        self._count_in(replies)
        return replies

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        messages = list(messages)
        self._count_out(messages)
        replies = list(self.grid.send_and_receive(messages, timeout=timeout))
        self._count_in(replies)
        return replies

    def _count_out(self, messages: list[Message]) -> None:
        now = time.perf_counter()
        for m in messages:
            cost = self.log.cost(_round_of(m))
            cost.started_s = min(cost.started_s, now)
            cost.bytes_to_sites += wire_bytes(m)
            cost.messages += 1

    def _count_in(self, replies: list[Message]) -> None:
        now = time.perf_counter()
        for m in replies:
            cost = self.log.cost(_round_of(m))
            cost.finished_s = max(cost.finished_s, now)
            cost.bytes_from_sites += wire_bytes(m)
            cost.messages += 1
            if m.has_content():
                layout = message_layout(m)
                if layout not in self.log.reply_layouts:
                    self.log.reply_layouts.append(layout)


EVALUATION_ROUND = -1  # the cost bucket of the final held-out evaluation


def _round_of(message: Message) -> int:
    """The training round a message belongs to (SecAgg+ stages included); evaluation apart."""
    if message.metadata.message_type == "evaluate":
        return EVALUATION_ROUND
    group = message.metadata.group_id
    return int(group) if group.isdigit() else 0


class InspectingFedAvg(FedAvg):
    """Flower's FedAvg, aggregating with training.federated.aggregation.weighted_average after
    checking each reply is the model's parameters, a count and losses; evaluates on the sites'
    held-out people after the last round only."""

    def __init__(self, config: FederationConfig, initial: list[npt.NDArray[np.float32]], log: RunLog) -> None:
        self.config = config
        self.log = log
        self.parameter_shapes = [tuple(a.shape) for a in initial]
        self.latest = initial
        self.velocity: list[npt.NDArray[np.float32]] | None = None  # server momentum (FedAvgM)
        super().__init__(
            fraction_fit=config.fraction_fit,
            fraction_evaluate=1.0,
            min_fit_clients=config.min_sites,
            min_evaluate_clients=config.min_sites,
            min_available_clients=config.min_sites,
            initial_parameters=ndarrays_to_parameters(initial),
            on_fit_config_fn=lambda r: {"local-epochs": config.local_epochs, "server-round": r},
            accept_failures=False,
        )

    def configure_evaluate(self, server_round: int, parameters: Parameters, client_manager: Any) -> list[Any]:
        if server_round < self.config.rounds:
            return []
        return super().configure_evaluate(server_round, parameters, client_manager)

    def aggregate_fit(
        self,
        server_round: int,
        results: list[tuple[ClientProxy, FitRes]],
        failures: list[tuple[ClientProxy, FitRes] | BaseException],
    ) -> tuple[Parameters | None, dict[str, Scalar]]:
        if failures:
            raise RuntimeError(f"round {server_round}: {len(failures)} site(s) failed: {failures[:1]}")
        weights, counts, losses = [], [], []
        for proxy, fit in results:
            arrays = parameters_to_ndarrays(fit.parameters)
            if self.config.secagg:  # the SecAgg+ workflow hands over the unmasked sum, dequantised to float64
                arrays = [a.astype(np.float32) for a in arrays]
            check_reply(summarize_reply(arrays, fit.num_examples, fit.metrics), self.parameter_shapes)
            self.log.replies_checked += 1
            node = str(proxy.node_id)
            self.log.participation[node] = self.log.participation.get(node, 0) + 1
            weights.append(arrays)
            counts.append(fit.num_examples)
            losses.append(float(fit.metrics.get("train_loss", math.nan)))
        average = weighted_average(weights, counts)
        if self.config.server_momentum > 0:
            self.latest, self.velocity = server_momentum_step(
                self.latest, average, self.velocity, self.config.server_momentum
            )
        else:
            self.latest = average
        loss = float(np.average(losses, weights=counts)) if counts else math.nan
        self.log.fit_history.append({"round": server_round, "train_loss": loss, "sites": len(results)})
        return ndarrays_to_parameters(self.latest), {"train_loss": loss}

    def aggregate_evaluate(
        self, server_round: int, results: list[Any], failures: list[Any]
    ) -> tuple[float | None, dict[str, Scalar]]:
        totals: dict[str, float] = {}
        n_total = 0
        for _, res in results:
            summary = summarize_reply([], res.num_examples, res.metrics)
            check_reply(summary, [])
            self.log.replies_checked += 1
            n_total += res.num_examples
            for k, v in res.metrics.items():
                totals[k] = totals.get(k, 0.0) + float(v) * res.num_examples
        self.log.evaluation = {k: v / n_total for k, v in totals.items()} if n_total else {}
        self.log.evaluation["held_out_examples"] = float(n_total)
        return None, dict(self.log.evaluation)


def starting_weights(config: FederationConfig) -> list[npt.NDArray[np.float32]]:
    """The round-0 global model: the given .npz (same for every baseline) or a fresh seeded network."""
    network = new_network(config.model, config.seed)
    if not config.initial_weights:
        return parameter_arrays(network)
    return load_weights(Path(config.initial_weights), parameter_names(network))


def run_federation(grid: Grid, context: Context, config: FederationConfig) -> RunLog:
    """Run the rounds; write the log, initial and final weights, and the exported model to out_dir."""
    torch.set_num_threads(1)
    initial = starting_weights(config)
    log = RunLog()
    strategy = InspectingFedAvg(config, initial, log)
    legacy = LegacyContext(context, config=ServerConfig(num_rounds=config.rounds), strategy=strategy)
    fit_workflow = None
    if config.secagg:
        fit_workflow = SecAggPlusWorkflow(
            num_shares=1.0,  # every site holds a share of every other's secrets (few sites)
            reconstruction_threshold=2,
            max_weight=config.secagg_max_weight or SECAGG_MAX_WEIGHT[config.model],
        )
    started = time.perf_counter()
    DefaultWorkflow(fit_workflow=fit_workflow)(MeteredGrid(grid, log), legacy)
    total_s = time.perf_counter() - started
    if config.out_dir:
        try:
            export: dict[str, str] = {
                "onnx": str(export_model(config, strategy.latest, Path(config.out_dir) / "models", log))
            }
        except (ResponseExportError, RawExportError, ForecastExportError) as error:
            # e.g. heavy DP noise can push the weights where ORT and torch part by more than the
            # export tolerance; the run's log is still worth keeping, the model file is not.
            logger.error("the final model was not exported: %s", error)
            export = {"error": str(error)}
        # written last: its presence tells the demo the run is complete
        write_outputs(Path(config.out_dir), config, initial, strategy.latest, log, total_s, export)
    return log


def export_model(
    config: FederationConfig, final: list[npt.NDArray[np.float32]], models_dir: Path, log: RunLog
) -> Path:
    """The final weights through the central training's own ONNX export (checked against torch): for
    the response model the self-contained raw-input graph `train glucose` writes (servable, and what
    the phone bundle ships), for the forecast model `train forecast`'s graph."""
    network = new_network(config.model, config.seed)
    load_parameter_arrays(network, final)
    sites = [s for s in config.site_names.split(",") if s]
    provenance = (
        f"federated (Flower FedAvg{f', server momentum {config.server_momentum}' if config.server_momentum else ''}, "
        f"{config.rounds} rounds x {config.local_epochs} local epochs) over "
        f"{len(log.participation)} sites: {', '.join(sites) or 'unnamed'}; no site's records left it"
    )
    metrics: dict[str, object] = {
        "federated_held_out": log.evaluation,
        "privacy": privacy_summary(config, log),
    }
    if config.model == "response":
        data = {"federated": provenance, **{s: DATA_ATTRIBUTION.get(s.split("_")[0], s) for s in sites}}
        # The server never learns which people a site held out: that list stays at the sites.
        metadata = response_metadata(network, TrainConfig(), 1, data, [], metrics)  # type: ignore[arg-type]
        return export_trained_raw_response(network, metadata, models_dir / MODEL_NAME)
    metadata = forecast_metadata(network, ForecastTrainConfig(), "1", [provenance], [], metrics)
    return export_forecast(network, metadata, models_dir / FORECAST_NAME)


def privacy_summary(config: FederationConfig, log: RunLog) -> dict[str, Any]:
    if config.dp_clip <= 0:
        return {"client_dp": False}
    most = max(log.participation.values(), default=config.rounds)
    return {
        "client_dp": True,
        "clip_norm": config.dp_clip,
        "noise_multiplier": config.dp_noise,
        "delta": DEFAULT_DELTA,
        "rounds_a_site_took_part_in": most,
        "epsilon": epsilon(config.dp_noise, most, DEFAULT_DELTA),
        "accountant": "RDP of the Gaussian mechanism, composed over rounds, no sampling amplification; site-level",
    }


def write_outputs(
    out: Path,
    config: FederationConfig,
    initial: list[npt.NDArray[np.float32]],
    final: list[npt.NDArray[np.float32]],
    log: RunLog,
    total_s: float,
    export: dict[str, str],
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    names = parameter_names(new_network(config.model, config.seed))
    np.savez(out / INITIAL_WEIGHTS, **dict(zip(names, initial, strict=True)))  # type: ignore[arg-type]
    np.savez(out / FINAL_WEIGHTS, **dict(zip(names, final, strict=True)))  # type: ignore[arg-type]
    rounds = [
        {
            "round": c.round,
            "bytes_to_sites": c.bytes_to_sites,
            "bytes_from_sites": c.bytes_from_sites,
            "messages": c.messages,
            "wall_s": c.wall_s,
        }
        for c in sorted(log.rounds.values(), key=lambda c: c.round)
        if c.round > 0
    ]
    evaluation = log.rounds.get(EVALUATION_ROUND)
    payload = {
        "config": asdict(config),
        "parameters": int(sum(a.size for a in final)),
        "parameter_bytes": int(sum(a.nbytes for a in final)),
        "rounds": rounds,
        "total_wall_s": total_s,
        "fit_history": log.fit_history,
        "federated_evaluation": log.evaluation,
        "evaluation_cost": None
        if evaluation is None
        else {
            "bytes_to_sites": evaluation.bytes_to_sites,
            "bytes_from_sites": evaluation.bytes_from_sites,
            "wall_s": evaluation.wall_s,
        },
        "wire": {"replies_checked": log.replies_checked, "reply_layouts": log.reply_layouts},
        "privacy": privacy_summary(config, log),
        "sites_seen": len(log.participation),
        "export": export,
    }
    (out / SERVER_LOG).write_text(json.dumps(payload, indent=2))


def make_server_app(config: FederationConfig | None = None) -> ServerApp:
    """The ServerApp; without `config` (deployment) it reads the run config."""
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        run_federation(grid, context, config or FederationConfig.from_run_config(dict(context.run_config)))

    return app


app = make_server_app()
