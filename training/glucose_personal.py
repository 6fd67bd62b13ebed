"""Train the person encoder (`response_network.PersonEncoder`) in episodes, on top of a frozen
population ResponseNetwork: each target meal is predicted from a random subset (0-50 meals) of the
same person's EARLIER meals, with their measured responses.

The population network is frozen, so its outputs for every meal are computed once; an episode is
then just indices into those arrays, and training takes seconds per epoch.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
import torch
from onnx import numpy_helper

from glucose_model.features import QUANTILES
from glucose_model.metrics import held_out_rows
from glucose_model.personal import MAX_HISTORY_MEALS, PERSON_FIELD_NAMES
from glucose_model.response_network import (
    PersonalResponseNetwork,
    PersonConfig,
    PersonEncoder,
    ResponseNetwork,
    personalise,
)
from training.glucose_train import MealExamples, TrainConfig, train_on_examples
from training.losses import pinball_loss

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PersonTrainConfig:
    seed: int = 0
    epochs: int = 40
    batch_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 1e-2
    # 0: the spike logit moves with the p50 peak (slope from the population head); trained on the
    # curve only. With 10 (the population weight) the validation loss never went below its start.
    spike_loss_weight: float = 0.0
    no_history_share: float = 0.15  # episodes with 0 past meals (the profile-only path)
    use_profile_fields: bool = True  # False: the profile fields stay out (for measuring what they add)
    validation_episodes: int = 8  # fixed episodes per validation meal (different history sizes)
    encoder: PersonConfig = field(default_factory=lambda: PersonConfig(profile_without_history=False))


@dataclass(frozen=True)
class PopulationOutputs:
    """The frozen population network on every meal: what the encoder starts from."""

    rise: torch.Tensor  # (N, 37, 3)
    logit: torch.Tensor  # (N,)
    slope: torch.Tensor  # (N,)
    x: torch.Tensor  # (N, F) normalised inputs of the meal as a past meal (HISTORY_FEATURES_KEPT)
    residuals: torch.Tensor  # (N, R) the meal as a past meal: measured vs population
    valid: torch.Tensor  # (N,) 1 when enough of its response was measured to serve as history
    features: torch.Tensor  # (N, F)
    person_fields: torch.Tensor  # (N, P)
    measured: torch.Tensor  # (N, 37)
    spiked: torch.Tensor  # (N,)


def population_outputs(
    base: ResponseNetwork, encoder: PersonEncoder, examples: MealExamples
) -> PopulationOutputs:
    i = examples.inputs
    base.eval()
    features = torch.from_numpy(i.features)
    cgm, mask = torch.from_numpy(i.cgm_rel_mg_dl), torch.from_numpy(i.cgm_mask)
    as_past = features * encoder.history_keep  # a past meal is seen as the app describes it
    with torch.no_grad():
        rise, logit, slope = base.forward_logits(cgm, mask, features)
        past_rise, _, _ = base.forward_logits(cgm, mask, as_past)
        measured = torch.from_numpy(examples.rise_mg_dl.astype(np.float32))
        residuals, valid = encoder.residuals(past_rise[:, :, 1], measured)
    return PopulationOutputs(
        rise,
        logit,
        slope,
        (as_past - encoder.feature_center) / encoder.feature_scale,
        residuals,
        valid,
        features,
        torch.from_numpy(examples._fields()),
        measured,
        torch.from_numpy(examples.spiked),
    )


def earlier_meals(examples: MealExamples) -> list[npt.NDArray[np.int64]]:
    """For each meal, the indices of the same person's meals strictly before it (oldest first)."""
    times = examples._times()
    out: list[npt.NDArray[np.int64]] = [np.zeros(0, np.int64)] * len(examples)
    for person in set(examples.person):
        rows = np.flatnonzero(examples.person == person)
        rows = rows[np.argsort(times[rows], kind="stable")]
        for j, r in enumerate(rows):
            out[r] = rows[:j][times[rows[:j]] < times[r]]
    return out


def sample_history(
    earlier: npt.NDArray[np.int64], rng: np.random.Generator, no_history_share: float
) -> npt.NDArray[np.int64]:
    """A random subset of the earlier meals, of a random size 0..min(50, available)."""
    available = min(len(earlier), MAX_HISTORY_MEALS)
    if available == 0 or rng.random() < no_history_share:
        return np.zeros(0, np.int64)
    n = int(rng.integers(1, available + 1))
    return np.sort(rng.choice(earlier, size=n, replace=False))


def episode_batch(
    targets: npt.NDArray[np.int64], histories: list[npt.NDArray[np.int64]], out: PopulationOutputs
) -> tuple[torch.Tensor, ...]:
    """(history x (B,H,F), residuals (B,H,R), valid (B,H)) for the given targets' histories."""
    h = max([1, *(len(x) for x in histories)])
    index = torch.zeros((len(targets), h), dtype=torch.long)
    present = torch.zeros((len(targets), h))
    for b, rows in enumerate(histories):
        index[b, : len(rows)] = torch.from_numpy(rows)
        present[b, : len(rows)] = 1.0
    valid = out.valid[index] * present
    return out.x[index], out.residuals[index] * present.unsqueeze(-1), valid


def predict_with_history(
    encoder: PersonEncoder,
    out: PopulationOutputs,
    targets: npt.NDArray[np.int64],
    histories: list[npt.NDArray[np.int64]],
) -> tuple[torch.Tensor, torch.Tensor]:
    """(rise (B,37,3), spike logit (B,)) of the target meals given their histories."""
    hx, hr, hv = episode_batch(targets, histories, out)
    t = torch.from_numpy(targets)
    log_scale, offset = encoder(out.features[t], out.person_fields[t], hx, hr, hv)
    return personalise(out.rise[t], out.logit[t], out.slope[t], log_scale, offset)


def _loss(
    encoder: PersonEncoder,
    out: PopulationOutputs,
    targets: npt.NDArray[np.int64],
    histories: list[npt.NDArray[np.int64]],
    config: PersonTrainConfig,
) -> torch.Tensor:
    rise, logit = predict_with_history(encoder, out, targets, histories)
    t = torch.from_numpy(targets)
    return pinball_loss(
        rise, out.measured[t], QUANTILES
    ) + config.spike_loss_weight * torch.nn.functional.binary_cross_entropy_with_logits(logit, out.spiked[t])


def concatenate_outputs(parts: list[PopulationOutputs]) -> PopulationOutputs:
    return PopulationOutputs(
        *(torch.cat([getattr(p, f) for p in parts]) for f in PopulationOutputs.__dataclass_fields__)
    )


def subset_outputs(out: PopulationOutputs, keep: npt.NDArray[np.bool_]) -> PopulationOutputs:
    index = torch.from_numpy(np.flatnonzero(keep))
    return PopulationOutputs(*(getattr(out, f)[index] for f in PopulationOutputs.__dataclass_fields__))


def crossfit_outputs(
    sim: MealExamples | None,
    train: MealExamples,
    base_config: TrainConfig,
    folds: int,
    encoder: PersonEncoder,
) -> tuple[MealExamples, PopulationOutputs]:
    """Population outputs of every training meal from a network that never saw its person.

    The shipped population network saw all training people, so its errors on them are smaller than
    on a new person; the encoder must learn from errors like the ones it will meet. Each fold of
    people is predicted by a network trained (same recipe) without them. Returns the examples in
    fold order and their outputs.
    """
    people = np.array(sorted(set(train.person)))
    fold_of = {
        p: i % folds for i, p in enumerate(np.random.default_rng(base_config.seed + 7).permutation(people))
    }
    fold = np.array([fold_of[p] for p in train.person])
    parts, outs = [], []
    for k in range(folds):
        held = sorted({p for p in people if fold_of[p] == k})
        result = train_on_examples(sim, train, base_config, held_out_people=held)
        part = train.subset(fold == k)
        parts.append(part)
        outs.append(population_outputs(result.network, encoder, part))
        logger.info("cross-fit fold %d: %d people, %d meals", k, len(held), len(part))
    return MealExamples.concatenate(parts), concatenate_outputs(outs)


def fit_encoder(
    base: ResponseNetwork,
    fit: MealExamples,
    validation: MealExamples,
    config: PersonTrainConfig,
    out_fit: PopulationOutputs | None = None,
    out_val: PopulationOutputs | None = None,
) -> tuple[PersonEncoder, list[float]]:
    """Train a PersonEncoder on `fit` people's episodes; keep the epoch best on `validation` people.

    `out_fit` / `out_val`: population outputs to learn from (cross-fitted); default: `base`'s.
    """
    torch.manual_seed(config.seed)
    encoder = PersonEncoder(base, config.encoder)
    known = np.isfinite(fit._fields()).any(axis=0) & config.use_profile_fields
    encoder.field_used.copy_(torch.from_numpy(known.astype(np.float32)))
    logger.info(
        "profile fields with training data: %s",
        [n for n, k in zip(PERSON_FIELD_NAMES, np.atleast_1d(known).tolist(), strict=True) if k],
    )
    out_fit = population_outputs(base, encoder, fit) if out_fit is None else out_fit
    out_val = population_outputs(base, encoder, validation) if out_val is None else out_val
    earlier_fit, earlier_val = earlier_meals(fit), earlier_meals(validation)
    rng = np.random.default_rng(config.seed)
    val_rng = np.random.default_rng(config.seed + 1)
    val_targets = np.repeat(np.arange(len(validation)), config.validation_episodes)
    val_histories = [sample_history(earlier_val[t], val_rng, config.no_history_share) for t in val_targets]
    optimizer = torch.optim.AdamW(
        encoder.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    steps = config.epochs * max(1, -(-len(fit) // config.batch_size))
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    history: list[float] = []
    encoder.eval()
    with torch.no_grad():
        start = float(_loss(encoder, out_val, val_targets, val_histories, config))
    best = (start, copy.deepcopy(encoder.state_dict()))
    logger.info("validation loss with the population model alone: %.3f", start)
    for epoch in range(config.epochs):
        encoder.train()
        order = rng.permutation(len(fit))
        for first in range(0, len(fit), config.batch_size):
            targets = order[first : first + config.batch_size]
            histories = [sample_history(earlier_fit[t], rng, config.no_history_share) for t in targets]
            loss = _loss(encoder, out_fit, targets, histories, config)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
        encoder.eval()
        with torch.no_grad():
            history.append(float(_loss(encoder, out_val, val_targets, val_histories, config)))
        logger.info("epoch %d validation loss %.3f", epoch, history[-1])
        if history[-1] < best[0]:
            best = (history[-1], copy.deepcopy(encoder.state_dict()))
    encoder.load_state_dict(best[1])
    encoder.eval()
    return encoder, [start, *history]


def latest_history(earlier: npt.NDArray[np.int64], k: int) -> npt.NDArray[np.int64]:
    """The k most recent earlier meals (oldest first)."""
    return earlier[len(earlier) - k :] if k > 0 else np.zeros(0, np.int64)


def load_response_weights(onnx_path: Path) -> ResponseNetwork:
    """The torch ResponseNetwork whose weights an exported response graph carries (initializers are
    named as the state dict; the band's softplus(band_carb_share) may be folded into a constant)."""
    model = onnx.load(str(onnx_path))
    prefix = "base."  # a personal graph holds the population network under base.
    arrays = {i.name.removeprefix(prefix): numpy_helper.to_array(i) for i in model.graph.initializer}
    network = ResponseNetwork()
    state = network.state_dict()
    for key in state:
        if key in arrays:
            state[key] = torch.from_numpy(np.array(arrays[key])).reshape(state[key].shape)
        elif key == "band_carb_share":
            folded = [a for a in arrays.values() if a.shape == (1, 2, 1)]
            if len(folded) != 1:
                raise ValueError(f"{onnx_path}: cannot find the band carb share in the graph")
            state[key] = torch.log(torch.expm1(torch.from_numpy(np.array(folded[0])).reshape(2)))
        else:
            raise ValueError(f"{onnx_path}: no initializer for {key}; not a ResponseNetwork export")
    network.load_state_dict(state)
    network.eval()
    return network


@dataclass(frozen=True)
class PersonalResult:
    network: PersonalResponseNetwork
    validation_loss: list[float]
    fit_meals: int
    validation_meals: int
    crossfit_folds: int
    seed: int  # the encoder seed kept


def train_personal(
    base: ResponseNetwork,
    sim: MealExamples | None,
    train: MealExamples,
    base_config: TrainConfig,
    config: PersonTrainConfig,
    folds: int = 5,
    seeds: int = 1,
) -> PersonalResult:
    """Cross-fit population outputs on the training people, then train the encoder on episodes.

    With `seeds` > 1 the encoder is trained from that many seeds (config.seed, +1, ...) on the same
    cross-fitted outputs and the one with the lowest validation loss is kept (the held-out people
    play no part in the choice).
    """
    ordered, outputs = crossfit_outputs(sim, train, base_config, folds, PersonEncoder(base, config.encoder))
    in_validation = held_out_rows(ordered.person, base_config.validation_fraction, base_config.seed + 1)
    best: tuple[float, PersonEncoder, list[float], int] | None = None
    for seed in range(config.seed, config.seed + seeds):
        encoder, losses = fit_encoder(
            base,
            ordered.subset(~in_validation),
            ordered.subset(in_validation),
            replace(config, seed=seed),
            subset_outputs(outputs, ~in_validation),
            subset_outputs(outputs, in_validation),
        )
        logger.info("encoder seed %d: validation loss %.3f -> %.3f", seed, losses[0], min(losses))
        if best is None or min(losses) < best[0]:
            best = (min(losses), encoder, losses, seed)
    assert best is not None
    return PersonalResult(
        PersonalResponseNetwork(base, best[1]),
        best[2],
        int((~in_validation).sum()),
        int(in_validation.sum()),
        folds,
        best[3],
    )
