"""What the fake upstream does per request: typed behaviour, its config file, and the live state.

Behaviour is set globally (`default`) and per model name (`models`); a model's entry overrides
only the fields it sets, so "10 ms everywhere, model X fails" is two small entries.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

Failure = Literal["rate_limit", "server_error", "context_length", "auth", "timeout"]
GLOBAL = "*"


class Rule(BaseModel):
    """Answer `answer` when the last user message contains `contains` (first match wins)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    contains: str
    answer: str


class Behaviour(BaseModel):
    """How to answer. Unset fields fall back to the global default, then to these defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: fixed answer text; None means "answer from <model>"
    answer: str | None = None
    #: content-based answers, checked before `answer`
    rules: tuple[Rule, ...] = ()
    #: delay before the response (before the first chunk when streaming)
    latency_ms: float = Field(default=0, ge=0)
    #: delay between streamed chunks
    chunk_delay_ms: float = Field(default=0, ge=0)
    #: injected failure; "timeout" sleeps `hang_s` then answers normally
    fail: Failure | None = None
    #: fail only the next N requests (then answer normally); None = every request
    fail_next: int | None = Field(default=None, ge=0)
    #: Retry-After seconds sent with rate_limit failures
    retry_after: int = Field(default=1, ge=0)
    hang_s: float = Field(default=30, ge=0)
    #: a prompt longer than this many (whitespace) tokens gets the context-length error
    context_window: int | None = Field(default=None, ge=1)
    embedding_dim: int = Field(default=16, ge=1, le=4096)


class FakeConfig(BaseModel):
    """The start-up file (JSON or YAML) and the body of `PUT /_control/behaviour`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: Behaviour = Behaviour()
    models: dict[str, Behaviour] = {}
    #: extra names listed by /v1/models (models with an entry are listed anyway)
    advertise: tuple[str, ...] = ()


class ConfigFileError(ValueError):
    """The fake's config file is unreadable or invalid; the message names the file."""


def load_config(path: str | Path) -> FakeConfig:
    path = Path(path)
    try:
        text = path.read_text()
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        return FakeConfig.model_validate(data or {})
    except (OSError, ValueError, yaml.YAMLError, ValidationError) as exc:
        raise ConfigFileError(f"{path}: invalid fake upstream config: {exc}") from exc


class FakeState:
    """Behaviour config, the fail-next counters and the request log, shared by all requests.

    Guarded by a lock because tests mutate it from their own thread while uvicorn serves.
    """

    def __init__(self, config: FakeConfig | None = None):
        self._lock = threading.Lock()
        self._config = FakeConfig()
        self._remaining: dict[str, int] = {}
        self._log: list[dict[str, Any]] = []
        self.replace(config or FakeConfig())

    # -- behaviour -------------------------------------------------------------------------
    def replace(self, config: FakeConfig) -> None:
        with self._lock:
            self._config = config
            self._remaining = {}
            self._arm(GLOBAL, config.default)
            for name, behaviour in config.models.items():
                self._arm(name, behaviour)

    def set(self, model: str | None, behaviour: Behaviour) -> None:
        """Install `behaviour` for `model` (None: the global default), replacing the old entry."""
        with self._lock:
            if model is None:
                self._config = self._config.model_copy(update={"default": behaviour})
            else:
                self._config = self._config.model_copy(
                    update={"models": {**self._config.models, model: behaviour}}
                )
            self._arm(model or GLOBAL, behaviour)

    def config(self) -> FakeConfig:
        with self._lock:
            return self._config

    def _arm(self, scope: str, behaviour: Behaviour) -> None:
        if behaviour.fail_next is None:
            self._remaining.pop(scope, None)
        else:
            self._remaining[scope] = behaviour.fail_next

    def effective(self, model: str) -> Behaviour:
        """The behaviour for one request; consumes one fail-next credit when it fails."""
        with self._lock:
            default = self._config.default
            own = self._config.models.get(model)
            merged = default
            if own is not None:
                merged = default.model_copy(update={f: getattr(own, f) for f in own.model_fields_set})
            if merged.fail is None:
                return merged
            scope = model if own is not None and "fail" in own.model_fields_set else GLOBAL
            if scope in self._remaining:
                if self._remaining[scope] <= 0:
                    return merged.model_copy(update={"fail": None})
                self._remaining[scope] -= 1
            return merged

    def models(self) -> list[str]:
        with self._lock:
            return sorted(set(self._config.models) | set(self._config.advertise))

    # -- request log -----------------------------------------------------------------------
    def record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._log.append({"time": time.time(), **entry})

    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._log)

    def clear_requests(self) -> None:
        with self._lock:
            self._log.clear()

    def reset(self) -> None:
        self.replace(FakeConfig())
        self.clear_requests()
