"""The routing runtime: a loaded strategy bound to a config's deployments.

Holds the active strategy behind one reference so a reload can swap it atomically: a request
reads `runtime.active` once and uses that object to the end, old or new, never a mix.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.errors import ArtifactError, ConfigError
from gateway.routing.artifact import Artifact, load_artifact
from gateway.routing.base import LLMCaller, RoutingRequest, RoutingStrategy
from gateway.routing.encoders import encoder_for
from gateway.routing.registry import StrategySettings, resolve
from gateway.telemetry.decisions import DecisionRecord, record_decision

if TYPE_CHECKING:  # types only: gateway.config reads the strategy registry, so routing never imports it
    from gateway.config.loader import GatewayConfig
    from gateway.config.models import RoutingStrategyArgs


def routing_name(deployment: dict[str, Any]) -> str:
    """The name a strategy knows a deployment by: `model_info.llmrouter_name`, else the
    provider's model name without its `provider/` prefix (`openai/qwen2.5-7b` -> `qwen2.5-7b`)."""
    info = deployment.get("model_info") or {}
    if info.get("llmrouter_name"):
        return str(info["llmrouter_name"])
    return str(deployment["litellm_params"]["model"]).split("/", 1)[-1]


def query_text(messages: Sequence[dict[str, Any]] | None, input: Any = None) -> str:
    """The text a strategy routes on: the last user message (text parts joined)."""
    for message in reversed(list(messages or [])):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    if isinstance(input, str):
        return input
    if isinstance(input, list) and input and isinstance(input[0], str):
        return input[0]
    return ""


@dataclass(frozen=True)
class ActiveStrategy:
    """What is serving now: the strategy instance and where it came from."""

    strategy: RoutingStrategy
    artifact: Artifact | None
    #: the query encoder the artifact was trained on (None when the strategy reads no embedding)
    encoder: Any = None
    loaded_at: float = field(default_factory=time.time)

    @property
    def version(self) -> str:
        return self.artifact.version if self.artifact else ""


def build_strategy(name: str, args: RoutingStrategyArgs, source: str,
                   artifact_path: Path | None = None) -> ActiveStrategy:
    """Load the artifact (`artifact_path`, else `args.model_path`) and llm data, build the strategy."""
    cls = resolve(name, source)
    llm_data = {}
    if args.llm_data_path is not None:
        from gateway.routing.llm_data import load_llm_data

        llm_data = load_llm_data(args.llm_data_path)
    artifact = None
    if cls.needs_artifact:
        path = artifact_path or args.model_path
        if path is None:
            raise ConfigError(source, "router_settings.routing_strategy_args.model_path",
                              f"{name} needs a model: set model_path or model_s3_bucket/model_s3_key")
        try:
            artifact = load_artifact(path)
        except ArtifactError as exc:
            raise ConfigError(source, "router_settings.routing_strategy_args.model_path", str(exc)) from None
        if artifact.strategy not in (cls.artifact_strategies or (name,)):
            raise ConfigError(source, "router_settings.routing_strategy_args.model_path",
                              f"{path} holds a {artifact.strategy} model, not {name}")
    settings = StrategySettings(llm_data=llm_data, args=args.extra)
    try:
        strategy = cls.load(artifact, settings)
    except ArtifactError as exc:
        raise ConfigError(source, "router_settings.routing_strategy_args.model_path", str(exc)) from None
    except ConfigError as exc:  # strategies validate their own args; name the real file
        raise ConfigError(source, exc.key, exc.problem) from None
    encoder = None
    if strategy.needs_embedding and artifact is not None:
        try:
            encoder = encoder_for(artifact)
        except ArtifactError as exc:
            raise ConfigError(source, "router_settings.routing_strategy_args.model_path", str(exc)) from None
        encoder.embed("warm-up")  # tokenizer and weights ready now, not on the first request
    return ActiveStrategy(strategy=strategy, artifact=artifact, encoder=encoder)


class RoutingRuntime:
    """Routes requests for the model groups a config gives to an `llmrouter-*` strategy."""

    def __init__(self, config: GatewayConfig, active: ActiveStrategy, embedder: Any = None,
                 llm_call: LLMCaller | None = None):
        """`embedder`, when given, replaces every artifact's own encoder (tests and benchmarks)."""
        self.config = config
        self.name = config.strategy or ""
        if config.strategy_args is None:
            raise ConfigError(str(config.source), "router_settings.routing_strategy", "not an llmrouter strategy")
        self.args: RoutingStrategyArgs = config.strategy_args
        self.active = active
        self.embedder = embedder
        self.llm_call = llm_call
        self.groups = self._governed_groups(active)

    @classmethod
    def from_config(cls, config: GatewayConfig, embedder: Any = None,
                    artifact_path: Path | None = None) -> RoutingRuntime:
        if config.strategy is None or config.strategy_args is None:
            raise ConfigError(str(config.source), "router_settings.routing_strategy", "not an llmrouter strategy")
        active = build_strategy(config.strategy, config.strategy_args, str(config.source), artifact_path)
        if embedder is not None:
            embedder.embed("warm-up")  # load weights now, not on the first request
        return cls(config, active, embedder)

    def _groups_of_config(self) -> dict[str, list[str]]:
        groups: dict[str, list[str]] = {}
        for deployment in self.config.model_list:
            groups.setdefault(deployment["model_name"], []).append(routing_name(deployment))
        return groups

    def _governed_groups(self, active: ActiveStrategy) -> dict[str, list[str]]:
        """Model groups this strategy routes, checked against the artifact's candidates."""
        source = str(self.config.source)
        known = set(active.strategy.candidates)
        groups = self._groups_of_config()
        if self.args.model_groups is not None:
            missing = [g for g in self.args.model_groups if g not in groups]
            if missing:
                raise ConfigError(source, "router_settings.routing_strategy_args.model_groups",
                                  f"no such model group: {', '.join(missing)}; groups: {', '.join(sorted(groups))}")
            chosen = {g: groups[g] for g in self.args.model_groups}
        else:  # every group with a choice to make among deployments the strategy knows
            chosen = {g: names for g, names in groups.items() if len(names) > 1 and set(names) & known}
        if not chosen:
            raise ConfigError(source, "model_list",
                              f"no model group has deployments among the strategy's candidates "
                              f"({', '.join(sorted(known))})")
        all_names = {name for names in chosen.values() for name in names}
        lacking = sorted(known - all_names)
        if lacking:
            raise ConfigError(source, "model_list",
                              f"the {self.name} model's candidates {lacking} have no deployment in "
                              f"model groups {sorted(chosen)}; deployments there: {sorted(all_names)}")
        return chosen

    def swap(self, active: ActiveStrategy) -> None:
        """Serve `active` from the next request on, if its candidates fit this config's groups."""
        groups = self._governed_groups(active)
        self.active, self.groups = active, groups

    def governs(self, model_group: str) -> bool:
        return model_group in self.groups

    async def choose(self, model_group: str, deployments: list[dict[str, Any]],
                     messages: Sequence[dict[str, Any]] | None, input: Any = None,
                     user: str | None = None, team: str | None = None) -> dict[str, Any]:
        """Pick one of `deployments` (LiteLLM's healthy ones for this group) and record why."""
        active = self.active
        by_name: dict[str, dict[str, Any]] = {}
        for deployment in deployments:
            by_name.setdefault(routing_name(deployment), deployment)
        known = set(active.strategy.candidates)
        available = [name for name in by_name if name in known]
        if not available:
            return deployments[0]
        query = query_text(messages, input)
        encoder = self.embedder or active.encoder
        started = time.perf_counter()
        vector = None
        if active.strategy.needs_embedding and encoder is not None and not getattr(encoder, "inline", False):
            # MiniLM's numpy releases the GIL: it runs on a worker thread (the second core, when
            # there is one) while the event loop keeps serving; the static table (~0.03 ms) is
            # cheaper inline than the hop to a thread, so `request.embedding()` computes it there
            vector = await asyncio.to_thread(encoder.embed, query)
        request = RoutingRequest(
            query=query,
            messages=list(messages or []),
            user=user,
            team=team,
            embed=encoder.embed if encoder is not None else None,
            llm_call=self.llm_call,
            vector=vector,
        )
        decision = await active.strategy.select(request, available)
        elapsed_ms = (time.perf_counter() - started) * 1000
        record_decision(DecisionRecord(
            strategy=self.name,
            model_group=model_group,
            candidates=available,
            decision=decision,
            decision_ms=elapsed_ms,
            artifact_version=active.version,
            query=query if self.args.log_query_text else None,
        ))
        return by_name.get(decision.model, by_name[available[0]])
