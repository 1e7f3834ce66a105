"""llmrouter-knn-multiround and llmrouter-llm-multiround: decompose, route each part, vote.

LLMRouter's multi-round routers answer a query in four steps: decompose it into sub-queries,
route each sub-query (KNN on its embedding, or the decomposing LLM names a model per line as
`<sub-query>: <LLM name>`), execute each sub-query with its model, and aggregate the answers.
A gateway routing hook chooses one deployment for the whole request and cannot run the
execute/aggregate steps, so here the decision is the model most sub-queries were routed to
(ties: higher summed KNN vote share for knn-multiround, earlier first mention for
llm-multiround; then candidate order). The library's prompt files (`agent_decomp*.yaml`) are
not shipped in llmrouter-lib 0.4.0's wheel; the prompts below ask for the same line formats the
library parses.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any

from gateway.errors import ArtifactError, ConfigError
from gateway.routing.artifact import Artifact
from gateway.routing.base import Decision, RoutingRequest, RoutingStrategy
from gateway.routing.registry import StrategySettings
from gateway.routing.strategies import _common as c
from gateway.routing.strategies import _llm_assisted as llm

KNN_NAME = "llmrouter-knn"

DECOMP_PROMPT = """Decompose the question below into at most {max_parts} simpler, self-contained \
sub-questions that together answer it.
Write one sub-question per line, with no numbering and no other text. If the question is already simple, \
write it unchanged on a single line.

Question: {query}

Sub-questions:"""

DECOMP_ROUTE_PROMPT = """You route parts of a question to the language models best suited to answer them.

Available models: {model_list}

Model descriptions:
{model_descriptions}

Decompose the question below into at most {max_parts} simpler, self-contained sub-questions and choose, \
for each one, the model from the list above best suited to answer it.
Write one line per sub-question in exactly this format, with no numbering and no other text:
<sub-question>: <model name>

Question: {query}"""

_BULLET = re.compile(r"^\s*(?:[-*\u2022]+|\d+[.):]|sub-?(?:question|query)\s*\d*\s*[.:)])\s*", re.IGNORECASE)


def sub_queries(text: str, limit: int) -> list[str]:
    """Non-trivial lines, bullets and numbering removed (the library skips lines of <= 2 chars)."""
    parts = []
    for line in text.splitlines():
        line = _BULLET.sub("", line).strip()
        if len(line) > 2:
            parts.append(line)
    return parts[:limit]


def _vote(routes: Sequence[str], order: Sequence[str], weight: dict[str, float] | None = None) -> str:
    """Most routed model; ties by `weight` (higher first), then by position in `order`."""
    counts: dict[str, int] = {}
    for model in routes:
        counts[model] = counts.get(model, 0) + 1
    rank = {name: i for i, name in enumerate(order)}
    return min(counts, key=lambda m: (-counts[m], -(weight or {}).get(m, 0.0), rank.get(m, len(rank))))


def _majority(
    routes: list[str], order: Sequence[str], parts: int, weight: dict[str, float] | None = None, **detail: Any
) -> Decision:
    """The most routed model, every model's vote count as its score."""
    votes = {m: routes.count(m) for m in dict.fromkeys(routes)}
    return Decision(
        model=_vote(routes, order, weight),
        scores={m: float(v) for m, v in votes.items()},
        detail={"rule": "majority", "sub_queries": parts, "routes": routes, **detail},
    )


def _limit(own: dict[str, Any]) -> int:
    value = own["max_subqueries"]
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 16:
        raise ConfigError("<config>", f"{c.ARGS_KEY}.max_subqueries", f"value {value!r} must be 1..16")
    return value


class KNNMultiRoundStrategy(llm.LLMAssistedStrategy):
    """The router model decomposes; the KNN artifact routes every sub-query; majority wins.

    The artifact is an llmrouter-knn artifact (its `strategy` may say llmrouter-knn-multiround).
    If the router model fails, the whole query is one sub-query (the library does the same when
    it has no decomposer), so a router outage degrades to plain KNN routing.
    """

    name = "llmrouter-knn-multiround"
    needs_embedding = True
    needs_artifact = True
    artifact_strategies = ("llmrouter-knn-multiround", KNN_NAME)
    ARGS: dict[str, Any] = {"max_subqueries": 4, "knn_args": None}
    accepted_args = llm.accepted(ARGS)

    def __init__(
        self,
        common: llm.LLMArgs,
        settings: StrategySettings | None,
        knn: RoutingStrategy,
        max_parts: int,
        artifact: Artifact | None = None,
    ):
        super().__init__(common, settings, artifact)
        self.knn = knn
        self.max_parts = max_parts

    @classmethod
    def load(
        cls, artifact: Artifact | None, settings: StrategySettings | None = None
    ) -> KNNMultiRoundStrategy:
        from gateway.routing.strategies.knn import KNNStrategy

        if artifact is None:
            raise ArtifactError(
                f"strategy {cls.name} needs an llmrouter-knn routing artifact (set model_path)"
            )
        if artifact.strategy not in (cls.name, KNN_NAME):
            raise ArtifactError(
                f"{artifact.source or '<artifact>'}: artifact is for strategy '{artifact.strategy}', "
                f"not '{cls.name}' or '{KNN_NAME}'"
            )
        common, own = llm.parse_args(settings, cls.name, cls.ARGS, default_candidates=artifact.candidates)
        if set(common.candidates) != set(artifact.candidates):
            raise ConfigError(
                "<config>",
                f"{c.ARGS_KEY}.candidates",
                f"must match the KNN artifact's candidates {list(artifact.candidates)}",
            )
        knn_args = own["knn_args"] or {}
        if not isinstance(knn_args, dict):
            raise ConfigError("<config>", f"{c.ARGS_KEY}.knn_args", "must be a mapping of llmrouter-knn args")
        knn_settings = StrategySettings(llm_data=settings.llm_data if settings else {}, args=knn_args)
        knn = KNNStrategy.load(dataclasses.replace(artifact, strategy=KNN_NAME), knn_settings)
        return cls(common, settings, knn, _limit(own), artifact)

    async def select(self, request: RoutingRequest, available: Sequence[str]) -> Decision:
        common = self.common
        detail: dict[str, Any] = {}
        try:
            text = await llm.ask(
                request,
                common.router_model,
                DECOMP_PROMPT.format(max_parts=self.max_parts, query=request.query),
                common.router_timeout,
            )
            parts = sub_queries(text, self.max_parts) or [request.query]
            detail.update(llm.said(common, text))
        except llm.RouterCallFailed as exc:
            parts = [request.query]
            detail["fallback_reason"] = f"{exc.reason}; routed the whole query with KNN"
        routes: list[str] = []
        share: dict[str, float] = {}
        for part in parts:
            if part == request.query:
                sub = request
            else:
                sub = RoutingRequest(
                    query=part,
                    messages=[{"role": "user", "content": part}],
                    user=request.user,
                    team=request.team,
                    embed=request.embed,
                )
            decided = await self.knn.select(sub, available)
            routes.append(decided.model)
            share[decided.model] = share.get(decided.model, 0.0) + float(
                decided.scores.get(decided.model, 0.0)
            )
        return _majority(routes, self.candidates, len(parts), share, knn_share=share, **detail)


class LLMMultiRoundStrategy(llm.LLMAssistedStrategy):
    """The router model decomposes the query and names a model per sub-query; majority wins."""

    name = "llmrouter-llm-multiround"
    ARGS: dict[str, Any] = {"max_subqueries": 4}
    accepted_args = llm.accepted(ARGS)

    def __init__(self, common: llm.LLMArgs, settings: StrategySettings | None, max_parts: int):
        super().__init__(common, settings)
        self.max_parts = max_parts

    @classmethod
    def from_args(
        cls, common: llm.LLMArgs, settings: StrategySettings | None, own: dict[str, Any]
    ) -> LLMMultiRoundStrategy:
        return cls(common, settings, _limit(own))

    def prompt(self, query: str, available: Sequence[str]) -> str:
        offered = self.offered(available)
        return DECOMP_ROUTE_PROMPT.format(
            model_list=", ".join(offered),
            model_descriptions=self.described(offered),
            max_parts=self.max_parts,
            query=query,
        )

    def read_answer(self, text: str, available: Sequence[str]) -> Decision:
        lines = sub_queries(text, self.max_parts)
        routes = [model for line in lines if (model := llm.last_candidate(line, available)) is not None]
        if not routes:
            return self.unusable(text, available)
        return _majority(routes, list(dict.fromkeys(routes)), len(lines), **llm.said(self.common, text))
