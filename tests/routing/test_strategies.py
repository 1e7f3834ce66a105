"""Every inference-only strategy, loaded from a factory artifact, routes real embedded queries."""

from __future__ import annotations

import asyncio

import pytest

from gateway.errors import ConfigError, RoutingError
from gateway.routing.artifact import load_artifact
from gateway.routing.base import RoutingRequest
from gateway.routing.registry import StrategySettings, resolve
from tests.routing.artifact_factory import CODER, LARGE, LLM_DATA, SMALL

GENERAL = "Hi! What's the capital city of Canada?"
CODE = "Write a Python function to merge two sorted lists."
REASONING = "Prove that the sum of two odd numbers is always even, step by step."
ALL = [SMALL, CODER, LARGE]


def load(name, artifacts, **args):
    cls = resolve(name)
    artifact = load_artifact(artifacts[name]) if name in artifacts else None
    return cls.load(artifact, StrategySettings(llm_data=dict(LLM_DATA), args=args))


def route(strategy, embedder, query, available=ALL, user=None, team=None):
    embed = embedder.embed if embedder is not None else None
    request = RoutingRequest(query=query, embed=embed, user=user, team=team)
    return asyncio.run(strategy.select(request, available))


QUERY_AWARE = [
    "llmrouter-knn",
    "llmrouter-svm",
    "llmrouter-mlp",
    "llmrouter-mf",
    "llmrouter-graph",
    "llmrouter-routerdc",
    "llmrouter-personalized",
]


@pytest.mark.parametrize("name", QUERY_AWARE)
def test_query_aware_strategies_route_each_category_to_its_model(name, artifacts, embedder):
    strategy = load(name, artifacts)
    assert strategy.needs_embedding
    for query, expected in ((GENERAL, SMALL), (CODE, CODER), (REASONING, LARGE)):
        decision = route(strategy, embedder, query)
        assert decision.model == expected, (name, query, decision)
        assert set(decision.scores) <= set(ALL)


@pytest.mark.parametrize("name", QUERY_AWARE)
def test_unavailable_top_choice_falls_to_best_available(name, artifacts, embedder):
    strategy = load(name, artifacts)
    decision = route(strategy, embedder, CODE, available=[SMALL, LARGE])
    assert decision.model in (SMALL, LARGE)
    assert decision.detail["fallback_from"] == CODER
    assert decision.detail["unavailable"] == [CODER]


def test_knn_falls_back_to_nearest_available_when_no_neighbour_votes_for_one(artifacts, embedder):
    decision = route(load("llmrouter-knn", artifacts), embedder, CODE, available=[SMALL, LARGE])
    assert decision.detail["rule"] == "nearest-available"


def test_no_available_candidate_is_a_routing_error(artifacts, embedder):
    with pytest.raises(RoutingError, match="none of the strategy's candidates"):
        route(load("llmrouter-knn", artifacts), embedder, CODE, available=["other-model"])


def test_elo_picks_highest_rating_regardless_of_query(artifacts, embedder):
    strategy = load("llmrouter-elo", artifacts)
    assert not strategy.needs_embedding
    assert route(strategy, None, "anything").model == LARGE
    assert route(strategy, None, "anything", available=[SMALL, CODER]).model == CODER


def test_hybrid_sends_general_to_small_and_hard_to_large(artifacts, embedder):
    strategy = load("llmrouter-hybrid", artifacts)
    assert route(strategy, embedder, GENERAL).model == SMALL
    assert route(strategy, embedder, REASONING).model == LARGE
    assert route(strategy, embedder, GENERAL, available=[LARGE]).model == LARGE


def test_hybrid_threshold_arg_overrides_the_artifact(artifacts, embedder):
    always_large = load("llmrouter-hybrid", artifacts, threshold=1.01)
    assert route(always_large, embedder, GENERAL).model == LARGE


def test_baselines_use_llm_data_sizes_without_artifact(embedder):
    smallest = resolve("llmrouter-smallest").load(None, StrategySettings(llm_data=dict(LLM_DATA)))
    largest = resolve("llmrouter-largest").load(None, StrategySettings(llm_data=dict(LLM_DATA)))
    assert route(smallest, None, "x").model == SMALL
    assert route(largest, None, "x").model == LARGE
    assert route(largest, None, "x", available=[SMALL, CODER]).model == CODER
    assert route(smallest, None, "x").scores == {SMALL: 1.0, CODER: 7.0, LARGE: 70.0}


def test_baselines_without_sizes_are_a_config_error():
    with pytest.raises(ConfigError, match="llm_data_path"):
        resolve("llmrouter-largest").load(None, StrategySettings())


def test_cost_aware_trades_quality_for_price(artifacts, embedder):
    quality_only = load("llmrouter-cost-aware", artifacts, cost_weight=0.0)
    thrifty = load("llmrouter-cost-aware", artifacts, cost_weight=2.0)
    assert route(quality_only, embedder, REASONING).model == LARGE
    assert route(thrifty, embedder, REASONING).model != LARGE
    decision = route(quality_only, embedder, CODE)
    assert decision.model == CODER
    assert set(decision.detail["quality"]) == set(ALL)


def test_cost_aware_needs_prices_for_every_candidate(artifacts):
    cls = resolve("llmrouter-cost-aware")
    with pytest.raises(ConfigError, match="needs prices"):
        cls.load(load_artifact(artifacts["llmrouter-cost-aware"]), StrategySettings())


def test_personalized_uses_user_then_team(artifacts, embedder):
    strategy = load("llmrouter-personalized", artifacts)
    assert route(strategy, embedder, REASONING, user="alice").model == CODER
    assert route(strategy, embedder, REASONING, user="bob", team="research").model == LARGE
    decision = route(strategy, embedder, REASONING, user="bob")
    assert decision.model == LARGE and decision.detail["identity"] == "unknown"
    team_only = load("llmrouter-personalized", artifacts, identity="team")
    assert route(team_only, embedder, REASONING, user="alice").model == LARGE


def test_gmt_prefers_per_user_and_falls_back_for_unknown_users(artifacts):
    strategy = load("llmrouter-gmt", artifacts)
    assert not strategy.needs_embedding
    assert route(strategy, None, "q", user="u0").model == SMALL
    assert route(strategy, None, "q", user="u1").model == CODER
    assert route(strategy, None, "q", user="nobody").model == LARGE
    assert route(strategy, None, "q", user="u1", available=[SMALL, LARGE]).model in (SMALL, LARGE)


def test_unknown_strategy_arg_is_a_config_error(artifacts):
    with pytest.raises(ConfigError, match="cost_weigth.*valid: cost_weight"):
        load("llmrouter-cost-aware", artifacts, cost_weigth=0.2)
    with pytest.raises(ConfigError, match="not a setting of llmrouter-knn"):
        load("llmrouter-knn", artifacts, k=3)
