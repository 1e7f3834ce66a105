"""What `gateway serve` and `gateway check` run with, read once: arguments, the config file, the environment.

`ServeSettings.load()` is where the serving path reads its environment variables; everything after
it (telemetry, the routing runtime, the reload watchers, LiteLLM's start) takes values from the
settings object. Two readers stay where their library looks: `GATEWAY_CAPTURE` (read by the capture
hook, which LiteLLM builds from its import path) and the `AWS_*` credentials fallback of the S3
client (`gateway.reload.s3`).

A bad value stops the start with the variable (or option), the value and what is expected:
`environment: CONFIG_RELOAD_INTERVAL: 'soon' is not a number of seconds greater than 0`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gateway.config.loader import GatewayConfig, load_config
from gateway.config.models import S3Settings
from gateway.errors import ConfigError
from gateway.telemetry.settings import OtlpSettings, otlp_settings_from_env

ENV = "environment"
ARGUMENTS = "arguments"
TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"0", "false", "no", "off"})
DEFAULT_CONFIG_RELOAD_INTERVAL = 10.0
#: for `gateway serve --help` and `gateway check --help`
ENVIRONMENT_HELP = """\
environment (read once at start; a bad value stops it, naming the variable and the value):
  GATEWAY_S3_ENDPOINT, GATEWAY_S3_*    the S3 store: artifacts without an `s3:` block, config sync
  CONFIG_HOT_RELOAD, CONFIG_RELOAD_INTERVAL, CONFIG_S3_BUCKET, CONFIG_S3_KEY
                                       config hot reload (docs/hot-reload.md)
  OTEL_EXPORTER_OTLP_*, OTEL_SERVICE_NAME, GATEWAY_OTEL_LOGS, LITELLM_OTEL_V2
                                       OpenTelemetry export over mTLS (docs/observability.md)
  LITELLM_LOG                          set: LiteLLM's loggers keep their own level
  GATEWAY_CAPTURE                      training capture: off, all, team:ID,key:ALIAS (serve only)"""


def env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    """`true`/`false` (also 1/0, yes/no, on/off, any case); unset or empty: `default`."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if raw.lower() in TRUE:
        return True
    if raw.lower() in FALSE:
        return False
    raise ConfigError(ENV, name, f"'{raw}' is not true or false (also accepted: 1/0, yes/no, on/off)")


def env_seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise ConfigError(ENV, name, f"'{raw}' is not a number of seconds greater than 0 (default {default:g})")
    return value


def s3_settings_from_env(env: Mapping[str, str] | None = None) -> S3Settings | None:
    """The S3 store from `GATEWAY_S3_*` (None without `GATEWAY_S3_ENDPOINT`): artifacts when a config
    has no `s3:` block, the config sync, `gateway artifact publish`, `gateway mlops loop --publish-s3`."""
    env = os.environ if env is None else env
    endpoint = env.get("GATEWAY_S3_ENDPOINT")
    if not endpoint:
        return None

    def optional(name: str) -> str | None:
        return env.get(f"GATEWAY_S3_{name}") or None

    return S3Settings(
        endpoint=endpoint,
        secure=env_bool(env, "GATEWAY_S3_SECURE", True),
        access_key=env.get("GATEWAY_S3_ACCESS_KEY"),
        secret_key=env.get("GATEWAY_S3_SECRET_KEY"),
        ca_file=optional("CA_FILE"),
        cert_file=optional("CERT_FILE"),
        key_file=optional("KEY_FILE"),
        tls_server_name=optional("TLS_SERVER_NAME"),
        region=optional("REGION"),
    )


@dataclass(frozen=True)
class EnvironmentSettings:
    """The variables of the serving path (docs/hot-reload.md, docs/observability.md)."""

    #: GATEWAY_S3_*: the store for artifacts (when the config names none) and for the config sync
    s3: S3Settings | None = None
    #: CONFIG_S3_BUCKET / CONFIG_S3_KEY: the config sync reads the config from S3 instead of --config
    config_s3_bucket: str | None = None
    config_s3_key: str | None = None
    #: CONFIG_HOT_RELOAD: watch the config and apply changes without a restart
    config_hot_reload: bool = False
    #: CONFIG_RELOAD_INTERVAL: seconds between two checks of the config
    config_reload_interval: float = DEFAULT_CONFIG_RELOAD_INTERVAL
    #: OTEL_EXPORTER_OTLP_* and the other OTel variables (gateway.telemetry.settings); None: no export
    otlp: OtlpSettings | None = None
    #: LITELLM_LOG: when set, LiteLLM's loggers keep the level LiteLLM gives them
    litellm_log: str = ""

    def __post_init__(self) -> None:
        if bool(self.config_s3_bucket) != bool(self.config_s3_key):
            missing = "CONFIG_S3_KEY" if self.config_s3_bucket else "CONFIG_S3_BUCKET"
            given = "CONFIG_S3_BUCKET" if self.config_s3_bucket else "CONFIG_S3_KEY"
            raise ConfigError(ENV, missing, f"{given} is set but {missing} is not; set both or neither")
        if not self.config_reload_interval > 0:
            raise ConfigError(ENV, "CONFIG_RELOAD_INTERVAL",
                              f"'{self.config_reload_interval}' is not a number of seconds greater than 0")

    @classmethod
    def read(cls, environ: Mapping[str, str] | None = None) -> EnvironmentSettings:
        env = os.environ if environ is None else environ
        return cls(
            s3=s3_settings_from_env(env),
            config_s3_bucket=env.get("CONFIG_S3_BUCKET") or None,
            config_s3_key=env.get("CONFIG_S3_KEY") or None,
            config_hot_reload=env_bool(env, "CONFIG_HOT_RELOAD", False),
            config_reload_interval=env_seconds(env, "CONFIG_RELOAD_INTERVAL", DEFAULT_CONFIG_RELOAD_INTERVAL),
            otlp=otlp_settings_from_env(env),
            litellm_log=env.get("LITELLM_LOG", ""),
        )


@dataclass(frozen=True)
class ServeSettings:
    """One gateway process: its config file, its command-line options and its environment."""

    config: GatewayConfig
    host: str = "127.0.0.1"
    port: int = 4000
    num_workers: int = 1
    #: serve HTTPS (e.g. behind the appliance's revocation-checking TLS front, on loopback)
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    env: EnvironmentSettings = field(default_factory=EnvironmentSettings)

    def __post_init__(self) -> None:
        if not self.host:
            raise ConfigError(ARGUMENTS, "--host", "empty; give an address such as 127.0.0.1")
        if not 0 < self.port < 65536:
            raise ConfigError(ARGUMENTS, "--port", f"{self.port} is not a TCP port (1-65535)")
        if self.num_workers < 1:
            raise ConfigError(ARGUMENTS, "--num-workers", f"{self.num_workers} is not a number of processes (>= 1)")
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            missing = "--ssl-keyfile" if self.ssl_keyfile is None else "--ssl-certfile"
            raise ConfigError(ARGUMENTS, missing, "--ssl-certfile and --ssl-keyfile go together")

    @property
    def scheme(self) -> str:
        return "https" if self.ssl_certfile else "http"

    @classmethod
    def load(cls, config_path: str | Path, environ: Mapping[str, str] | None = None, *,
             host: str = "127.0.0.1", port: int = 4000, num_workers: int = 1,
             ssl_certfile: str | Path | None = None, ssl_keyfile: str | Path | None = None) -> ServeSettings:
        """Read and validate the config file, then the environment, then the options."""
        config = load_config(config_path)
        return cls(config=config, host=host, port=port, num_workers=num_workers,
                   ssl_certfile=Path(ssl_certfile) if ssl_certfile else None,
                   ssl_keyfile=Path(ssl_keyfile) if ssl_keyfile else None,
                   env=EnvironmentSettings.read(environ))
