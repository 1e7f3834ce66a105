"""Model hot reload from a local file: new artifacts swap in; bad ones are refused, the old one serves."""

from __future__ import annotations

import os

import pytest

from gateway.config.loader import load_config
from gateway.reload.loader import load_runtime
from gateway.reload.manager import ReloadManager
from tests.helpers import constant_knn, knn_config, write_config

QUERY = [{"role": "user", "content": "hello there"}]
DEPLOYMENTS = [{"litellm_params": {"model": f"openai/{m}"}} for m in ("demo-small", "demo-coder", "demo-large")]


@pytest.fixture
async def manager(tmp_path):
    artifact = constant_knn(tmp_path / "model.tar", "demo-small", "v1")
    data = knn_config(artifact)
    data["router_settings"]["routing_strategy_args"].update(hot_reload=True, reload_interval=0.1)
    config = load_config(write_config(tmp_path, data))
    runtime = await load_runtime(config)
    published = []
    mgr = ReloadManager(config, runtime, apply_to_litellm=lambda c: None, publish=published.append,
                        config_reload=False)
    await mgr.start()
    yield mgr
    await mgr.stop()


async def chosen(mgr):
    deployment = await mgr.runtime.choose("auto", DEPLOYMENTS, QUERY)
    return deployment["litellm_params"]["model"].split("/")[1]


def publish(path, prefer, version):
    """Write next to the watched file, then rename over it: what an operator's deploy does."""
    staged = constant_knn(path.with_suffix(".staged"), prefer, version)
    os.replace(staged, path)
    future = os.stat(path).st_mtime + 1  # mtime granularity must not hide the change
    os.utime(path, (future, future))


async def test_a_new_artifact_swaps_in(manager, tmp_path):
    assert await chosen(manager) == "demo-small"
    publish(tmp_path / "model.tar", "demo-large", "v2")
    assert await manager.model_watcher.check_once() is True
    assert await chosen(manager) == "demo-large"
    status = manager.status.as_dict()
    assert status["model_groups"]["auto"]["artifact_version"] == "v2"
    assert status["model_groups"]["auto"]["last_error"] is None
    assert len(status["model_groups"]["auto"]["sha256"]) == 64


async def test_unchanged_file_is_not_reloaded(manager):
    assert await manager.model_watcher.check_once() is False


@pytest.mark.parametrize("damage, message", [
    (lambda p: p.write_bytes(b"\x00" * 100), "not a readable artifact archive"),
    (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "artifact"),
])
async def test_corrupt_or_truncated_artifact_keeps_the_old_model(manager, tmp_path, damage, message):
    target = tmp_path / "model.tar"
    constant_knn(tmp_path / "good.tar", "demo-coder", "v3")
    (tmp_path / "good.tar").replace(target)
    damage(target)
    os.utime(target, (os.stat(target).st_mtime + 5,) * 2)
    assert await manager.model_watcher.check_once() is False
    assert await chosen(manager) == "demo-small"
    status = manager.status.as_dict()["model_groups"]["auto"]
    assert status["artifact_version"] == "v1" and message in status["last_error"]
    assert status["failures"] == 1


async def test_artifact_with_candidates_the_config_lacks_is_refused(manager, tmp_path):
    constant_knn(tmp_path / "other.tar", "gpt-x", "v4", candidates=("demo-small", "gpt-x", "demo-large"))
    os.replace(tmp_path / "other.tar", tmp_path / "model.tar")
    os.utime(tmp_path / "model.tar", (os.stat(tmp_path / "model.tar").st_mtime + 5,) * 2)
    assert await manager.model_watcher.check_once() is False
    assert await chosen(manager) == "demo-small"
    assert "gpt-x" in manager.status.models.last_error


async def test_missing_file_backs_off_and_keeps_serving(manager, tmp_path):
    from gateway.reload.sources import SourceError

    (tmp_path / "model.tar").unlink()
    with pytest.raises(SourceError):
        await manager.model_watcher.check_once()
    assert await chosen(manager) == "demo-small"
    assert "not found" in manager.status.models.last_error
