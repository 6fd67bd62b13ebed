"""The Flower ClientApp a hospital runs next to its own CGM data.

It reads the site's folder (any layout the cohort loaders know; `data-path` in the SuperNode's
node config), keeps its held-out people aside, trains the global model for a few local epochs and
sends back only the weights, the number of training examples and the training loss (clipped and
noised first when differential privacy is on). Under Flower's simulation engine the site comes from
the virtual node's partition id instead.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
from flwr.app import Context, Message
from flwr.client import ClientApp, NumPyClient
from flwr.client.mod import secaggplus_mod
from flwr.clientapp.typing import ClientAppCallable
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS

from training.federated.names import NODE_CACHE_DIR, NODE_DATA_FORMAT, NODE_DATA_PATH, NODE_SITE
from training.federated.privacy import DpConfig
from training.federated.sites import HELD_OUT_FRACTION, SiteError, SiteSpec, load_site
from training.federated.tasks import (
    ModelTask,
    SiteTrainer,
    evaluation_summary,
    make_task,
    parameter_arrays,
    task_from_arrays,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClientSettings:
    """What every site is told by the run (the same for all sites)."""

    model: str = "response"
    seed: int = 0
    held_out_fraction: float = HELD_OUT_FRACTION
    folds: int = 0  # >= 2: the held-out people are fold `fold` of a K-fold split (sites.split_site)
    fold: int = 0
    dp_clip: float = 0.0  # 0: no clipping or noise
    dp_noise: float = 0.0

    @staticmethod
    def from_run_config(run_config: dict[str, object]) -> ClientSettings:
        return ClientSettings(
            model=str(run_config.get("model", "response")),
            seed=int(run_config.get("seed", 0)),  # type: ignore[call-overload]
            held_out_fraction=float(run_config.get("held-out-fraction", HELD_OUT_FRACTION)),  # type: ignore[arg-type]
            folds=int(run_config.get("folds", 0)),  # type: ignore[call-overload]
            fold=int(run_config.get("fold", 0)),  # type: ignore[call-overload]
            dp_clip=float(run_config.get("dp-clip", 0.0)),  # type: ignore[arg-type]
            dp_noise=float(run_config.get("dp-noise", 0.0)),  # type: ignore[arg-type]
        )

    def dp(self) -> DpConfig | None:
        return DpConfig(self.dp_clip, self.dp_noise) if self.dp_clip > 0 else None


# A deployment SuperNode starts a fresh process per message; the prepared examples are cached on
# the site's own disk (cache-dir) so a round does not re-read the raw files. Within one process
# (the simulation engine's actors) they are kept in memory.
_TASKS: dict[str, ModelTask] = {}


def _cache_key(spec: SiteSpec, settings: ClientSettings) -> str:
    text = json.dumps(
        [
            str(spec.folder.resolve()),
            spec.layout,
            settings.model,
            settings.seed,
            settings.held_out_fraction,
            settings.folds,
            settings.fold,
        ]
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def site_task(spec: SiteSpec, settings: ClientSettings, cache_dir: Path | None = None) -> ModelTask:
    """The site's model task, read once per process (and, with cache_dir, once per site)."""
    key = _cache_key(spec, settings)
    if key in _TASKS:
        return _TASKS[key]
    cache = cache_dir / f"{spec.name}-{key}.npz" if cache_dir is not None else None
    if cache is not None and cache.exists():
        with np.load(cache, allow_pickle=False) as arrays:
            task = task_from_arrays(settings.model, dict(arrays))
    else:
        site = load_site(spec, settings.held_out_fraction, settings.seed, settings.folds, settings.fold)
        task = make_task(settings.model, site.train, site.test)
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            partial = cache.with_suffix(".partial.npz")
            np.savez(partial, **task.arrays())  # type: ignore[arg-type]
            partial.replace(cache)  # two processes of one site never read a half-written file
    _TASKS[key] = task
    return task


class SiteClient(NumPyClient):
    """Flower's NumPyClient over a SiteTrainer: the arrays are the model's trainable parameters."""

    def __init__(self, trainer: SiteTrainer, model: str) -> None:
        self.trainer = trainer
        self.model = model

    def get_parameters(self, config: dict[str, object]) -> list[npt.NDArray[np.float32]]:
        return parameter_arrays(self.trainer.network)

    def fit(
        self, parameters: list[npt.NDArray[np.float32]], config: dict[str, object]
    ) -> tuple[list[npt.NDArray[np.float32]], int, dict[str, float]]:
        epochs = int(config.get("local-epochs", 1))  # type: ignore[call-overload]
        server_round = int(config.get("server-round", 0))  # type: ignore[call-overload]
        reply = self.trainer.fit(parameters, epochs, server_round)
        return reply.weights, reply.num_examples, reply.metrics

    def evaluate(
        self, parameters: list[npt.NDArray[np.float32]], config: dict[str, object]
    ) -> tuple[float, int, dict[str, float]]:
        n, metrics = self.trainer.evaluate(parameters)
        summary = evaluation_summary(self.model, metrics)
        loss = next(iter(summary.values()), float("nan"))
        return float(loss), n, summary


def optional_secaggplus_mod(msg: Message, ctxt: Context, call_next: ClientAppCallable) -> Message:
    """SecAgg+ when the server runs it (its messages carry the protocol's configs), plain otherwise."""
    if RECORD_KEY_CONFIGS in msg.content.config_records:
        return secaggplus_mod(msg, ctxt, call_next)
    return call_next(msg, ctxt)


def spec_from_node_config(node_config: dict[str, object]) -> SiteSpec:
    if NODE_DATA_PATH not in node_config:
        raise SiteError(
            f"this SuperNode has no '{NODE_DATA_PATH}' in its node config; start it with "
            f"--node-config \"{NODE_SITE}='name' {NODE_DATA_PATH}='/path/to/cohort'\""
        )
    path = Path(str(node_config[NODE_DATA_PATH]))
    return SiteSpec(
        str(node_config.get(NODE_SITE, path.name)), path, str(node_config.get(NODE_DATA_FORMAT, "auto"))
    )


def make_client_app(
    sites: Sequence[SiteSpec] | None = None, settings: ClientSettings | None = None
) -> ClientApp:
    """The ClientApp. With `sites` (simulation), virtual node i is sites[partition-id]; without,
    the site comes from the node config and the settings from the run config (deployment)."""

    def client_fn(context: Context) -> object:
        run_settings = settings or ClientSettings.from_run_config(dict(context.run_config))
        if sites is not None:
            spec = sites[int(context.node_config["partition-id"])]
            cache_dir = None
        else:
            spec = spec_from_node_config(dict(context.node_config))
            raw_cache = context.node_config.get(NODE_CACHE_DIR)
            cache_dir = Path(str(raw_cache)) if raw_cache else None
        torch.set_num_threads(1)  # small network, shared CPU: one thread is fastest
        task = site_task(spec, run_settings, cache_dir)
        trainer = SiteTrainer(task, run_settings.seed, run_settings.dp())
        return SiteClient(trainer, run_settings.model).to_client()

    return ClientApp(client_fn=client_fn, mods=[optional_secaggplus_mod])


app = make_client_app()
