"""Typed view of the gateway's part of a LiteLLM config: `router_settings.routing_strategy_args`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, model_validator


class S3Settings(BaseModel):
    """Where routing artifacts live in an S3-compatible store (mTLS-capable)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    endpoint: str = Field(description="host:port of the S3 server")
    secure: bool = True
    access_key: str | None = None
    secret_key: str | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    #: the name the server certificate must carry, when `endpoint` is an address (e.g. via a tunnel)
    tls_server_name: str | None = None
    region: str | None = None


class RoutingStrategyArgs(BaseModel):
    """`routing_strategy_args` for an `llmrouter-*` strategy.

    Known keys are typed here; any other key is kept in `extra` and must be one the chosen
    strategy accepts (checked when the strategy is built), so typos fail at start-up.
    """

    model_config = ConfigDict(frozen=True, extra="allow")

    model_path: Path | None = None
    llm_data_path: Path | None = None
    hot_reload: bool = False
    reload_interval: PositiveFloat = 30.0
    model_s3_bucket: str | None = None
    model_s3_key: str | None = None
    s3: S3Settings | None = None
    #: model groups the strategy routes; default: every group whose deployments it knows
    model_groups: list[str] | None = None
    #: log and trace the query text (off: no prompt text leaves the process)
    log_query_text: bool = False

    @model_validator(mode="after")
    def _s3_pair(self) -> RoutingStrategyArgs:
        if bool(self.model_s3_bucket) != bool(self.model_s3_key):
            raise ValueError("model_s3_bucket and model_s3_key must be set together")
        return self

    @property
    def extra(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    def resolved(self, base: Path) -> RoutingStrategyArgs:
        """Relative paths are relative to the config file's folder, as an operator expects."""
        updates: dict[str, Any] = {}
        for key in ("model_path", "llm_data_path"):
            value = getattr(self, key)
            if value is not None and not value.is_absolute():
                updates[key] = (base / value).resolve()
        return self.model_copy(update=updates)
