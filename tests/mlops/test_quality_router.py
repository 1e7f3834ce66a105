"""llmrouter-quality: trained and calibrated on training data only, its dial read at load time."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.config.models import RoutingStrategyArgs
from gateway.errors import ConfigError
from gateway.mlops.dataset import RoutingDataset
from gateway.mlops.quality_router import train_quality_router
from gateway.routing import artifact as fmt
from gateway.routing.embedding import MiniLMEmbedder
from gateway.routing.registry import StrategySettings
from gateway.routing.runtime import build_strategy
from gateway.routing.static_embedding import StaticEmbedder
from gateway.routing.strategies.quality import QualityStrategy, dial_point

MODELS = ["cheap", "pricey"]


@pytest.fixture(scope="module")
def encoder() -> StaticEmbedder:
    """An 8-d table over MiniLM's vocabulary: the artifact must carry some encoder of its width."""
    tokenizer = MiniLMEmbedder().load().tokenizer
    table = np.random.default_rng(3).normal(size=(tokenizer.get_vocab_size(), 8))
    return StaticEmbedder(table, tokenizer.to_str())


def _dataset(rng, n: int = 400) -> tuple[RoutingDataset, np.ndarray]:
    """Two topics in 8-d: on topic A both models are right, on topic B only the pricey one is
    (and the cheap one half the time). The pricey model costs 10x."""
    topic = rng.integers(0, 2, size=n)
    centres = np.eye(8)[[0, 1]] * 3.0
    vectors = (centres[topic] + rng.normal(scale=0.5, size=(n, 8))).astype(np.float32)
    quality = np.stack([np.where(topic == 0, 1.0, (rng.random(n) < 0.5).astype(float)), np.ones(n)], axis=1)
    cost = np.tile([1.0, 10.0], (n, 1))
    return RoutingDataset([f"q{i}" for i in range(n)], list(MODELS), quality, cost, np.full((n, 2), np.nan)), vectors


@pytest.fixture(scope="module")
def trained(encoder, tmp_path_factory):
    rng = np.random.default_rng(0)
    dataset, vectors = _dataset(rng)
    files, report = train_quality_router(dataset, vectors, encoder=encoder, grid=((10, 0.0), (50, 5.0)))
    path = fmt.write_tar(files, tmp_path_factory.mktemp("quality") / "quality.tar")
    return fmt.load_artifact(path), report, _dataset(np.random.default_rng(1))


def test_the_best_single_model_and_the_curve_come_from_the_training_data(trained):
    artifact, report, _ = trained
    assert report["best_single"] == "pricey"  # right everywhere on the training rows
    assert report["n_neighbors"] in (10, 50) and len(report["grid"]) == 2
    assert report["curve"]["quality_ratio"][0] == pytest.approx(1.0, abs=0.02)  # lambda 0: as good as pricey
    assert report["curve"]["cost_ratio"][0] < 0.7  # ... while topic A goes to the cheap model
    assert report["curve"]["cost_ratio"][-1] == pytest.approx(0.1)  # lambda 1: everything to the cheap one
    assert artifact.params["best_single"] == "pricey"


def test_the_default_dial_keeps_the_best_single_models_quality_at_a_fraction_of_its_cost(trained):
    artifact, _, (held_out, vectors) = trained
    strategy = QualityStrategy.load(artifact)
    assert strategy.dial == "quality_target=1"
    chosen = np.array([MODELS.index(strategy.select_vector(v, MODELS).model) for v in vectors])
    rows = np.arange(len(chosen))
    assert held_out.quality[rows, chosen].mean() >= 0.97  # unseen rows: pricey alone scores 1.0
    assert held_out.cost[rows, chosen].mean() / 10.0 < 0.7


def test_a_cost_cap_trades_quality_for_cost_along_the_stored_curve(trained):
    artifact, _, (held_out, vectors) = trained
    loose = QualityStrategy.load(artifact, StrategySettings(args={"max_cost_ratio": 1.0}))
    tight = QualityStrategy.load(artifact, StrategySettings(args={"max_cost_ratio": 0.15}))
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


def test_two_dial_settings_at_once_are_refused_naming_the_second(trained):
    artifact = trained[0]
    with pytest.raises(ConfigError, match=r"routing_strategy_args\.max_cost_ratio: set one of"):
        QualityStrategy.load(artifact, StrategySettings(args={"quality_target": 1.0, "max_cost_ratio": 0.5}))
    with pytest.raises(ConfigError, match=r"routing_strategy_args\.cost_weight: value -1.0 must be >= 0"):
        QualityStrategy.load(artifact, StrategySettings(args={"cost_weight": -1}))
    with pytest.raises(ConfigError, match=r"routing_strategy_args\.target: not a setting of llmrouter-quality"):
        QualityStrategy.load(artifact, StrategySettings(args={"target": 1}))


def test_a_config_reload_with_another_dial_changes_lambda_without_retraining(trained):
    artifact = trained[0]
    before = build_strategy("llmrouter-quality", RoutingStrategyArgs(model_path=artifact.source), "cfg.yaml")
    after = build_strategy("llmrouter-quality", RoutingStrategyArgs(model_path=artifact.source, cost_weight=0.5),
                           "cfg.yaml")
    assert before.artifact.sha256 == after.artifact.sha256
    assert after.strategy.cost_weight == 0.5 and before.strategy.cost_weight != 0.5
