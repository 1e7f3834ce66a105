"""Every reload attempt leaves a span and a log line; decisions leave a span without prompt text."""

from __future__ import annotations

import logging
import os

from gateway.config.loader import load_config
from gateway.reload.loader import load_runtime
from gateway.reload.manager import ReloadManager
from tests.helpers import constant_knn, knn_config, write_config


async def test_reload_attempts_leave_spans_and_log_lines(tmp_path, spans, caplog):
    model = constant_knn(tmp_path / "model.tar", "demo-small", "t1")
    data = knn_config(model)
    data["router_settings"]["routing_strategy_args"].update(hot_reload=True, reload_interval=30)
    config = load_config(write_config(tmp_path, data))
    manager = ReloadManager(config, await load_runtime(config), lambda c: None, lambda r: None, config_reload=False)
    await manager.start()
    try:
        caplog.set_level(logging.INFO, logger="gateway.reload")
        constant_knn(tmp_path / "model.tar", "demo-large", "t2")
        os.utime(model, (os.stat(model).st_mtime + 2,) * 2)
        assert await manager.model_watcher.check_once()
        model.write_bytes(b"broken")
        os.utime(model, (os.stat(model).st_mtime + 4,) * 2)
        assert not await manager.model_watcher.check_once()
    finally:
        await manager.stop()
    reloads = [s for s in spans.get_finished_spans() if s.name == "gateway.reload.model"]
    assert [s.attributes["gateway.reload.result"] for s in reloads] == ["applied", "rejected"]
    assert reloads[1].status.status_code.name == "ERROR"
    messages = [r.getMessage() for r in caplog.records if r.name == "gateway.reload"]
    assert any("model reload applied" in m for m in messages)
    assert any("rejected" in m and "keeping what is serving" in m for m in messages)


async def test_decision_span_carries_the_choice_not_the_prompt(tmp_path, spans, demo_artifact):
    from gateway.routing.runtime import RoutingRuntime

    runtime = RoutingRuntime.from_config(load_config(write_config(tmp_path, knn_config(demo_artifact))))
    deployments = [{"litellm_params": {"model": f"openai/{m}"}} for m in ("demo-small", "demo-coder", "demo-large")]
    secret = "Write a Rust function for project kumquat-9182"
    await runtime.choose("auto", deployments, [{"role": "user", "content": secret}])
    (span,) = [s for s in spans.get_finished_spans() if s.name == "gateway.routing.decision"]
    attrs = dict(span.attributes)
    assert attrs["gateway.routing.strategy"] == "llmrouter-knn"
    assert attrs["gateway.routing.chosen"] == "demo-coder"
    assert list(attrs["gateway.routing.candidates"]) == ["demo-small", "demo-coder", "demo-large"]
    assert attrs["gateway.routing.decision_ms"] > 0
    assert all("kumquat" not in str(v) for v in attrs.values())
