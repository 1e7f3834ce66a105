"""At DEBUG (LITELLM_LOG=DEBUG, set_verbose: LiteLLM's and the gateway's loggers) neither the master key nor
the prompt text reaches a log line or a span: not the console, not stdout, not OTLP logs, not OTLP spans,
while the debug records themselves are there (LiteLLM's "receiving data" line, redacted)."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.helpers import knn_config, write_config
from tests.observability.conftest import FAST_EXPORT, start_gateway

pytestmark = pytest.mark.slow
MASTER_KEY = "sk-debug-master-5Qv8Lw"
PROMPT = "persimmon-4409 write a Python class for the ledger"


def test_master_key_and_prompt_never_reach_debug_logs_or_spans(tmp_path, receiver, demo_artifact, upstream):
    data = knn_config(demo_artifact, api_base=upstream.base_url)
    data["general_settings"]["master_key"] = MASTER_KEY
    data["litellm_settings"] = {"callbacks": ["otel"], "set_verbose": True}
    env = {**receiver.env("grpc"), **FAST_EXPORT, "LITELLM_OTEL_V2": "true", "LITELLM_LOG": "DEBUG"}
    gw = start_gateway(write_config(tmp_path, data), tmp_path / "gw.log", env)
    try:
        headers = {"Authorization": f"Bearer {MASTER_KEY}"}
        for stream in (False, True):
            body = {"model": "auto", "stream": stream, "messages": [{"role": "user", "content": PROMPT}]}
            response = httpx.post(f"{gw.url}/v1/chat/completions", json=body, headers=headers, timeout=60)
            assert response.status_code == 200, response.text
        assert httpx.post(f"{gw.url}/v1/chat/completions", json=body, timeout=60,
                          headers={"Authorization": f"Bearer {MASTER_KEY}x"}).status_code == 401
        # wait for both answered requests' telemetry, not the first batch: the checks below that no secret
        # was exported mean little on a part of it, and the second request's records can come later
        receiver.wait_for(lambda: len([s for s in receiver.spans() if s["name"] == "chat auto"]) >= 2,
                          what="the LLM spans of both requests (2 'chat auto')")
        logs = receiver.wait_for(
            lambda: (found := [r for r in receiver.logs() if "receiving data" in str(r["body"])]) and len(found) >= 2
            and found, what="LiteLLM's debug records of both requests (2 'receiving data')")
    finally:
        gw.stop()
    console = gw.log_path.read_text(errors="replace")
    assert "receiving data: {" in console and "'content': '[REDACTED]'" in console  # DEBUG was on
    exported = json.dumps([receiver.spans(), receiver.logs()], default=str)
    for secret in (MASTER_KEY, "5Qv8Lw", "persimmon-4409"):
        assert secret not in console, [ln for ln in console.splitlines() if secret in ln][:3]
        assert secret not in exported
    assert "[REDACTED]" in json.dumps([r["body"] for r in logs], default=str)
