"""The one start-up path from a config to a routing runtime: `load_runtime()`, used by `gateway serve`,
`gateway check` and a config reload alike; and where the watched objects come from.

The routing artifact comes from `model_path` or from S3 (`model_s3_bucket`/`model_s3_key`, fetched
once into a private temporary file, verified and loaded from there); the config comes from
`--config` or, with the config sync, from S3 (`CONFIG_S3_BUCKET`/`CONFIG_S3_KEY`).
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from gateway.config.loader import GatewayConfig
from gateway.config.models import S3Settings
from gateway.config.settings import EnvironmentSettings
from gateway.errors import ConfigError
from gateway.reload.sources import FileSource, S3Source, Source, SourceError, cleanup
from gateway.routing.runtime import RoutingRuntime

logger = logging.getLogger("gateway.reload")


def model_source(config: GatewayConfig, s3: S3Settings | None = None) -> Source | None:
    """Where the routing artifact comes from: S3 (`model_s3_bucket`/`model_s3_key`) or `model_path`.

    The config's own `s3:` block wins over `s3` (the `GATEWAY_S3_*` settings)."""
    args = config.strategy_args
    if args is None:
        return None
    if args.model_s3_bucket and args.model_s3_key:
        settings = args.s3 or s3
        if settings is None:
            raise ConfigError(str(config.source), "router_settings.routing_strategy_args.s3",
                              "model_s3_bucket is set but no S3 endpoint (set s3.endpoint or GATEWAY_S3_ENDPOINT)")
        return S3Source(settings, args.model_s3_bucket, args.model_s3_key)
    if args.model_path is not None:
        return FileSource(args.model_path)
    return None


def config_source(config: GatewayConfig, env: EnvironmentSettings) -> Source:
    """The config's source for sync: CONFIG_S3_BUCKET/CONFIG_S3_KEY if set, else the local file."""
    if env.config_s3_bucket and env.config_s3_key:
        if env.s3 is None:
            raise ConfigError("environment", "GATEWAY_S3_ENDPOINT", "CONFIG_S3_BUCKET is set but no S3 endpoint")
        return S3Source(env.s3, env.config_s3_bucket, env.config_s3_key)
    return FileSource(config.source)


async def fetch_once(source: Source) -> tuple[Path, str]:
    """Download an object at start-up (an S3 artifact has no local path to load from)."""
    token = await source.probe()
    return await source.fetch(Path(tempfile.gettempdir())), token


async def load_runtime(config: GatewayConfig, s3: S3Settings | None = None,
                       embedder: Any = None) -> RoutingRuntime | None:
    """The routing runtime for `config` (None for LiteLLM's own strategies); downloads an S3 artifact.

    Raises `ConfigError` naming the config key when the artifact cannot be fetched or used.
    """
    if config.strategy is None:
        return None
    source = model_source(config, s3)
    path = None
    started = time.monotonic()
    if isinstance(source, S3Source):
        logger.info("routing: downloading %s", source.url)
        try:
            path, _ = await fetch_once(source)
        except SourceError as exc:
            raise ConfigError(str(config.source), "router_settings.routing_strategy_args.model_s3_key",
                              str(exc)) from None
        logger.info("routing: downloaded %s (%d bytes) in %.1f s", source.url, path.stat().st_size,
                    time.monotonic() - started)
    logger.info("routing: loading %s from %s", config.strategy, source.url if source else "its llm data")
    try:
        runtime = await asyncio.to_thread(RoutingRuntime.from_config, config, embedder, path)
    finally:
        cleanup(path)
    logger.info("routing: %s ready in %.1f s", config.strategy, time.monotonic() - started)
    return runtime
