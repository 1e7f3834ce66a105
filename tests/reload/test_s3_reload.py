"""Model hot reload from a real S3 server over mTLS (SeaweedFS), and what happens when S3 misbehaves."""

from __future__ import annotations

import pytest

from gateway.config.loader import parse_config
from gateway.reload.loader import load_runtime
from gateway.reload.manager import ReloadManager
from gateway.reload.sources import SourceError
from tests.helpers import constant_knn, knn_config
from tests.reload.s3_store import put, s3_store, settings, site_pki

pytestmark = pytest.mark.slow
QUERY = [{"role": "user", "content": "hello"}]
DEPLOYMENTS = [{"litellm_params": {"model": f"openai/{m}"}} for m in ("demo-small", "demo-coder", "demo-large")]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    pki_dir = site_pki(tmp_path_factory.mktemp("pki"))
    with s3_store(pki_dir) as port:
        yield pki_dir, port


def artifact_bytes(tmp_path, prefer, version):
    return constant_knn(tmp_path / f"{version}.tar", prefer, version).read_bytes()


def s3_config(tmp_path, pki_dir, port, key="knn.tar", bucket="artifacts", **overrides):
    data = knn_config(tmp_path / "unused.tar")
    args = data["router_settings"]["routing_strategy_args"]
    args.pop("model_path")
    s3 = settings(pki_dir, port).model_dump(mode="json")
    s3.update(overrides)
    args.update(hot_reload=True, reload_interval=0.1, model_s3_bucket=bucket, model_s3_key=key, s3=s3)
    return parse_config(data, tmp_path / "config.yaml")


async def started(config):
    manager = ReloadManager(config, await load_runtime(config), apply_to_litellm=lambda c: None,
                            publish=lambda r: None, config_reload=False)
    await manager.start()
    return manager


async def chosen(manager):
    deployment = await manager.runtime.choose("auto", DEPLOYMENTS, QUERY)
    return deployment["litellm_params"]["model"].split("/")[1]


async def test_new_etag_reloads_over_mtls(store, tmp_path):
    pki_dir, port = store
    put(pki_dir, port, "artifacts", "etag.tar", artifact_bytes(tmp_path, "demo-small", "s1"))
    manager = await started(s3_config(tmp_path, pki_dir, port, key="etag.tar"))
    try:
        assert await chosen(manager) == "demo-small"
        assert await manager.model_watcher.check_once() is False  # same ETag: nothing to do
        put(pki_dir, port, "artifacts", "etag.tar", artifact_bytes(tmp_path, "demo-large", "s2"))
        assert await manager.model_watcher.check_once() is True
        assert await chosen(manager) == "demo-large"
        status = manager.status.as_dict()["model_groups"]["auto"]
        assert status["source"] == "s3://artifacts/etag.tar" and status["artifact_version"] == "s2"
        assert status["applied_token"].startswith("etag=")
        # a corrupt upload is refused; s2 keeps serving
        put(pki_dir, port, "artifacts", "etag.tar", b"not an artifact" * 100)
        assert await manager.model_watcher.check_once() is False
        assert await chosen(manager) == "demo-large"
        assert "not a readable artifact archive" in manager.status.models.last_error
    finally:
        await manager.stop()


@pytest.mark.parametrize("fault, expected", [
    ({"secret_key": "wrong-secret"}, "SignatureDoesNotMatch"),
    ({"access_key": "nobody"}, "InvalidAccessKeyId"),
    ({"key": "missing.tar"}, "NoSuchKey"),
    ({"bucket": "private"}, "AccessDenied"),
    ({"endpoint": "127.0.0.1:9"}, "Connection refused"),
    ({"cert_file": None, "key_file": None}, "SSL"),
])
async def test_store_faults_keep_the_model_serving(store, tmp_path, fault, expected):
    pki_dir, port = store
    put(pki_dir, port, "artifacts", "fault.tar", artifact_bytes(tmp_path, "demo-coder", "f1"))
    put(pki_dir, port, "private", "fault.tar", artifact_bytes(tmp_path, "demo-coder", "f1"))
    manager = await started(s3_config(tmp_path, pki_dir, port, key="fault.tar"))
    try:
        assert await chosen(manager) == "demo-coder"
        # the operator's next config points at a store that fails: the watcher says why, keeps serving
        key = fault.pop("key", "fault.tar")
        bucket = fault.pop("bucket", "artifacts")
        broken = s3_config(tmp_path, pki_dir, port, key=key, bucket=bucket, **fault)
        from gateway.reload.loader import model_source

        manager.model_watcher.source = model_source(broken)
        with pytest.raises(SourceError) as err:
            await manager.model_watcher.check_once()
        assert expected in str(err.value)
        assert expected in manager.status.models.last_error
        assert await chosen(manager) == "demo-coder"
    finally:
        await manager.stop()


async def test_start_up_with_an_unreachable_store_names_the_key(store, tmp_path):
    from gateway.errors import ConfigError

    pki_dir, port = store
    with pytest.raises(ConfigError) as err:
        await load_runtime(s3_config(tmp_path, pki_dir, port, key="never-published.tar"))
    assert err.value.key == "router_settings.routing_strategy_args.model_s3_key"
    assert "NoSuchKey" in str(err.value)


def test_publish_cli_seeds_an_absent_key_once_and_refuses_a_corrupt_artifact(store, tmp_path, monkeypatch, capsys):
    """`gateway artifact publish --if-absent`: what the Ansible gateway role runs to seed S3 at install."""
    from gateway.cli import main
    from gateway.reload.s3 import make_client

    pki_dir, port = store
    admin = settings(pki_dir, port, "admin")
    for name, value in {"ENDPOINT": admin.endpoint, "ACCESS_KEY": admin.access_key, "SECRET_KEY": admin.secret_key,
                        "CA_FILE": admin.ca_file, "CERT_FILE": admin.cert_file, "KEY_FILE": admin.key_file,
                        "TLS_SERVER_NAME": admin.tls_server_name}.items():
        monkeypatch.setenv(f"GATEWAY_S3_{name}", str(value))
    first = constant_knn(tmp_path / "first.tar", "demo-small", "v1")
    second = constant_knn(tmp_path / "second.tar", "demo-large", "v2")
    target = "artifacts/seed/current.tar"
    assert main(["artifact", "publish", str(first), "--s3", target, "--if-absent"]) == 0
    assert "published" in capsys.readouterr().out
    assert main(["artifact", "publish", str(second), "--s3", target, "--if-absent"]) == 0
    assert "present" in capsys.readouterr().out
    stored = make_client(admin).get_object("artifacts", "seed/current.tar").read()
    assert stored == first.read_bytes()  # --if-absent left the seeded object alone
    corrupt = tmp_path / "corrupt.tar"
    data = bytearray(first.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside a member: its checksum in the manifest no longer matches
    corrupt.write_bytes(bytes(data))
    assert main(["artifact", "publish", str(corrupt), "--s3", target]) == 2
    assert make_client(admin).get_object("artifacts", "seed/current.tar").read() == first.read_bytes()
