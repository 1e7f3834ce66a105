"""Where telemetry goes, read from the standard `OTEL_EXPORTER_OTLP_*` environment and validated.

The same variables drive the gateway's exporters and LiteLLM's own OTel integration, so one
set of values (endpoint, protocol, CA, client certificate and key) configures both.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from ipaddress import ip_address
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict

from gateway.errors import ConfigError

ENV = "environment"
PROTOCOLS = {"grpc": "grpc", "http/protobuf": "http", "http": "http", "otlp_grpc": "grpc", "otlp_http": "http"}
TRUE = {"1", "true", "yes", "on"}


class OtlpSettings(BaseModel):
    """One OTLP destination for traces, metrics and logs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    endpoint: str
    protocol: Literal["grpc", "http"] = "grpc"
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    service_name: str = "gateway"
    export_logs: bool = True
    # LiteLLM's typed GenAI spans (`LITELLM_OTEL_V2=true`) build their own TracerProvider from
    # the same variables; the gateway then leaves tracing to it so there is one provider.
    litellm_owns_tracing: bool = False
    metric_interval_ms: int = 60000

    @property
    def secure(self) -> bool:
        return urlsplit(self.endpoint).scheme == "https"

    def signal_url(self, signal: str) -> str:
        """OTLP/HTTP path for `traces`, `metrics` or `logs` (gRPC takes the bare endpoint)."""
        return f"{self.endpoint.rstrip('/')}/v1/{signal}"


def _file(env: Mapping[str, str], key: str) -> Path | None:
    value = env.get(key)
    if not value:
        return None
    path = Path(value)
    if not path.is_file() or not os.access(path, os.R_OK):
        raise ConfigError(ENV, key, f"'{value}' is not a readable file; point it at the PEM file")
    return path


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def otlp_settings_from_env(env: Mapping[str, str]) -> OtlpSettings | None:
    """The validated settings, or None when `OTEL_EXPORTER_OTLP_ENDPOINT` is unset (export off).

    `env` is the process environment, read once by `gateway.config.settings.EnvironmentSettings`."""
    endpoint = env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_ENDPOINT")
    if not endpoint:
        return None
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(ENV, "OTEL_EXPORTER_OTLP_ENDPOINT",
                          f"'{endpoint}' is not a URL; expected https://collector:4317 (gRPC) or :4318 (HTTP)")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        # telemetry carries model names, teams and errors: plaintext only on loopback
        raise ConfigError(ENV, "OTEL_EXPORTER_OTLP_ENDPOINT",
                          f"'{endpoint}' is plaintext to another host; use https:// with the site CA")
    raw_protocol = (env.get("OTEL_EXPORTER_OTLP_PROTOCOL") or env.get("OTEL_EXPORTER") or "grpc").lower()
    if raw_protocol not in PROTOCOLS:
        raise ConfigError(ENV, "OTEL_EXPORTER_OTLP_PROTOCOL",
                          f"'{raw_protocol}' is not supported; use 'grpc' or 'http/protobuf'")
    ca_file = _file(env, "OTEL_EXPORTER_OTLP_CERTIFICATE")
    cert_file = _file(env, "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE")
    key_file = _file(env, "OTEL_EXPORTER_OTLP_CLIENT_KEY")
    if (cert_file is None) != (key_file is None):
        missing = "OTEL_EXPORTER_OTLP_CLIENT_KEY" if key_file is None else "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"
        raise ConfigError(ENV, missing, "a client certificate needs both the certificate and its key; set both")
    if parts.scheme == "https" and cert_file is None:
        raise ConfigError(ENV, "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
                          "internal traffic uses mTLS: set the client certificate and key issued by the site CA")
    litellm_owns_tracing = env.get("LITELLM_OTEL_V2", "").lower() in TRUE
    for variable in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        if PROTOCOLS[raw_protocol] == "http" and litellm_owns_tracing and ca_file and env.get(variable):
            # LiteLLM's span exporter uses requests, which lets this variable replace the OTLP CA
            raise ConfigError(ENV, variable, f"'{env[variable]}' overrides OTEL_EXPORTER_OTLP_CERTIFICATE for "
                              "LiteLLM's OTLP/HTTP span exporter; unset it for the gateway or use grpc")
    interval = env.get("OTEL_METRIC_EXPORT_INTERVAL", "60000")
    if not interval.isdigit() or int(interval) <= 0:
        raise ConfigError(ENV, "OTEL_METRIC_EXPORT_INTERVAL", f"'{interval}' is not a positive number of milliseconds")
    return OtlpSettings(
        endpoint=endpoint,
        protocol=PROTOCOLS[raw_protocol],  # type: ignore[arg-type]
        ca_file=ca_file,
        cert_file=cert_file,
        key_file=key_file,
        service_name=env.get("OTEL_SERVICE_NAME", "gateway"),
        export_logs=env.get("GATEWAY_OTEL_LOGS", "true").lower() in TRUE,
        litellm_owns_tracing=litellm_owns_tracing,
        metric_interval_ms=int(interval),
    )
