"""Under continuous load: 5 new artifacts and 3 new configs, zero failed requests.

After each publish the decisions follow the new artifact or config; the time from publish to
the first request served by the new model is printed (and kept in docs/hot-reload.md).
"""

from __future__ import annotations

import os
import time

import httpx
import pytest

from tests.helpers import constant_knn, knn_config, wait_until, write_config
from tests.integration.gateway_process import GatewayProcess
from tests.reload.load import BackgroundLoad

pytestmark = pytest.mark.slow
INTERVAL = 0.2


def replace_atomically(path, write):
    """Stage next to the target, then rename over it (what a deploy tool does)."""
    staged = path.with_name(path.name + ".staged")
    write(staged)
    os.replace(staged, path)
    bump = time.time() + 1
    os.utime(path, (bump, bump))


def config_data(tmp_path, upstream_url, model_path, strategy="llmrouter-knn", drop=()):
    data = knn_config(model_path, api_base=upstream_url)
    data["model_list"] = [d for d in data["model_list"] if d["litellm_params"]["model"].split("/")[1] not in drop]
    args = data["router_settings"]["routing_strategy_args"]
    args.update(hot_reload=True, reload_interval=INTERVAL)
    data["router_settings"]["routing_strategy"] = strategy
    if strategy == "llmrouter-smallest":
        args.pop("model_path")
    data["litellm_settings"] = {"callbacks": ["prometheus"]}
    return data


def test_five_artifacts_and_three_configs_under_load(tmp_path, fake_upstream):
    fake_upstream.reset()
    model = constant_knn(tmp_path / "model.tar", "demo-small", "v1")
    config = write_config(tmp_path, config_data(tmp_path, fake_upstream.base_url, model))
    gateway = GatewayProcess(config, tmp_path / "gateway.log",
                             env={"CONFIG_HOT_RELOAD": "true", "CONFIG_RELOAD_INTERVAL": str(INTERVAL)})
    latencies: list[tuple[str, float]] = []
    try:
        gateway.wait_ready()
        with BackgroundLoad(gateway.url, "sk-test", concurrency=4) as load:
            load.first_routed_to("demo-small", after=0)

            def expect(kind: str, label: str, model_name: str, published: float) -> None:
                first = load.first_routed_to(model_name, after=published)
                latencies.append((f"{kind} {label}", first.finished - published))
                # then every request started after that first answer follows the new model
                late = load.completed_after(first.finished, count=8)
                assert set(late) == {model_name}, f"{label}: after the swap, routed to {set(late)}"

            for version, prefer in [("v2", "demo-large"), ("v3", "demo-coder"), ("v4", "demo-small"),
                                    ("v5", "demo-large"), ("v6", "demo-coder")]:
                published = time.monotonic()
                replace_atomically(model, lambda p, prefer=prefer, version=version: constant_knn(p, prefer, version))
                expect("artifact", version, prefer, published)

            # config 1: routing args change (another artifact file)
            other = constant_knn(tmp_path / "model-b.tar", "demo-large", "cfg1")
            published = time.monotonic()
            replace_atomically(config, lambda p: p.write_text(_yaml(config_data(tmp_path, fake_upstream.base_url,
                                                                                   other))))
            expect("config", "routing-args", "demo-large", published)
            # config 2: strategy change (knn -> smallest, no artifact)
            published = time.monotonic()
            replace_atomically(config, lambda p: p.write_text(_yaml(config_data(
                tmp_path, fake_upstream.base_url, other, strategy="llmrouter-smallest"))))
            expect("config", "strategy", "demo-small", published)
            # config 3: model list change (demo-small removed), knn over the two left
            two = constant_knn(tmp_path / "model-c.tar", "demo-coder", "cfg3", candidates=("demo-coder", "demo-large"))
            published = time.monotonic()
            replace_atomically(config, lambda p: p.write_text(_yaml(config_data(
                tmp_path, fake_upstream.base_url, two, drop=("demo-small",)))))
            expect("config", "model-list", "demo-coder", published)

        failures = load.failures()
        assert len(load.outcomes) > 100, "the load was too thin to prove anything"
        assert failures == [], f"{len(failures)} failed of {len(load.outcomes)}: {failures[:3]}"

        status = httpx.get(f"{gateway.url}/hot-reload/status", headers={"Authorization": "Bearer sk-test"}).json()
        group = status["model_groups"]["auto"]
        assert group["artifact_version"] == "cfg3" and group["strategy"] == "llmrouter-knn"
        assert status["config"]["attempts"] == 3 and status["config"]["last_error"] is None
        assert httpx.get(f"{gateway.url}/hot-reload/status").status_code == 401
        metrics = httpx.get(f"{gateway.url}/metrics/", headers={"Authorization": "Bearer sk-test"}).text
        assert 'gateway_reloads_total{kind="model",result="applied"} 5.0' in metrics
        assert 'gateway_reloads_total{kind="config",result="applied"} 3.0' in metrics
        log = gateway.log()
        assert log.count("model reload applied") == 5 and log.count("config reload applied") == 3
    finally:
        gateway.stop()
    report = ", ".join(f"{label} {seconds * 1000:.0f} ms" for label, seconds in latencies)
    print(f"\npublish -> first request on the new model: {report}; requests: {len(load.outcomes)}")


def _yaml(data):
    import yaml

    return yaml.safe_dump(data, sort_keys=False)


def test_invalid_config_is_rejected_and_the_running_one_stays(tmp_path, fake_upstream):
    fake_upstream.reset()
    model = constant_knn(tmp_path / "model.tar", "demo-coder", "v1")
    config = write_config(tmp_path, config_data(tmp_path, fake_upstream.base_url, model))
    gateway = GatewayProcess(config, tmp_path / "gateway.log",
                             env={"CONFIG_HOT_RELOAD": "true", "CONFIG_RELOAD_INTERVAL": str(INTERVAL)})
    try:
        gateway.wait_ready()
        bad = config_data(tmp_path, fake_upstream.base_url, model)
        bad["router_settings"]["routing_strategy"] = "llmrouter-bogus"
        replace_atomically(config, lambda p: p.write_text(_yaml(bad)))
        auth = {"Authorization": "Bearer sk-test"}

        def last_error(needle: str) -> str:
            """The config watcher's last error once it names `needle` (it polls every INTERVAL s; a loaded
            machine can take seconds), else fail with the status it shows."""
            def seen():
                error = httpx.get(f"{gateway.url}/hot-reload/status", headers=auth, timeout=10).json()[
                    "config"]["last_error"]
                return error if error and needle in error else None

            found = wait_until(seen, timeout=60)
            assert found, f"no config error naming {needle!r} within 60 s: " + str(
                httpx.get(f"{gateway.url}/hot-reload/status", headers=auth, timeout=10).json()["config"])
            return found

        last_error("llmrouter-bogus")
        body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
        r = httpx.post(f"{gateway.url}/v1/chat/completions", json=body, headers=auth, timeout=30)
        assert r.status_code == 200 and r.headers["x-gateway-routed-model"] == "demo-coder"
        replace_atomically(config, lambda p: p.write_text("model_list: [\n"))
        last_error("malformed YAML")
        r = httpx.post(f"{gateway.url}/v1/chat/completions", json=body, headers=auth, timeout=30)
        assert r.status_code == 200 and r.headers["x-gateway-routed-model"] == "demo-coder"
    finally:
        gateway.stop()


