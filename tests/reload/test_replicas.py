"""Two gateway processes watch the same S3 objects over mTLS and converge on the same versions."""

from __future__ import annotations

import httpx
import pytest
import yaml

from tests.helpers import constant_knn, knn_config, wait_until
from tests.integration.gateway_process import GatewayProcess
from tests.reload.s3_store import put, s3_store, settings, site_pki

pytestmark = pytest.mark.slow
AUTH = {"Authorization": "Bearer sk-test"}


def s3_env(pki_dir, port):
    s = settings(pki_dir, port)
    return {
        "CONFIG_HOT_RELOAD": "true", "CONFIG_RELOAD_INTERVAL": "0.3",
        "CONFIG_S3_BUCKET": "configs", "CONFIG_S3_KEY": "gateway.yaml",
        "GATEWAY_S3_ENDPOINT": s.endpoint, "GATEWAY_S3_ACCESS_KEY": s.access_key,
        "GATEWAY_S3_SECRET_KEY": s.secret_key, "GATEWAY_S3_CA_FILE": str(s.ca_file),
        "GATEWAY_S3_CERT_FILE": str(s.cert_file), "GATEWAY_S3_KEY_FILE": str(s.key_file),
        "GATEWAY_S3_TLS_SERVER_NAME": s.tls_server_name,
    }


def config_yaml(tmp_path, upstream_url, strategy="llmrouter-knn") -> bytes:
    data = knn_config(tmp_path / "unused.tar", api_base=upstream_url)
    args = data["router_settings"]["routing_strategy_args"]
    args.pop("model_path")
    data["router_settings"]["routing_strategy"] = strategy
    if strategy == "llmrouter-knn":
        # the S3 endpoint and certificates come from GATEWAY_S3_* (one place for both watchers)
        args.update(hot_reload=True, reload_interval=0.3, model_s3_bucket="artifacts", model_s3_key="replica.tar")
    return yaml.safe_dump(data, sort_keys=False).encode()


def routed(gateway) -> str:
    body = {"model": "auto", "messages": [{"role": "user", "content": "hello"}]}
    r = httpx.post(f"{gateway.url}/v1/chat/completions", json=body, headers=AUTH, timeout=30)
    assert r.status_code == 200, r.text
    return r.headers["x-gateway-routed-model"]


def test_two_replicas_converge_on_artifacts_and_configs(tmp_path, fake_upstream):
    pki_dir = site_pki(tmp_path / "pki")
    with s3_store(pki_dir) as port:
        put(pki_dir, port, "artifacts", "replica.tar",
            constant_knn(tmp_path / "r1.tar", "demo-small", "r1").read_bytes())
        first = config_yaml(tmp_path, fake_upstream.base_url)
        put(pki_dir, port, "configs", "gateway.yaml", first)
        local = tmp_path / "bootstrap.yaml"
        local.write_bytes(first)
        env = s3_env(pki_dir, port)
        replicas = [GatewayProcess(local, tmp_path / f"gw{i}.log", env=env) for i in (1, 2)]
        try:
            for gw in replicas:
                gw.wait_ready()
            assert [routed(gw) for gw in replicas] == ["demo-small", "demo-small"]

            put(pki_dir, port, "artifacts", "replica.tar",
                constant_knn(tmp_path / "r2.tar", "demo-large", "r2").read_bytes())

            def versions():
                return [httpx.get(f"{gw.url}/hot-reload/status", headers=AUTH).json()
                        ["model_groups"]["auto"]["artifact_version"] for gw in replicas]

            assert wait_until(lambda: versions() == ["r2", "r2"], timeout=90), versions()  # generous: CI is busy
            assert [routed(gw) for gw in replicas] == ["demo-large", "demo-large"]
            shas = {httpx.get(f"{gw.url}/hot-reload/status", headers=AUTH).json()["model_groups"]["auto"]["sha256"]
                    for gw in replicas}
            assert len(shas) == 1

            put(pki_dir, port, "configs", "gateway.yaml",
                config_yaml(tmp_path, fake_upstream.base_url, strategy="llmrouter-smallest"))
            assert wait_until(lambda: [routed(gw) for gw in replicas] == ["demo-small", "demo-small"], timeout=90), \
                [routed(gw) for gw in replicas]
            for gw in replicas:
                status = httpx.get(f"{gw.url}/hot-reload/status", headers=AUTH).json()
                assert status["config"]["source"] == "s3://configs/gateway.yaml"
                assert status["config"]["applied_token"].startswith("etag=")
                assert status["model_groups"]["auto"]["strategy"] == "llmrouter-smallest"
        finally:
            for gw in replicas:
                gw.stop()
