"""Training capture and quality feedback (issue 6), both off unless the operator turns them on.

- `capture_hook`: a LiteLLM callback; list it in `litellm_settings.callbacks` as
  `gateway.proxy.feedback.capture_hook`. For each completed or failed call to a model group the
  gateway routes, and only for the teams/keys `GATEWAY_CAPTURE` selects, it emits one span
  `gateway.capture.call` (query text, candidates, chosen, latency, tokens, cost, error, response
  id: `gateway.telemetry.decisions.CaptureRecord`). The query text goes into that span only,
  never into a log line.
- `POST /gateway/feedback` `{"response_id": "...", "score": 0.0..1.0}` (any valid key): a quality
  label for an earlier response, as a `gateway.feedback` span joined on the response id.

`GATEWAY_CAPTURE`: `off` (default) | `all` | a comma list of `team:<team_id>` and
`key:<key alias or hashed key>`, e.g. `team:research,key:eval-bot`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from litellm.integrations.custom_logger import CustomLogger
from pydantic import BaseModel, ConfigDict, Field

from gateway.errors import ConfigError
from gateway.routing.runtime import query_text
from gateway.telemetry.decisions import CaptureRecord, FeedbackRecord, record_capture, record_feedback

FEEDBACK_ROUTE = "/gateway/feedback"
ENV = "GATEWAY_CAPTURE"


def capture_selector(value: str | None) -> tuple[bool, frozenset[str], frozenset[str]]:
    """(all, teams, keys) from the GATEWAY_CAPTURE value; a bad item is a ConfigError naming it."""
    text = (value or "off").strip()
    if text.lower() in ("", "off", "false", "0"):
        return False, frozenset(), frozenset()
    if text.lower() in ("all", "on", "true", "1"):
        return True, frozenset(), frozenset()
    teams, keys = set(), set()
    for item in (i.strip() for i in text.split(",") if i.strip()):
        kind, _, name = item.partition(":")
        if kind == "team" and name:
            teams.add(name)
        elif kind == "key" and name:
            keys.add(name)
        else:
            raise ConfigError("<environment>", ENV, f"'{item}' is not off, all, team:<id> or key:<alias or hash>")
    return False, frozenset(teams), frozenset(keys)


def capture_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """True when GATEWAY_CAPTURE selects anything (the capture callback is then installed)."""
    everything, teams, keys = capture_selector((os.environ if environ is None else environ).get(ENV))
    return everything or bool(teams or keys)


def _metadata(kwargs: dict[str, Any]) -> dict[str, Any]:
    params = kwargs.get("litellm_params") or {}
    return params.get("metadata") or kwargs.get("metadata") or {}


class CaptureHook(CustomLogger):
    def __init__(self) -> None:
        super().__init__()
        self.capture_all, self.teams, self.keys = capture_selector(os.environ.get(ENV))

    def selected(self, metadata: dict[str, Any]) -> bool:
        if self.capture_all:
            return True
        team = metadata.get("user_api_key_team_id")
        key_names = {metadata.get("user_api_key_alias"), metadata.get("user_api_key_hash")}
        return (team in self.teams) or bool(self.keys & {k for k in key_names if k})

    def _record(self, kwargs: dict[str, Any], response: Any, start, end, error: str) -> None:
        from gateway.proxy.hooks import INTERNAL_CALL, routing_hook

        metadata = _metadata(kwargs)
        runtime = routing_hook.runtime
        group = metadata.get("model_group") or kwargs.get("model")
        if runtime is None or not group or not runtime.governs(group) or metadata.get(INTERNAL_CALL):
            return
        if not self.selected(metadata):
            return
        model_id = ((kwargs.get("litellm_params") or {}).get("model_info") or {}).get("id")
        chosen = routing_hook.routed_name(group, model_id) or ""
        usage = getattr(response, "usage", None)
        record_capture(CaptureRecord(
            response_id=str(getattr(response, "id", "") or kwargs.get("litellm_call_id", "")),
            model_group=str(group),
            query=query_text(kwargs.get("messages"), kwargs.get("input")),
            candidates=list(runtime.groups.get(group, [])),
            chosen=chosen,
            latency_ms=(end - start).total_seconds() * 1000 if start and end else 0.0,
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            cost_usd=float(kwargs.get("response_cost") or 0.0),
            error=error,
            team=str(metadata.get("user_api_key_team_id") or ""),
            strategy=runtime.name,
        ))

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        self._record(kwargs, response_obj, start_time, end_time, "")

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        exc = kwargs.get("exception")
        self._record(kwargs, response_obj, start_time, end_time, f"{type(exc).__name__}: {exc}" if exc else "error")


#: the instance LiteLLM loads from `litellm_settings.callbacks`
capture_hook = CaptureHook()
CAPTURE_HOOK_PATH = f"{__name__}.capture_hook"


class Feedback(BaseModel):
    """The body of POST /gateway/feedback (module level: FastAPI resolves the annotation by name)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    response_id: str = Field(min_length=1, max_length=200)
    score: float = Field(ge=0.0, le=1.0)


def install(app) -> None:
    """Add POST /gateway/feedback (call from gateway.proxy.app_routes.install)."""
    from fastapi import Depends, HTTPException
    from litellm.proxy._types import UserAPIKeyAuth
    from litellm.proxy.auth.user_api_key_auth import user_api_key_auth
    async def feedback(body: Feedback, user: UserAPIKeyAuth = Depends(user_api_key_auth)) -> dict:  # noqa: B008
        if user is None:
            raise HTTPException(status_code=401, detail="a key is required")
        record_feedback(FeedbackRecord(response_id=body.response_id, score=body.score, source="user"))
        return {"recorded": True, "response_id": body.response_id}

    app.add_api_route(FEEDBACK_ROUTE, feedback, methods=["POST"])
