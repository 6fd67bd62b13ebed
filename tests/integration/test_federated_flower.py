"""The Flower apps end to end under Flower's simulation engine on two tiny canonical-layout sites:
what the server received (record keys, array shapes, metric names), the export, SecAgg+ giving the
same average as plain FedAvg, and the DP epsilon reported. Needs flwr (`make setup-federated`)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("flwr")
pytest.importorskip("onnxruntime")

from flwr.simulation import run_simulation

from glucose_model.impact import ResponsePredictor
from mealimpact.model_repository.loading import load_model
from mealimpact.model_repository.metadata import ResponseMetadata
from training.federated.client_app import ClientSettings, make_client_app
from training.federated.names import FINAL_WEIGHTS, INITIAL_WEIGHTS, SERVER_LOG
from training.federated.privacy import epsilon
from training.federated.server_app import FederationConfig, make_server_app
from training.federated.sites import SiteSpec
from training.federated.tasks import new_network, parameter_arrays
from training.glucose_raw_export import POPULATION_INPUT_NAMES, example_feed

TZ = timezone(timedelta(hours=8))


def write_site(folder: Path, gain: float, people: int = 4) -> SiteSpec:
    """A canonical cohort folder: `people` type 2 people, a day each, three meals rising gain mg/dL per g."""
    folder.mkdir(parents=True)
    cgm, meals = ["person_id,time,glucose_mg_dl"], ["person_id,time,carbs_g"]
    for p in range(people):
        start = datetime(2025, 4, 1, 5, 0, tzinfo=TZ) + timedelta(days=p)
        minutes = np.arange(0, 18 * 60, 5)
        glucose = np.full(minutes.shape, 100.0 + 4 * p)
        for hour, carbs in ((3, 30.0 + 9 * p), (8, 75.0), (13, 20.0)):
            meals.append(f"{folder.name}-{p},{(start + timedelta(hours=hour)).isoformat()},{carbs}")
            t = minutes - hour * 60
            glucose += np.where(t > 0, carbs * gain * (t / 45) * np.exp(1 - t / 45), 0.0)
        cgm += [
            f"{folder.name}-{p},{(start + timedelta(minutes=int(m))).isoformat()},{g:.1f}"
            for m, g in zip(minutes, glucose, strict=True)
        ]
    (folder / "people.csv").write_text(
        "person_id,kind\n" + "".join(f"{folder.name}-{p},type2\n" for p in range(people))
    )
    (folder / "cgm.csv").write_text("\n".join(cgm) + "\n")
    (folder / "meals.csv").write_text("\n".join(meals) + "\n")
    return SiteSpec(folder.name, folder, "canonical")


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> list[SiteSpec]:
    root = tmp_path_factory.mktemp("sites")
    return [write_site(root / "north", 0.7), write_site(root / "south", 1.3)]


def simulate(sites: list[SiteSpec], out: Path, **overrides: object) -> dict:
    config = FederationConfig(
        rounds=2, local_epochs=1, min_sites=2, out_dir=str(out), site_names="north,south"
    )
    config = FederationConfig(**{**config.__dict__, **overrides})
    settings = ClientSettings(dp_clip=config.dp_clip, dp_noise=config.dp_noise)
    run_simulation(
        server_app=make_server_app(config),
        client_app=make_client_app(sites, settings),
        num_supernodes=len(sites),
        backend_config={"client_resources": {"num_cpus": 1, "num_gpus": 0.0}},
    )
    return json.loads((out / SERVER_LOG).read_text())


@pytest.fixture(scope="module")
def plain_run(sites: list[SiteSpec], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("plain")
    return out, simulate(sites, out)


def test_only_parameters_counts_and_losses_reach_the_server(plain_run: tuple[Path, dict]) -> None:
    _, log = plain_run
    shapes = [list(a.shape) for a in parameter_arrays(new_network("response", 0))]
    layouts = log["wire"]["reply_layouts"]
    train = [x for x in layouts if x["message_type"] == "train"]
    evaluate = [x for x in layouts if x["message_type"] == "evaluate"]
    assert train and evaluate
    for layout in train:
        assert layout["array_records"] == {"fitres.parameters": shapes}
        assert layout["metric_records"] == {"fitres.num_examples": ["num_examples"]}
        assert layout["config_records"]["fitres.metrics"] == ["train_loss"]
        assert set(layout["config_records"]) == {"fitres.metrics", "fitres.status"}
    for layout in evaluate:
        assert all(not arrays for arrays in layout["array_records"].values())
        assert set(layout["config_records"]["evaluateres.metrics"]) <= {
            "curve_mae_mg_dl",
            "peak_rise_mae_mg_dl",
            "curve_rmse_60min_mg_dl",
            "iauc_2h_pearson_r",
        }
    assert log["wire"]["replies_checked"] == 2 * 2 + 2  # two rounds of two sites, one evaluation


def test_rounds_are_metered_and_the_model_is_trained_and_exported(plain_run: tuple[Path, dict]) -> None:
    out, log = plain_run
    assert [r["round"] for r in log["rounds"]] == [1, 2]
    for r in log["rounds"]:
        # each round sends the model to both sites and gets it back from both
        assert r["bytes_to_sites"] > 2 * log["parameter_bytes"]
        assert r["bytes_from_sites"] > 2 * log["parameter_bytes"]
        assert r["wall_s"] > 0
    with np.load(out / INITIAL_WEIGHTS) as a, np.load(out / FINAL_WEIGHTS) as b:
        assert a.files == b.files
        assert any(not np.allclose(a[k], b[k]) for k in a.files)
    assert log["export"] == {"onnx": str(out / "models" / "glucose_response" / "1" / "model.onnx")}
    # The graph `train glucose` writes: raw inputs in, the features built in the graph, passes the
    # repository's checks (config.pbtxt, graph and metadata agree) and the predictor takes it.
    model, session = load_model(out / "models" / "glucose_response")
    assert model.version == 1 and model.config.max_batch_size > 0
    assert [i.name for i in session.get_inputs()] == list(POPULATION_INPUT_NAMES)
    metadata = ResponseMetadata.from_props(model.metadata)
    assert metadata.network is not None and metadata.network["file"] is None
    assert "federated" in metadata.training_data
    assert metadata.held_out_people == []  # the server never learns who the sites held out
    assert ResponsePredictor(model.metadata, lambda feed: {}).raw
    rise, spike, _slope, features = session.run(
        None, {n: v for n, v in example_feed().items() if n in POPULATION_INPUT_NAMES}
    )
    assert rise.shape == (3, 37, 3) and spike.shape == (3, 1)
    assert np.isfinite(rise).all() and np.isfinite(features).all()
    assert log["federated_evaluation"]["held_out_examples"] > 0


def test_secure_aggregation_gives_the_same_average(
    sites: list[SiteSpec], plain_run: tuple[Path, dict], tmp_path: Path
) -> None:
    plain_out, _ = plain_run
    log = simulate(sites, tmp_path, secagg=True, secagg_max_weight=20.0)  # the tiny sites have ~9 meals
    layouts = [x for x in log["wire"]["reply_layouts"] if x["message_type"] == "train"]
    # the server saw SecAgg+ protocol records; no reply carried readable weights
    assert any("secaggplus_configs" in x["config_records"] for x in layouts)
    assert all(not any(x["array_records"].values()) for x in layouts)
    with np.load(plain_out / FINAL_WEIGHTS) as a, np.load(tmp_path / FINAL_WEIGHTS) as b:
        for k in a.files:  # equal up to SecAgg+'s quantisation
            np.testing.assert_allclose(a[k], b[k], atol=1e-3)


def test_client_dp_reports_the_epsilon_of_its_noise(sites: list[SiteSpec], tmp_path: Path) -> None:
    log = simulate(sites, tmp_path, dp_clip=0.05, dp_noise=0.5)
    privacy = log["privacy"]
    assert privacy["client_dp"] is True
    assert privacy["rounds_a_site_took_part_in"] == 2
    assert privacy["epsilon"] == pytest.approx(epsilon(0.5, 2, privacy["delta"]))
    with np.load(tmp_path / INITIAL_WEIGHTS) as a, np.load(tmp_path / FINAL_WEIGHTS) as b:
        moved = np.sqrt(sum(float(np.sum((b[k] - a[k]) ** 2)) for k in a.files))
    # two rounds, each the average of two sites' updates clipped to 0.05 plus N(0, 0.025^2) per weight:
    # the noise of the result is ~0.025 * sqrt(parameters); the clipped signal adds at most 0.1
    noise = 0.025 * np.sqrt(log["parameters"])
    assert 0.95 * noise < moved < 1.05 * noise + 0.1


def test_server_momentum_adds_the_carried_update_to_fedavg(
    sites: list[SiteSpec], plain_run: tuple[Path, dict], tmp_path: Path
) -> None:
    plain_out, _ = plain_run
    one_round = simulate(sites, tmp_path / "one", rounds=1)
    log = simulate(sites, tmp_path / "momentum", server_momentum=0.5)
    assert log["config"]["server_momentum"] == 0.5 and one_round["config"]["rounds"] == 1
    # Round 1 is plain FedAvg either way (w1); round 2's sites train from w1 in both runs, so with
    # momentum the result is the plain one plus 0.5 x the first round's update (w1 - w0).
    with (
        np.load(plain_out / FINAL_WEIGHTS) as plain,
        np.load(tmp_path / "one" / FINAL_WEIGHTS) as w1,
        np.load(plain_out / INITIAL_WEIGHTS) as w0,
        np.load(tmp_path / "momentum" / FINAL_WEIGHTS) as momentum,
    ):
        for k in plain.files:
            np.testing.assert_allclose(momentum[k], plain[k] + 0.5 * (w1[k] - w0[k]), atol=1e-5)
        assert any(not np.allclose(momentum[k], plain[k]) for k in plain.files)
