"""Owns what is serving (config + routing runtime) and the watchers that replace it.

Replacements are prepared off to the side (download, verify, load: possibly slow, in a worker
thread) and then applied in one synchronous step on the event loop, so a request sees either the
old state or the new one. Nothing is applied that did not fully validate.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from gateway.config.loader import GatewayConfig, load_config
from gateway.config.settings import EnvironmentSettings
from gateway.errors import GatewayError
from gateway.reload.loader import config_source, load_runtime, model_source
from gateway.reload.sources import FileSource, SourceError
from gateway.reload.status import ReloadStatus
from gateway.reload.watcher import Watcher
from gateway.routing.runtime import ActiveStrategy, RoutingRuntime, build_strategy

logger = logging.getLogger("gateway.reload")

#: applies a validated config to LiteLLM's router (model list, router settings); raises on failure
ApplyToLiteLLM = Callable[[GatewayConfig], None]
#: receives the runtime that should serve from now on (the proxy hook's setter)
PublishRuntime = Callable[[RoutingRuntime | None], None]


class ReloadManager:
    def __init__(self, config: GatewayConfig, runtime: RoutingRuntime | None, apply_to_litellm: ApplyToLiteLLM,
                 publish: PublishRuntime, config_reload: bool | None = None,
                 config_interval: float | None = None, env: EnvironmentSettings | None = None):
        """`env`: the process's settings (`ServeSettings.env`); read here when not given (tests)."""
        self.config = config
        self.runtime = runtime
        self.apply_to_litellm = apply_to_litellm
        self.publish = publish
        self.env = env if env is not None else EnvironmentSettings.read()
        self.status = ReloadStatus()
        self.status.config_hot_reload = self.env.config_hot_reload if config_reload is None else config_reload
        self.config_interval = config_interval or self.env.config_reload_interval
        self.model_watcher: Watcher | None = None
        self.config_watcher: Watcher | None = None
        self._lock = asyncio.Lock()
        self._describe_runtime()

    # -- status ---------------------------------------------------------------------------------
    def _describe_runtime(self) -> None:
        runtime = self.runtime
        models = self.status.models
        self.status.model_groups = sorted(runtime.groups) if runtime else []
        self.status.model_hot_reload = bool(runtime and runtime.args.hot_reload)
        if runtime is None:
            return
        artifact = runtime.active.artifact
        models.strategy = runtime.name
        models.loaded_at = runtime.active.loaded_at
        models.artifact_version = artifact.version if artifact else ""
        models.sha256 = artifact.sha256 if artifact else ""

    # -- watchers -------------------------------------------------------------------------------
    async def start(self) -> None:
        await self._start_model_watcher()
        if self.status.config_hot_reload:
            source = config_source(self.config, self.env)
            token = None
            if isinstance(source, FileSource):
                token = await source.probe()  # the file we started from is what is applied
            self.config_watcher = Watcher("config", source, self.apply_config, self.status.config,
                                          self.config_interval, initial_token=token)
            self.config_watcher.start()
        else:
            self.status.config.source = f"file://{self.config.source}"

    async def _start_model_watcher(self) -> None:
        runtime = self.runtime
        if runtime is None or not runtime.args.hot_reload:
            return
        source = model_source(self.config, self.env.s3)
        if source is None:
            return
        try:
            token = await source.probe()
        except SourceError:
            token = None
        self.model_watcher = Watcher("model", source, self.apply_model, self.status.models,
                                     runtime.args.reload_interval, initial_token=token)
        self.model_watcher.start()

    async def stop(self) -> None:
        for watcher in (self.model_watcher, self.config_watcher):
            if watcher is not None:
                await watcher.stop()

    # -- applying -------------------------------------------------------------------------------
    async def apply_model(self, path: Path, token: str) -> None:
        """Verify and load a new artifact, then swap it in; raises (old model stays) if anything is off."""
        runtime = self.runtime
        if runtime is None:
            raise GatewayError("no llmrouter strategy is active")
        active: ActiveStrategy = await asyncio.to_thread(
            build_strategy, runtime.name, runtime.args, str(self.config.source), path)
        async with self._lock:
            if self.runtime is not runtime:
                raise GatewayError("the config changed while this artifact was loading; it will be checked again")
            runtime.swap(active)
            self._describe_runtime()
        logger.info("model reload: %s now serves %s version=%s sha256=%s", runtime.name,
                    self.status.model_groups, active.version, active.artifact.sha256[:16] if active.artifact else "")

    async def apply_config(self, path: Path, token: str) -> None:
        """Validate a new config completely, then apply it to LiteLLM and the routing runtime."""
        config = load_config(path, relative_to=self.config.source)  # includes, relative paths: next to --config
        runtime = await load_runtime(config, self.env.s3, self.runtime.embedder if self.runtime else None)
        async with self._lock:
            self.apply_to_litellm(config)
            if runtime is not None and self.runtime is not None:
                runtime.llm_call = self.runtime.llm_call
            self.publish(runtime)
            old_watcher = self.model_watcher
            self.config, self.runtime, self.model_watcher = config, runtime, None
            self._describe_runtime()
        if old_watcher is not None:
            await old_watcher.stop()
        await self._start_model_watcher()
        logger.info("config reload: applied %s (strategy %s)", token, config.strategy or "LiteLLM built-in")
