"""install.sh install: verification comes first; a tampered bundle never reaches ansible-playbook."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess

import pytest

from tests.bundle import synthetic

FAKE_PLAYBOOK = """#!/bin/sh
# Records that it ran, with its arguments, one per line.
printf '%s\\n' "$@" >"$RECORD"
printf 'ANSIBLE_CONFIG=%s\\n' "$ANSIBLE_CONFIG" >>"$RECORD"
"""


@pytest.fixture
def site(tmp_path):
    """A fake ansible-playbook on PATH, an inventory, a manifest directory and the files they lead to."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ansible-playbook").write_text(FAKE_PLAYBOOK)
    (bin_dir / "ansible-playbook").chmod(0o755)
    (tmp_path / "hosts.yml").write_text("all: {hosts: {node1: {}}}\n")
    (tmp_path / "site-out").mkdir()
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "RECORD": str(tmp_path / "record"),
           "ANSIBLE_VENV": str(tmp_path / "venv")}
    return tmp_path, env


def _install(pubkey, bundle, site_dir, env, *extra):
    return synthetic.run_install_sh(
        "install", "--pubkey", str(pubkey), "-i", str(site_dir / "hosts.yml"), "--manifest-dir",
        str(site_dir / "site-out"), "--staging", str(site_dir / "staging"), str(bundle), "--", *extra, env=env)


def test_a_good_bundle_is_unpacked_verified_and_handed_to_ansible_playbook(built, pubkey, site):
    site_dir, env = site
    result = _install(pubkey, built, site_dir, env, "--limit", "node1", "--check")
    assert result.returncode == 0, result.stderr
    bundle_dir = site_dir / "staging" / synthetic.TOP
    assert (bundle_dir / "SHA256SUMS").is_file()
    assert [p.name for p in (site_dir / "staging").iterdir()] == [synthetic.TOP]  # no .unpack.* left
    assert (site_dir / "record").read_text().splitlines() == [
        "-i", str(site_dir / "hosts.yml"), str(bundle_dir / "ansible/site.yml"),
        "-e", f"appliance_bundle_dir={bundle_dir}", "-e", f"appliance_dir={site_dir / 'site-out'}",
        "--limit", "node1", "--check", f"ANSIBLE_CONFIG={bundle_dir / 'ansible/ansible.cfg'}"]
    assert not (site_dir / "venv").exists()  # no Ansible wheelhouse in this bundle: PATH's is used


def test_a_tampered_tarball_never_reaches_ansible_playbook(built, pubkey, site):
    site_dir, env = site
    with synthetic.read_tar(built) as tf:
        members = [(m, tf.extractfile(m).read() if m.isfile() else None) for m in tf.getmembers()]
    tampered = []
    for info, data in members:
        if info.name.endswith("/ansible/site.yml"):
            data += b"- hosts: all\n  tasks: [{ansible.builtin.command: 'id'}]\n"
            info.size = len(data)
        tampered.append((info, data))
    bundle = synthetic.make_tar_zst(site_dir / "tampered.tar.zst", tampered)
    result = _install(pubkey, bundle, site_dir, env)
    assert result.returncode == 1
    assert "ansible/site.yml: altered" in result.stderr and "nothing was installed" in result.stderr
    assert not (site_dir / "record").exists()
    assert list((site_dir / "staging").iterdir()) == []


@pytest.mark.parametrize("damage", ["extra file", "bad signature", "missing file"])
def test_a_tampered_directory_never_reaches_ansible_playbook(pubkey, unpacked, site, damage):
    site_dir, env = site
    if damage == "extra file":
        (unpacked / "ansible/group_vars.yml").write_text("x: 1\n")
    elif damage == "bad signature":
        (unpacked / "SHA256SUMS.sig").write_bytes(bytes(64))
    else:
        (unpacked / "install.sh").unlink()
    result = _install(pubkey, unpacked, site_dir, env)
    assert result.returncode == 1, result.stdout
    assert not (site_dir / "record").exists()


def test_install_needs_the_public_key_and_an_inventory(built, site):
    site_dir, env = site
    result = synthetic.run_install_sh("install", "-i", str(site_dir / "hosts.yml"), str(built), env=env)
    assert result.returncode == 1 and "--pubkey KEY.pem is required" in result.stderr
    result = synthetic.run_install_sh("install", "--pubkey", "k.pem", str(built), env=env)
    assert result.returncode == 1 and "-i INVENTORY is required" in result.stderr


def test_help_describes_both_commands():
    result = synthetic.run_install_sh("--help")
    assert result.returncode == 0
    assert "install.sh verify" in result.stdout and "install.sh install" in result.stdout


def _ensurepip() -> bool:
    return subprocess.run(["python3", "-c", "import ensurepip"], capture_output=True).returncode == 0


@pytest.mark.slow  # a real venv and pip install: 5-15 s
@pytest.mark.skipif(not shutil.which("python3") or not _ensurepip(), reason="needs python3 with venv (python3-venv)")
def test_the_ansible_venv_is_made_offline_from_the_bundle_once(repo, key, pubkey, site):
    site_dir, env = site
    copy = shutil.copytree(repo, site_dir / "repo")
    for arch in ("amd64", "arm64"):
        wh = copy / f"wheelhouse/dist/ansible-linux-{arch}"
        wheel = synthetic.make_wheel(
            wh, "fakeansible", "1.0",
            {"fakeansible.py": "import os, sys\n\ndef main():\n"
                               "    open(os.environ['RECORD'], 'w').write('\\n'.join(sys.argv[1:]) + '\\n')\n"},
            entry_points="[console_scripts]\nansible-playbook = fakeansible:main\n")
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        (wh / "requirements").mkdir()
        (wh / "requirements/ansible.txt").write_text(f"fakeansible==1.0 --hash=sha256:{digest}\n")
    built = synthetic.build(copy, site_dir / "out", key)
    assert built.returncode == 0, built.stderr
    bundle = synthetic.bundle_path(site_dir / "out")
    env = dict(env, PATH="/usr/bin:/bin")  # no fake on PATH: the venv's ansible-playbook must run

    first = _install(pubkey, bundle, site_dir, env, "--check")
    assert first.returncode == 0, first.stderr
    assert "making the Ansible venv" in first.stderr
    assert (site_dir / "venv/bin/ansible-playbook").is_file()
    assert (site_dir / "record").read_text().splitlines()[-1] == "--check"

    second = _install(pubkey, bundle, site_dir, env)
    assert second.returncode == 0, second.stderr
    assert "already matches ansible.txt" in second.stderr
