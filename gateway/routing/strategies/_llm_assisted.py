"""What the LLM-assisted strategies share: their args, the guarded router-model call, name parsing.

These strategies ask a *router model* (a model group of the same LiteLLM config, reached through
`RoutingRequest.llm_call`) to help decide. A router-model hiccup (timeout, HTTP error, garbage)
never fails the user's request: the strategy falls back to `default_model` and says why in
`Decision.detail["fallback_reason"]`.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.errors import ConfigError
from gateway.routing.base import Decision, RoutingRequest
from gateway.routing.registry import StrategySettings
from gateway.routing.strategies import _common as c

log = logging.getLogger(__name__)

#: args every LLM-assisted strategy accepts (value None: required or derived)
COMMON_DEFAULTS: dict[str, Any] = {
    "router_model": None,  # model group the strategy asks; required
    "router_timeout": 5.0,  # seconds per router-model call
    "default_model": None,  # candidate used when the router model fails; default per strategy
    "candidates": None,  # candidate names; default: the models in llm_data_path
    "detail_chars": 200,  # how much of the router's answer goes into Decision.detail (0: none)
}


@dataclass(frozen=True)
class LLMArgs:
    """Validated common args."""

    router_model: str
    router_timeout: float
    candidates: tuple[str, ...]
    default_model: str
    detail_chars: int


class RouterCallFailed(Exception):
    """The router model did not answer usably; `reason` goes into the Decision detail."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def parse_args(
    settings: StrategySettings | None,
    name: str,
    extra: Mapping[str, Any],
    default_model: str | None = None,
    default_candidates: Sequence[str] | None = None,
) -> tuple[LLMArgs, dict[str, Any]]:
    """Common args (validated) and the strategy's own args merged over `extra` defaults."""
    values = c.args(settings, name, {**COMMON_DEFAULTS, **extra})
    if values["candidates"] is None and default_candidates is not None:
        values["candidates"] = list(default_candidates)
    router_model = values["router_model"]
    if not isinstance(router_model, str) or not router_model:
        raise ConfigError(
            "<config>",
            f"{c.ARGS_KEY}.router_model",
            f"{name} needs a router model: set router_model to a model group of this config "
            "(e.g. a small local model) that the strategy may ask",
        )
    candidates = values["candidates"]
    if candidates is None:
        candidates = list(settings.llm_data) if settings is not None else []
    if (
        not isinstance(candidates, list | tuple)
        or not candidates
        or not all(isinstance(x, str) and x for x in candidates)
    ):
        raise ConfigError(
            "<config>",
            f"{c.ARGS_KEY}.candidates",
            f"{name} needs candidate model names: set candidates: [name, ...] or llm_data_path",
        )
    if len(set(candidates)) != len(candidates):
        raise ConfigError("<config>", f"{c.ARGS_KEY}.candidates", f"duplicate names in {list(candidates)}")
    default = (
        values["default_model"] if values["default_model"] is not None else default_model or candidates[0]
    )
    if default not in candidates:
        raise ConfigError(
            "<config>",
            f"{c.ARGS_KEY}.default_model",
            f"value {default!r} is not one of the candidates {list(candidates)}",
        )
    timeout = c.float_arg(values, "router_timeout", minimum=0.001)
    chars = values["detail_chars"]
    if not isinstance(chars, int) or isinstance(chars, bool) or chars < 0:
        raise ConfigError(
            "<config>", f"{c.ARGS_KEY}.detail_chars", f"value {chars!r} must be an integer >= 0"
        )
    common = LLMArgs(router_model, timeout, tuple(candidates), default, chars)
    own = {k: v for k, v in values.items() if k not in COMMON_DEFAULTS}
    return common, own


def accepted(extra: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(COMMON_DEFAULTS) | frozenset(extra)


async def ask(request: RoutingRequest, model_group: str, prompt: str, timeout: float) -> str:
    """One chat call to the router model; RouterCallFailed on timeout, error or empty answer."""
    if request.llm_call is None:
        raise RouterCallFailed("no llm_call: the proxy adapter did not provide a router-model caller")
    try:
        text = await asyncio.wait_for(
            request.llm_call(model_group, [{"role": "user", "content": prompt}]), timeout
        )
    except TimeoutError:
        raise RouterCallFailed(f"router model '{model_group}' timed out after {timeout:g}s") from None
    except Exception as exc:  # any provider/transport error is a router hiccup, reported not raised
        log.warning("router model %s failed: %s: %s", model_group, type(exc).__name__, exc)
        raise RouterCallFailed(
            f"router model '{model_group}' failed: {type(exc).__name__}: {exc}"[:300]
        ) from None
    if not isinstance(text, str) or not text.strip():
        raise RouterCallFailed(f"router model '{model_group}' returned an empty answer")
    return text


def clip(text: str, chars: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= chars else text[: max(chars - 1, 0)] + "…"


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def match_candidate(text: str, candidates: Sequence[str]) -> str | None:
    """The candidate a free-text answer names, or None.

    Order: the whole answer equals a name (case-insensitive); else the name that appears first
    in the text (longest wins at the same place, so `llama-70b` beats `llama`); else the same on
    text reduced to letters and digits (`Qwen 2.5 7B` names `qwen2.5-7b`). LLMRouter's last-resort
    match on any `-`-separated part of a name is not used: it turns garbage into a confident pick.
    """
    stripped = text.strip().strip("`'\"*.,:;()[]<> ").lower()
    for name in candidates:
        if stripped == name.lower():
            return name
    for transform in (str.lower, _norm):
        haystack = transform(text)
        best: tuple[int, int, str] | None = None
        for name in candidates:
            needle = transform(name)
            if not needle:
                continue
            at = haystack.find(needle)
            if at >= 0 and (best is None or (at, -len(needle)) < (best[0], best[1])):
                best = (at, -len(needle), name)
        if best is not None:
            return best[2]
    return None


def last_candidate(text: str, candidates: Sequence[str]) -> str | None:
    """The candidate named last in `text` (rightmost end; longest at the same end), or None.

    For `<sub-question>: <model>` lines: the model comes last, and either part may hold colons.
    """
    for transform in (str.lower, _norm):
        haystack = transform(text)
        best: tuple[int, int, str] | None = None
        for name in candidates:
            needle = transform(name)
            at = haystack.rfind(needle) if needle else -1
            if at >= 0 and (best is None or (at + len(needle), len(needle)) > (best[0], best[1])):
                best = (at + len(needle), len(needle), name)
        if best is not None:
            return best[2]
    return None


def pick_available(preferred: str, available: Sequence[str], order: Sequence[str]) -> tuple[str, str | None]:
    """`preferred` if available, else the first available in `order`; second value notes a substitution."""
    if preferred in available:
        return preferred, None
    for name in order:
        if name in available:
            return name, preferred
    return available[0], preferred


def fallback(common: LLMArgs, available: Sequence[str], reason: str, **detail: Any) -> Decision:
    """The `default_model` decision (or the first available candidate if it is not available)."""
    chosen, instead_of = pick_available(common.default_model, available, common.candidates)
    detail = {k: v for k, v in detail.items() if v is not None}
    detail["fallback_reason"] = reason
    if instead_of is not None:
        detail["fallback_from"] = instead_of
    return Decision(model=chosen, scores={}, detail=detail)


def said(common: LLMArgs, text: str) -> dict[str, str]:
    """The router model's answer for Decision.detail, clipped (never the prompt we sent)."""
    return {"router_output": clip(text, common.detail_chars)} if common.detail_chars else {}


def describe(settings: StrategySettings | None, candidates: Sequence[str]) -> dict[str, str]:
    """Per candidate, LLMRouter's model description line: `name: feature`, else `name: Size: 7B`."""
    data = settings.llm_data if settings is not None else {}
    lines = {}
    for name in candidates:
        info = data.get(name)
        if info is not None and info.feature:
            lines[name] = f"{name}: {' '.join(info.feature.split())}"
        elif info is not None and info.size:
            lines[name] = f"{name}: Size: {info.size:g}B"
        else:
            lines[name] = f"{name}:"
    return lines


class LLMAssistedStrategy(c.StrategyBase):
    """Base of the strategies that ask a router model; they need no artifact unless they say so.

    The common case (one prompt, one answer read into a Decision) only writes `prompt` and
    `read_answer`; `select` does the guarded call and the fallback for all of them.
    """

    needs_artifact = False
    #: the strategy's own args and their defaults (beside COMMON_DEFAULTS)
    ARGS: dict[str, Any] = {}
    accepted_args = accepted(ARGS)

    def __init__(self, common: LLMArgs, settings: StrategySettings | None = None, artifact: Any = None):
        super().__init__(common.candidates, artifact)
        self.common = common
        self.descriptions = describe(settings, common.candidates)

    @classmethod
    def load(cls, artifact: object, settings: StrategySettings | None = None):
        common, own = parse_args(settings, cls.name, cls.ARGS)
        return cls.from_args(common, settings, own)

    @classmethod
    def from_args(cls, common: LLMArgs, settings: StrategySettings | None, own: dict[str, Any]):
        """The strategy from validated args; strategies with args of their own check them here."""
        return cls(common, settings)

    async def select(self, request: RoutingRequest, available: Sequence[str]) -> Decision:
        try:
            text = await self.ask_router(request, available)
        except RouterCallFailed as exc:
            return fallback(self.common, available, exc.reason)
        return self.read_answer(text, available)

    def read_answer(self, text: str, available: Sequence[str]) -> Decision:
        """The decision the router model's answer names (or `unusable(...)` when it names none)."""
        raise NotImplementedError

    def unusable(
        self, text: str, available: Sequence[str], reason: str = "router answer names no available candidate"
    ) -> Decision:
        """The fallback decision for an answer that names no candidate, with the answer for the logs."""
        return fallback(self.common, available, reason, **said(self.common, text))

    def named(self, model: str, text: str, rule: str) -> Decision:
        """The candidate the router model named, with the answer for the logs."""
        return Decision(model=model, scores={model: 1.0}, detail={"rule": rule, **said(self.common, text)})

    def offered(self, available: Sequence[str]) -> list[str]:
        """Candidates to show the router model: only the available ones, in candidate order."""
        return [name for name in self.candidates if name in available]

    def prompt(self, query: str, available: Sequence[str]) -> str:
        raise NotImplementedError

    async def ask_router(self, request: Any, available: Sequence[str]) -> str:
        """The router model's answer to this strategy's prompt; raises RouterCallFailed."""
        prompt = self.prompt(request.query, available)
        return await ask(request, self.common.router_model, prompt, self.common.router_timeout)

    def described(self, names: Sequence[str], separator: str = "\n") -> str:
        return separator.join(self.descriptions[name] for name in names)
