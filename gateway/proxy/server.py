"""Start the real LiteLLM proxy with the gateway's routing hook, in this process.

LiteLLM gets a copy of the operator's config with the `llmrouter-*` strategy taken out and
the gateway's callback added; everything else in the file reaches LiteLLM untouched.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gateway.config.loader import GatewayConfig
from gateway.errors import GatewayError
from gateway.proxy.offline import apply_offline_defaults
from gateway.reload.manager import ReloadManager, build_runtime
from gateway.routing.registry import STRATEGIES
from gateway.routing.runtime import RoutingRuntime

logger = logging.getLogger("gateway.serve")


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 4000
    num_workers: int = 1
    #: serve HTTPS (e.g. behind the appliance's revocation-checking TLS front, on loopback)
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None


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


def check_port_free(host: str, port: int) -> None:
    """LiteLLM silently moves to a random port when 4000 is taken; refuse instead."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise GatewayError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def startup_summary(config: GatewayConfig, runtime: RoutingRuntime | None, options: ServeOptions) -> list[str]:
    lines = [
        f"config file: {config.source}",
        f"registered strategies: {', '.join(sorted(STRATEGIES))}",
    ]
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
    scheme = "https" if options.ssl_certfile else "http"
    lines.append(f"listening on {scheme}://{options.host}:{options.port}")
    return lines


def serve(config: GatewayConfig, options: ServeOptions) -> None:
    """Validate everything, then hand over to LiteLLM's own server start (blocks)."""
    apply_offline_defaults()
    from gateway.telemetry.setup import configure_from_env

    configure_from_env(litellm_settings=config.litellm.get("litellm_settings"))
    runtime = asyncio.run(build_runtime(config))
    check_port_free(options.host, options.port)

    from gateway.proxy import app_routes, hooks

    app_routes.publish_runtime(runtime)
    manager = ReloadManager(config, runtime, app_routes.apply_to_litellm, app_routes.publish_runtime)
    from gateway.proxy import feedback, readiness

    hook_paths = [hooks.HOOK_PATH] + ([feedback.CAPTURE_HOOK_PATH] if feedback.capture_enabled() else [])
    litellm_config = write_private_yaml(litellm_config_with_hook(config, *hook_paths))
    for line in startup_summary(config, runtime, options):
        logger.info(line)
    logger.info("routes added: %s, %s; config hot reload: %s", app_routes.STATUS_ROUTE, readiness.ROUTE,
                "on" if manager.status.config_hot_reload else "off")

    from litellm.proxy.proxy_cli import run_server
    from litellm.proxy.proxy_server import app

    app_routes.install(app, manager)
    args = ["--config", str(litellm_config), "--host", options.host, "--port", str(options.port),
            "--num_workers", str(options.num_workers)]
    if options.ssl_certfile and options.ssl_keyfile:
        args += ["--ssl_certfile_path", options.ssl_certfile, "--ssl_keyfile_path", options.ssl_keyfile]
    run_server.main(args=args, standalone_mode=False)
