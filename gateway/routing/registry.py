"""Strategy names -> implementations, imported lazily so optional pieces stay optional."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from gateway.errors import ConfigError

PREFIX = "llmrouter-"

# name -> "module:Class". Each class implements `RoutingStrategy` and a classmethod
# `load(artifact: Artifact | None, settings: StrategySettings) -> RoutingStrategy`.
STRATEGIES: dict[str, str] = {
    "llmrouter-knn": "gateway.routing.strategies.knn:KNNStrategy",
    "llmrouter-svm": "gateway.routing.strategies.svm:SVMStrategy",
    "llmrouter-mlp": "gateway.routing.strategies.mlp:MLPStrategy",
    "llmrouter-mf": "gateway.routing.strategies.mf:MFStrategy",
    "llmrouter-elo": "gateway.routing.strategies.elo:EloStrategy",
    "llmrouter-hybrid": "gateway.routing.strategies.hybrid:HybridStrategy",
    "llmrouter-graph": "gateway.routing.strategies.graph:GraphStrategy",
    "llmrouter-routerdc": "gateway.routing.strategies.routerdc:RouterDCStrategy",
    "llmrouter-personalized": "gateway.routing.strategies.personalized:PersonalizedStrategy",
    "llmrouter-gmt": "gateway.routing.strategies.gmt:GMTStrategy",
    "llmrouter-smallest": "gateway.routing.strategies.baselines:SmallestStrategy",
    "llmrouter-largest": "gateway.routing.strategies.baselines:LargestStrategy",
    "llmrouter-cost-aware": "gateway.routing.strategies.cost_aware:CostAwareStrategy",
    "llmrouter-quality": "gateway.routing.strategies.quality:QualityStrategy",
    "llmrouter-quality-logistic": "gateway.routing.strategies.quality_mlp:LogisticQualityStrategy",
    "llmrouter-quality-mlp": "gateway.routing.strategies.quality_mlp:MLPQualityStrategy",
    "llmrouter-automix": "gateway.routing.strategies.automix:AutomixStrategy",
    "llmrouter-causallm": "gateway.routing.strategies.causallm:CausalLMStrategy",
    "llmrouter-knn-multiround": "gateway.routing.strategies.multiround:KNNMultiRoundStrategy",
    "llmrouter-llm-multiround": "gateway.routing.strategies.multiround:LLMMultiRoundStrategy",
    "llmrouter-router-r1": "gateway.routing.strategies.router_r1:RouterR1Strategy",
}


@dataclass(frozen=True)
class LLMInfo:
    """One candidate model's facts from `llm_data_path` (LLMRouter's model list format)."""

    name: str
    size: float = 0.0  # billions of parameters, parsed from e.g. "7B"
    input_price: float = 0.0  # per million tokens
    output_price: float = 0.0
    feature: str = ""


@dataclass(frozen=True)
class StrategySettings:
    """What a strategy gets besides its artifact: model facts, embedder, and its own args."""

    llm_data: dict[str, LLMInfo] = field(default_factory=dict)
    args: dict[str, Any] = field(default_factory=dict)


def is_llmrouter(name: str | None) -> bool:
    return bool(name) and str(name).startswith(PREFIX)


def trainable() -> dict[str, type]:
    """Short name ("knn") -> strategy class, for every strategy that declares how it is trained."""
    classes = (resolve(name) for name in STRATEGIES)
    return {cls.name.removeprefix(PREFIX): cls for cls in classes if cls.training is not None}


def native_trainable() -> dict[str, type]:
    """Short name ("quality") -> strategy class, for the strategies the gateway trains itself (numpy)."""
    classes = (resolve(name) for name in STRATEGIES)
    return {cls.name.removeprefix(PREFIX): cls for cls in classes if getattr(cls, "native_training", "")}


def resolve(name: str, source: str = "<config>", key: str = "router_settings.routing_strategy") -> type:
    """The strategy class for `name`, or a ConfigError listing the valid names."""
    target = STRATEGIES.get(name)
    if target is None:
        raise ConfigError(source, key, f"unknown strategy '{name}'; valid: {', '.join(sorted(STRATEGIES))}")
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)
