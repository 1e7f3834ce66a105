"""Start the real LiteLLM proxy with the gateway's routing hook, in this process.

LiteLLM gets a copy of the operator's config with the `llmrouter-*` strategy taken out,
`include:` files merged in (gateway.config.includes) and the gateway's callback added; everything
else in the file reaches LiteLLM untouched. The copy lives in a private directory, so the operator's
directory goes on the import path: LiteLLM's `module.attr` references (callbacks, `custom_auth`,
guardrails) to files next to the operator's config still load.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from gateway.config.loader import GatewayConfig
from gateway.config.settings import ServeSettings
from gateway.errors import GatewayError
from gateway.proxy.listen import inherited_socket, uvicorn_serving
from gateway.proxy.offline import apply_offline_defaults
from gateway.reload.loader import load_runtime
from gateway.reload.manager import ReloadManager
from gateway.routing.registry import STRATEGIES
from gateway.routing.runtime import RoutingRuntime

logger = logging.getLogger("gateway.serve")


def litellm_config_with_hook(config: GatewayConfig, *hook_paths: str) -> dict[str, Any]:
    """LiteLLM's share of the config, with the gateway's callbacks appended once each."""
    data = dict(config.litellm)
    settings = dict(data.get("litellm_settings") or {})
    callbacks = list(settings.get("callbacks") or [])
    callbacks += [path for path in hook_paths if path not in callbacks]
    settings["callbacks"] = callbacks
    data["litellm_settings"] = settings
    return data


def write_private_yaml(data: dict[str, Any], directory: Path | None = None) -> Path:
    """Write YAML readable only by this user: configs carry keys."""
    directory = Path(directory or tempfile.mkdtemp(prefix="gateway-"))
    path = directory / "litellm-config.yaml"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        yaml.safe_dump(data, handle, sort_keys=False)
    return path


def importable_beside_config(config: GatewayConfig) -> None:
    """Let `module.attr` references in the config load from files next to the operator's config."""
    folder = str(config.source.parent)
    if folder not in sys.path:
        sys.path.append(folder)


def check_port_free(host: str, port: int) -> None:
    """LiteLLM silently moves to a random port when 4000 is taken; refuse instead."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise GatewayError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def startup_summary(settings: ServeSettings, runtime: RoutingRuntime | None) -> list[str]:
    config = settings.config
    lines = [
        f"config file: {config.source}",
        f"registered strategies: {', '.join(sorted(STRATEGIES))}",
    ]
    if config.includes:
        lines.append(f"config includes: {', '.join(str(path) for path in config.includes)}")
    if runtime is None:
        strategy = (config.raw.get("router_settings") or {}).get("routing_strategy", "simple-shuffle")
        lines.append(f"active strategy: {strategy} (LiteLLM built-in)")
    else:
        artifact = runtime.active.artifact
        where = f"{artifact.source} version={artifact.version} sha256={artifact.sha256[:16]}" if artifact else "none"
        lines.append(f"active strategy: {runtime.name} artifact: {where}")
        for group, names in sorted(runtime.groups.items()):
            lines.append(f"routes model group '{group}' -> {', '.join(names)}")
    lines.append(f"request body limit: {config.max_request_size_mb:g} MB (general_settings.max_request_size_mb)")
    lines.append(f"listening on {settings.scheme}://{settings.host}:{settings.port}")
    return lines


def serve(settings: ServeSettings) -> None:
    """Validate everything, then hand over to LiteLLM's own server start (blocks)."""
    apply_offline_defaults()
    from gateway.telemetry.setup import configure

    config, env = settings.config, settings.env
    configure(env.otlp, config.litellm.get("litellm_settings"), env.litellm_log)
    runtime = asyncio.run(load_runtime(config, env.s3))
    inherited = inherited_socket(settings.host, settings.port)
    if inherited is None:
        check_port_free(settings.host, settings.port)

    from gateway.proxy import app_routes, hooks

    app_routes.publish_runtime(runtime)
    manager = ReloadManager(config, runtime, app_routes.apply_to_litellm, app_routes.publish_runtime, env=env)
    from gateway.proxy import feedback, readiness

    hook_paths = [hooks.HOOK_PATH] + ([feedback.CAPTURE_HOOK_PATH] if feedback.capture_enabled() else [])
    litellm_config = write_private_yaml(litellm_config_with_hook(config, *hook_paths))
    importable_beside_config(config)
    for line in startup_summary(settings, runtime):
        logger.info(line)
    if inherited is not None:
        logger.info("listening socket: from systemd (gateway.socket), held across restarts")
    logger.info("routes added: %s, %s; config hot reload: %s", app_routes.STATUS_ROUTE, readiness.ROUTE,
                "on" if manager.status.config_hot_reload else "off")

    started = time.monotonic()
    logger.info("starting LiteLLM's proxy (loading it takes a few seconds)")
    from litellm.proxy.proxy_cli import run_server
    from litellm.proxy.proxy_server import app

    logger.info("LiteLLM's proxy loaded in %.1f s", time.monotonic() - started)
    app_routes.install(app, manager)
    args = ["--config", str(litellm_config), "--host", settings.host, "--port", str(settings.port),
            "--num_workers", str(settings.num_workers)]
    if settings.ssl_certfile and settings.ssl_keyfile:
        args += ["--ssl_certfile_path", str(settings.ssl_certfile), "--ssl_keyfile_path", str(settings.ssl_keyfile)]
    with uvicorn_serving(inherited) if inherited is not None else contextlib.nullcontext():
        run_server.main(args=args, standalone_mode=False)
