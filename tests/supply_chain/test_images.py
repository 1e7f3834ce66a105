"""The runtime image: its Containerfile, the OCI archive, and smoke runs under podman (qemu for arm64)."""

from __future__ import annotations

import json
import re
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.supply_chain.podman import (
    CHAT,
    CONTAINERFILE,
    ROOT,
    RUN_FLAGS,
    Container,
    demo_config,
    healthcheck_cmd,
    load,
    podman,
)


def test_the_containerfile_has_what_the_appliance_relies_on():
    text = CONTAINERFILE.read_text()
    assert "/health/liveliness" in " ".join(healthcheck_cmd())
    assert re.search(r"^USER 1000:1000$", text, re.M)
    assert re.search(r'^ENTRYPOINT \["/usr/bin/tini", "--"', text, re.M)
    for label in ("version", "revision", "source"):
        assert f"org.opencontainers.image.{label}=" in text
    install_lines = [line for line in text.splitlines() if "pip install" in line]
    assert install_lines and all("--no-index" in line for line in install_lines)
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert code.count("--require-hashes") == len(install_lines)
    assert "FROM ${BASE_IMAGE} AS base" in text


def _archive_json(archive: Path, name: str) -> dict:
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
        return json.load(tar.extractfile(name if name in names else f"./{name}"))


def _blob(archive: Path, digest: str) -> dict:
    return _archive_json(archive, f"blobs/sha256/{digest.removeprefix('sha256:')}")


@pytest.mark.images
def test_the_archive_is_one_oci_index_for_amd64_and_arm64(image_archive: Path):
    (entry,) = _archive_json(image_archive, "index.json")["manifests"]
    assert entry["mediaType"] == "application/vnd.oci.image.index.v1+json"
    index = _blob(image_archive, entry["digest"])
    assert sorted(m["platform"]["architecture"] for m in index["manifests"]) == ["amd64", "arm64"]


@pytest.mark.images
def test_every_image_is_labelled_and_runs_as_uid_1000(image_archive: Path):
    (entry,) = _archive_json(image_archive, "index.json")["manifests"]
    version = re.search(r'^version = "(.*)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    for manifest in _blob(image_archive, entry["digest"])["manifests"]:
        config = _blob(image_archive, _blob(image_archive, manifest["digest"])["config"]["digest"])
        labels = config["config"]["Labels"]
        assert labels["org.opencontainers.image.version"] == version
        assert labels["org.opencontainers.image.revision"].startswith(head)
        assert labels["org.opencontainers.image.source"]
        assert config["config"]["User"] == "1000:1000"
        assert config["config"]["Entrypoint"][:2] == ["/usr/bin/tini", "--"]


@pytest.fixture
def demo(tmp_path: Path, demo_artifact: Path) -> Path:
    return demo_config(tmp_path, demo_artifact)


@pytest.mark.images
def test_the_amd64_image_answers_health_and_a_routed_chat(image_archive: Path, demo: Path):
    image = load(image_archive, "amd64")
    container = Container(image, "amd64", demo)
    try:
        seconds = container.wait_healthy(timeout=120)
        print(f"amd64: healthy {seconds:.1f} s after podman run")
        answer = json.loads(container.python(CHAT))
        assert answer["status"] == 200
        assert answer["routed"] in {"demo-small", "demo-coder", "demo-large"}
        assert answer["body"]["choices"][0]["message"]["content"].startswith(answer["routed"])
        assert container.python("import os; print(os.getuid(), open('/proc/1/cmdline').read().split(chr(0))[0])"
                                ).split() == ["1000", "/usr/bin/tini"]
    finally:
        container.remove()
        podman("rmi", image, check=False)


@pytest.mark.images
def test_the_runtime_image_has_no_training_stack_and_no_build_tools(image_archive: Path):
    image = load(image_archive, "amd64")
    probe = ("import importlib.util as u, shutil; "
             "print([m for m in ('torch', 'sklearn', 'transformers', 'sentence_transformers', 'pip', "
             "'setuptools') if u.find_spec(m)] + [t for t in ('gcc', 'cc', 'make') if shutil.which(t)])")
    try:
        out = podman("run", "--rm", *RUN_FLAGS, "--network", "none", "--entrypoint", "python3", image,
                     "-c", probe).stdout
        assert out.strip() == "[]"
    finally:
        podman("rmi", image, check=False)


@pytest.mark.images
@pytest.mark.arm64
def test_the_arm64_image_starts_under_qemu_and_answers_health(image_archive: Path, demo: Path):
    image = load(image_archive, "arm64")
    container = Container(image, "arm64", demo)
    try:
        seconds = container.wait_healthy(timeout=900)
        print(f"arm64 (qemu): healthy {seconds:.1f} s after podman run")
        assert "aarch64" in container.python("import platform; print(platform.machine())")
    finally:
        container.remove()
        podman("rmi", image, check=False)
