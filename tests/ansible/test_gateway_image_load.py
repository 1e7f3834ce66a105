"""The gateway role's image load (ansible/roles/gateway/tasks/install_image.yml), run with real podman.

podman load names an image after its archive's ref (localhost/gateway:VERSION) while the unit runs
gateway_image: the task's command must leave gateway_image on the archive just loaded, so a patch to N+1
runs N+1 and the rollback's archive makes N's image the one that runs again. The booted site container
cannot run podman inside it, so the command is taken from the task file, rendered, and run here against
a private podman storage with two tiny images standing in for N and N+1.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import jinja2
import pytest
import yaml

from tests.ansible.playbook import REPO

TASKS = REPO / "ansible/roles/gateway/tasks/install_image.yml"
IMAGE = "localhost/gateway:latest"  # the role's default gateway_image

pytestmark = pytest.mark.skipif(not shutil.which("podman") or not shutil.which("buildah") or os.geteuid() != 0,
                                reason="needs root, podman and buildah")


def load_command(home: Path) -> str:
    (task,) = [t for t in yaml.safe_load(TASKS.read_text()) if "podman load" in str(t)]
    return jinja2.Template(task["ansible.builtin.shell"]["cmd"]).render(gateway_home=home, gateway_image=IMAGE)


@pytest.fixture
def storage(tmp_path) -> dict[str, str]:
    conf = tmp_path / "storage.conf"
    conf.write_text(f'[storage]\ndriver = "vfs"\ngraphroot = "{tmp_path}/root"\nrunroot = "{tmp_path}/run"\n')
    return {**os.environ, "CONTAINERS_STORAGE_CONF": str(conf)}


def run(env: dict, *cmd: str) -> str:
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def tiny_archive(env: dict, tmp: Path, version: str) -> tuple[Path, str]:
    """An OCI archive of a one-file image named gateway:VERSION (as images/build-images.sh names its ref)."""
    (tmp / "VERSION").write_text(version)
    ctr = run(env, "buildah", "from", "scratch")
    run(env, "buildah", "copy", ctr, str(tmp / "VERSION"), "/VERSION")
    image_id = run(env, "buildah", "commit", "--quiet", "--rm", ctr, f"localhost/gateway:{version}")
    archive = tmp / f"gateway-{version}-oci.tar"
    run(env, "podman", "save", "--quiet", "--format", "oci-archive", "-o", str(archive), f"localhost/gateway:{version}")
    return archive, image_id


def test_the_archive_loaded_last_is_the_image_the_unit_runs_on_patch_and_rollback(storage, tmp_path):
    n, id_n = tiny_archive(storage, tmp_path, "0.1.0")
    n1, id_n1 = tiny_archive(storage, tmp_path, "0.1.1")
    run(storage, "podman", "rmi", "--all", "--force")  # the node starts with an empty storage
    home = tmp_path / "home"
    home.mkdir()
    for archive, expected in ((n, id_n), (n1, id_n1), (n, id_n)):  # install N, patch to N+1, roll back to N
        shutil.copy(archive, home / "gateway-oci.tar")  # the role's copy task
        run(storage, "bash", "-c", load_command(home))
        assert run(storage, "podman", "image", "inspect", "--format", "{{.Id}}", IMAGE) == expected, archive.name


def test_an_archive_podman_cannot_load_fails_naming_it(storage, tmp_path):
    (tmp_path / "gateway-oci.tar").write_bytes(b"not an archive")
    out = subprocess.run(["bash", "-c", load_command(tmp_path)], env=storage, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode != 0
    assert run(storage, "podman", "images", "--quiet") == ""
