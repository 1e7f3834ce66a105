"""The quality routers (llmrouter-quality, -quality-logistic, -quality-mlp): trained and calibrated on
training data only, their dial read at load time, the artifact choosing what the trainer chose."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from gateway.config.models import RoutingStrategyArgs
from gateway.errors import ConfigError
from gateway.mlops.dataset import RoutingDataset, ScoreWeights, read_training_dir, write_training_dir
from gateway.mlops.errors import DatasetError
from gateway.mlops.quality_fit import fit_logistic
from gateway.mlops.quality_router import STRATEGIES, train_quality_router
from gateway.routing import artifact as fmt
from gateway.routing.embedding import MiniLMEmbedder
from gateway.routing.registry import StrategySettings
from gateway.routing.runtime import build_strategy
from gateway.routing.static_embedding import StaticEmbedder
from gateway.routing.strategies.quality import QualityStrategy
from gateway.routing.strategies.quality_dial import dial_point, unit_rows

MODELS = ["cheap", "pricey"]


@pytest.fixture(scope="module")
def encoder() -> StaticEmbedder:
    """An 8-d table over MiniLM's vocabulary: the artifact must carry some encoder of its width."""
    tokenizer = MiniLMEmbedder().load().tokenizer
    table = np.random.default_rng(3).normal(size=(tokenizer.get_vocab_size(), 8))
    return StaticEmbedder(table, tokenizer.to_str())


def _dataset(rng, n: int = 400, prefix: str = "q") -> tuple[RoutingDataset, np.ndarray]:
    """Two topics in 8-d: on topic A both models are right, on topic B only the pricey one is
    (and the cheap one half the time). The pricey model costs 10x. Queries `<prefix><i>`."""
    topic = rng.integers(0, 2, size=n)
    centres = np.eye(8)[[0, 1]] * 3.0
    vectors = (centres[topic] + rng.normal(scale=0.5, size=(n, 8))).astype(np.float32)
    quality = np.stack([np.where(topic == 0, 1.0, (rng.random(n) < 0.5).astype(float)), np.ones(n)], axis=1)
    cost = np.tile([1.0, 10.0], (n, 1))
    queries = [f"{prefix}{i}" for i in range(n)]
    return RoutingDataset(queries, list(MODELS), quality, cost, np.full((n, 2), np.nan)), vectors


# two grid points per predictor, small enough for make test
GRIDS = {"knn": ((10, 0.0), (50, 5.0)), "logistic": ({"l2": 1.0}, {"l2": 10.0}),
         "mlp": ({"hidden": 16, "epochs": 20}, {"hidden": 16, "epochs": 60})}


@pytest.fixture(scope="module", params=sorted(GRIDS))
def training(request, encoder):
    dataset, vectors = _dataset(np.random.default_rng(0))
    return train_quality_router(dataset, vectors, encoder=encoder, grid=GRIDS[request.param], kind=request.param)


@pytest.fixture(scope="module")
def trained(training, tmp_path_factory):
    path = fmt.write_tar(training.files, tmp_path_factory.mktemp("quality") / "quality.tar")
    return fmt.load_artifact(path), training.report, _dataset(np.random.default_rng(1), prefix="held-out ")


def _strategy(artifact, args=None):
    return next(cls for cls in STRATEGIES.values() if cls.name == artifact.strategy).load(
        artifact, StrategySettings(args=args or {}))


def test_the_best_single_model_and_the_curve_come_from_the_training_data(trained):
    artifact, report, _ = trained
    assert report["best_single"] == "pricey"  # right everywhere on the training rows
    assert len(report["grid"]) == 2
    assert report["choice"] in [{key: point[key] for key in report["choice"]} for point in report["grid"]]
    assert report["curve"]["quality_ratio"][0] == pytest.approx(1.0, abs=0.02)  # lambda 0: as good as pricey
    point = report["default_point"]  # the best quality, at the cheapest lambda reaching it
    assert point["quality_ratio"] == pytest.approx(1.0, abs=0.02)
    assert point["cost_ratio"] < 0.7  # ... topic A goes to the cheap model
    assert report["curve"]["cost_ratio"][-1] == pytest.approx(0.1)  # lambda 1: everything to the cheap one
    assert artifact.params["best_single"] == "pricey"


@pytest.mark.parametrize("args", [{}, {"quality_target": 1.0}])
def test_the_default_dial_keeps_the_best_single_models_quality_at_a_fraction_of_its_cost(trained, args):
    artifact, _, (held_out, vectors) = trained
    strategy = _strategy(artifact, args)
    assert strategy.dial == ("quality_target=1" if args else "best_quality")
    chosen = np.array([MODELS.index(strategy.select_vector(v, MODELS).model) for v in vectors])
    rows = np.arange(len(chosen))
    assert held_out.quality[rows, chosen].mean() >= 0.97  # unseen rows: pricey alone scores 1.0
    assert held_out.cost[rows, chosen].mean() / 10.0 < 0.7


def test_a_cost_cap_trades_quality_for_cost_along_the_stored_curve(trained):
    artifact, _, (held_out, vectors) = trained
    loose = _strategy(artifact, {"max_cost_ratio": 1.0})
    tight = _strategy(artifact, {"max_cost_ratio": 0.15})
    assert tight.cost_weight > loose.cost_weight
    assert tight.expected["cost_ratio"] <= 0.15
    shares = [np.mean([s.select_vector(v, MODELS).model == "cheap" for v in vectors]) for s in (loose, tight)]
    assert shares[1] > shares[0]


def test_dial_points_follow_their_settings():
    lam, q, c = np.array([0.0, 0.1, 0.2, 0.3]), np.array([1.02, 1.0, 0.97, 0.9]), np.array([0.8, 0.6, 0.4, 0.2])
    assert dial_point(lam, q, c, "quality_target", 1.0) == 1  # cheapest point reaching 1.0
    assert dial_point(lam, q, c, "quality_target", 1.1) == 0  # unreachable: the best quality
    assert dial_point(lam, q, c, "max_cost_ratio", 0.5) == 2  # best quality within 0.5
    assert dial_point(lam, q, c, "max_cost_ratio", 0.1) == 3  # nothing that cheap: the cheapest
    assert dial_point(lam, q, c, "best_quality") == 0  # the default: the best quality
    assert dial_point(lam, np.array([1.0, 1.0, 0.9, 0.9]), c, "best_quality") == 1  # ... the cheapest of equals


def test_two_dial_settings_at_once_are_refused_naming_the_second(encoder, tmp_path):
    dataset, vectors = _dataset(np.random.default_rng(0))
    files = train_quality_router(dataset, vectors, encoder=encoder, grid=((10, 0.0),)).files
    artifact = fmt.load_artifact(fmt.write_tar(files, tmp_path / "quality.tar"))
    with pytest.raises(ConfigError, match=r"routing_strategy_args\.max_cost_ratio: set one of"):
        QualityStrategy.load(artifact, StrategySettings(args={"quality_target": 1.0, "max_cost_ratio": 0.5}))
    with pytest.raises(ConfigError, match=r"routing_strategy_args\.cost_weight: value -1.0 must be >= 0"):
        QualityStrategy.load(artifact, StrategySettings(args={"cost_weight": -1}))
    with pytest.raises(ConfigError, match=r"routing_strategy_args\.target: not a setting of llmrouter-quality"):
        QualityStrategy.load(artifact, StrategySettings(args={"target": 1}))


def test_a_config_reload_with_another_dial_changes_lambda_without_retraining(trained):
    artifact = trained[0]
    before = build_strategy(artifact.strategy, RoutingStrategyArgs(model_path=artifact.source), "cfg.yaml")
    after = build_strategy(artifact.strategy, RoutingStrategyArgs(model_path=artifact.source, cost_weight=0.5),
                           "cfg.yaml")
    assert before.artifact.sha256 == after.artifact.sha256
    assert after.strategy.cost_weight == 0.5 and before.strategy.cost_weight != 0.5


def test_the_artifact_chooses_what_its_trainer_chose(training, trained):
    """Parity for the strategies the gateway trains itself: the exported artifact, read by the
    serving class, against the trainer's own model (the reference `train_all` records)."""
    artifact, _, (_, vectors) = trained
    strategy = _strategy(artifact)
    assert [strategy.select_vector(v, MODELS).model for v in vectors] == training.choose(vectors)


def test_the_training_dir_reads_back_as_the_dataset_it_was_written_from(tmp_path):
    dataset, _ = _dataset(np.random.default_rng(0), n=30)
    dataset.quality[3, 1] = np.nan  # not observed: no row written, NaN read back
    dataset.tasks = ["a" if i % 3 else "b" for i in range(30)]
    back = read_training_dir(write_training_dir(dataset, ScoreWeights(), tmp_path))
    assert back.queries == dataset.queries and back.models == dataset.models and back.tasks == dataset.tasks
    np.testing.assert_array_equal(back.quality, dataset.quality)
    np.testing.assert_array_equal(back.cost[np.isfinite(dataset.quality)], dataset.cost[np.isfinite(dataset.quality)])


def test_logistic_fit_matches_the_closed_form_optimum():
    """Newton's method reaches the regularised optimum: the gradient vanishes there, and the fit
    separates what is separable."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(300, 4))
    y = (x[:, :1] + 0.1 * rng.normal(size=(300, 1)) > 0).astype(float)
    weight = np.ones_like(y)
    path = fit_logistic(x, y, weight, l2=(10.0, 1.0))
    assert np.abs(path[10.0][0]).sum() < np.abs(path[1.0][0]).sum()  # stronger: smaller weights
    w, b = path[1.0]  # fitted after 10.0, from its solution: the optimum all the same
    p = 1 / (1 + np.exp(-(x @ w + b)))
    gradient = x.T @ (p - y) + 1.0 * w
    assert np.abs(gradient).max() < 1e-6 and abs((p - y).sum()) < 1e-6
    assert np.mean((p[:, 0] > 0.5) == (y[:, 0] > 0.5)) > 0.9


def test_a_probability_predictor_refuses_quality_outside_0_1(encoder):
    dataset, vectors = _dataset(np.random.default_rng(0), n=40)
    dataset.quality[0, 0] = 7.0  # a judge's 1-10 score, not scaled
    with pytest.raises(DatasetError, match=r"llmrouter-quality-logistic predicts a probability: quality must be in "
                                           r"\[0, 1\].*0\.\.7"):
        train_quality_router(dataset, vectors, encoder=encoder, grid=({"l2": 1.0},), kind="logistic")


def test_the_heldout_curve_reports_every_lambda_with_paired_errors_and_the_dials_point(trained, tmp_path):
    import xml.etree.ElementTree as ET

    from gateway.mlops.curve_report import chosen_index, heldout_curve, write_curve_report

    artifact, _, (held_out, vectors) = trained
    strategy = _strategy(artifact, {"max_cost_ratio": 0.15})
    points = heldout_curve(strategy, held_out, vectors, "pricey")
    assert [p.cost_weight for p in points] == list(strategy.curve[0])
    last = points[-1]  # lambda 1: everything to the cheap model, right half the time on topic B
    cheap = held_out.quality[:, 0]
    assert last.quality == pytest.approx(cheap.mean()) and last.cost_ratio == pytest.approx(0.1)
    assert last.diff == pytest.approx((cheap - 1.0).mean())
    assert last.diff_stderr == pytest.approx(cheap.std(ddof=1) / np.sqrt(len(cheap)))
    chosen = chosen_index(strategy, points)
    assert points[chosen].cost_weight == strategy.cost_weight
    files = write_curve_report(points, chosen, tmp_path, "q", "test curve")
    assert "**(dial)**" in files["markdown"].read_text()
    assert ET.parse(files["svg"]).getroot().tag.endswith("svg")


# -- recall: a training query is routed by what was observed for it (recall.py) ---------------------------------

def _topic_b_row_cheap_got_right(dataset: RoutingDataset, vectors: np.ndarray) -> int:
    """A training row of topic B (where the cheap model is right only half the time) that it got right."""
    return next(i for i in range(len(dataset)) if vectors[i, 1] > vectors[i, 0] and dataset.quality[i, 0] == 1.0)


def test_a_training_query_goes_to_the_cheapest_model_observed_right_without_an_embedding(training, trained):
    from gateway.routing.base import RoutingRequest

    artifact = trained[0]
    dataset, vectors = _dataset(np.random.default_rng(0))  # the training rows
    row = _topic_b_row_cheap_got_right(dataset, vectors)
    served = _strategy(artifact)
    assert len(served.recall) == len(dataset)

    def embed(text):
        raise AssertionError("a fully observed training query needs no embedding")

    recalled = asyncio.run(served.select(RoutingRequest(query=f"  {dataset.queries[row]}\n", embed=embed), MODELS))
    assert recalled.model == "cheap" and recalled.detail["recalled"] is True
    predicted = _strategy(artifact, {"recall_seen": False})
    assert len(predicted.recall) == 0
    unrecalled = asyncio.run(predicted.select(RoutingRequest(query=dataset.queries[row], vector=vectors[row]), MODELS))
    assert unrecalled.model == "pricey" and unrecalled.detail["recalled"] is False  # topic B: the cheap one is a coin
    # the trainer's own routing recalls the same way (the parity reference with query texts)
    assert training.choose(vectors[row:row + 1], [dataset.queries[row]]) == ["cheap"]
    assert training.choose(vectors[row:row + 1]) == ["pricey"]


def test_a_partly_observed_training_query_keeps_the_prediction_where_nothing_was_observed(encoder, tmp_path):
    dataset, vectors = _dataset(np.random.default_rng(0), n=60)
    row = _topic_b_row_cheap_got_right(dataset, vectors)
    dataset.quality[row, 1] = np.nan  # the pricey model never answered it
    artifact = fmt.load_artifact(fmt.write_tar(train_quality_router(dataset, vectors, encoder=encoder,
                                                                    grid=((10, 0.0),)).files, tmp_path / "q.tar"))
    strategy = _strategy(artifact)
    recalled = strategy.recall.lookup(dataset.queries[row])
    assert recalled[0] == 1.0 and np.isnan(recalled[1])
    both = strategy.predicted_for([dataset.queries[row]], vectors[row:row + 1])[0]
    assert both[0] == 1.0
    assert both[1] == pytest.approx(strategy.predicted_quality(unit_rows(vectors[row:row + 1]))[0, 1])


def test_the_artifact_keeps_hashes_of_the_training_queries_not_their_text(encoder, tmp_path):
    dataset, vectors = _dataset(np.random.default_rng(0), n=40, prefix="a secret prompt number ")
    files = train_quality_router(dataset, vectors, encoder=encoder, grid=((10, 0.0),)).files
    packed = fmt.write_tar(files, tmp_path / "q.tar").read_bytes()
    assert b"secret prompt" not in packed
    arrays = fmt.load_artifact(tmp_path / "q.tar").arrays
    assert arrays["recall_keys"].shape == (40, 16) and arrays["recall_keys"].dtype == np.uint8


def test_bad_recall_arrays_or_setting_are_refused_naming_them(encoder, tmp_path):
    from gateway.errors import ArtifactError

    dataset, vectors = _dataset(np.random.default_rng(0), n=40)
    files = train_quality_router(dataset, vectors, encoder=encoder, grid=((10, 0.0),)).files
    artifact = fmt.load_artifact(fmt.write_tar(files, tmp_path / "q.tar"))
    with pytest.raises(ConfigError, match=r"routing_strategy_args\.recall_seen: value 'yes' must be true or false"):
        QualityStrategy.load(artifact, StrategySettings(args={"recall_seen": "yes"}))
    arrays = dict(artifact.arrays)
    arrays["recall_quality"] = arrays["recall_quality"][:, :1]
    bad = fmt.build_files(strategy=artifact.strategy, version="bad", candidates=list(artifact.candidates),
                          arrays=arrays, params=artifact.params, embedding=artifact.embedding)
    with pytest.raises(ArtifactError, match=r"array 'recall_quality' must be float of shape \(40, 2\)"):
        QualityStrategy.load(fmt.load_artifact(fmt.write_tar(bad, tmp_path / "bad.tar")))
