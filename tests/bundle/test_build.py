"""bundle/tools/build.py: reproducible, complete, signed; missing or damaged inputs stop it."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import tarfile

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from tests.bundle import synthetic


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_two_builds_from_the_same_inputs_are_byte_identical_whatever_the_input_mtimes(repo, key, built, tmp_path):
    for path in repo.rglob("*"):
        os.utime(path, (1_000_000_000, 1_000_000_000), follow_symlinks=False)
    result = synthetic.build(repo, tmp_path, key)
    assert result.returncode == 0, result.stderr
    again = synthetic.bundle_path(tmp_path)
    assert _sha(again) == _sha(built)
    pub = f"{synthetic.TOP}.pub.pem"
    assert (tmp_path / pub).read_bytes() == (built.parent / pub).read_bytes()


def test_another_source_date_epoch_gives_another_bundle(repo, key, built, tmp_path):
    result = synthetic.build(repo, tmp_path, key, "--source-date-epoch", "1700000000")
    assert result.returncode == 0, result.stderr
    assert _sha(synthetic.bundle_path(tmp_path)) != _sha(built)


def test_members_are_sorted_root_owned_with_fixed_times_and_normalized_modes(built):
    with synthetic.read_tar(built) as tf:
        members = tf.getmembers()
    names = [m.name for m in members]
    assert names[0] == synthetic.TOP
    assert all(n == synthetic.TOP or n.startswith(synthetic.TOP + "/") for n in names)
    assert names == sorted(names, key=lambda n: n.split("/"))
    for m in members:
        assert (m.uid, m.gid, m.uname, m.gname) == (0, 0, "root", "root"), m.name
        assert m.mtime == int(synthetic.EPOCH), m.name
        assert m.type in (tarfile.REGTYPE, tarfile.DIRTYPE), m.name
        assert m.pax_headers == {}, m.name
        assert m.mode == (0o755 if m.isdir() else m.mode), m.name
        assert m.mode in (0o644, 0o755), m.name
    modes = {m.name.removeprefix(synthetic.TOP + "/"): m.mode for m in members}
    assert modes["install.sh"] == 0o755
    assert modes["ansible/roles/common/files/helper.sh"] == 0o755  # executable in the source
    assert modes["ansible/site.yml"] == 0o644


def test_the_bundle_holds_every_input_and_sha256sums_lists_every_file_but_itself(built, tmp_path):
    top = synthetic.unpack(built, tmp_path)
    files = {p.relative_to(top).as_posix() for p in top.rglob("*") if p.is_file()}
    for expected in ("wheelhouse/linux-amd64/SHA256SUMS", "wheelhouse/linux-arm64/requirements/runtime.txt",
                     "wheelhouse/locks/runtime-linux-arm64.txt", "apt/linux-amd64/Packages",
                     "vendor/artifacts.lock.json", "vendor/otelcol-1.0-linux-arm64/otelcol.tar.gz",
                     "ansible/site.yml", "examples/appliance/single-node/appliance.yaml",
                     "examples/demo/queries.jsonl", "docs/moat-mode.md", "README.md", "install.sh",
                     "BUNDLE-INFO", "sbom/python-runtime-linux-amd64.cdx.json"):
        assert expected in files
    listed = {line.split("  ", 1)[1] for line in (top / "SHA256SUMS").read_text().splitlines()}
    assert listed == files - {"SHA256SUMS", "SHA256SUMS.sig"}
    check = subprocess.run(["sha256sum", "--strict", "-c", "SHA256SUMS"], cwd=top, capture_output=True)
    assert check.returncode == 0
    info = (top / "BUNDLE-INFO").read_text()
    assert "IMAGES=omitted (--no-images" in info and "APT=included" in info


def test_the_signature_verifies_with_the_public_key_written_next_to_the_bundle(built, tmp_path):
    top = synthetic.unpack(built, tmp_path)
    pub = built.parent / f"{synthetic.TOP}.pub.pem"
    load_pem_public_key(pub.read_bytes()).verify((top / "SHA256SUMS.sig").read_bytes(),
                                                 (top / "SHA256SUMS").read_bytes())
    openssl = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(pub), "-rawin",
                              "-in", str(top / "SHA256SUMS"), "-sigfile", str(top / "SHA256SUMS.sig")],
                             capture_output=True, text=True)
    assert openssl.returncode == 0, openssl.stdout + openssl.stderr
    assert "public key" in pub.read_text().lower() and not (top / pub.name).exists()


@pytest.mark.parametrize(("remove", "made_by"), [
    ("wheelhouse/dist/linux-arm64", "make wheelhouse"),
    ("dist/apt/linux-amd64", "make apt-repo"),
    ("vendor/dist", "make vendor"),
    ("ansible/site.yml", "the repository"),
    ("dist/gateway-0.1.0-oci.tar", "make images"),
])
def test_a_missing_input_is_named_with_the_make_target_that_produces_it(repo, key, tmp_path, remove, made_by):
    copy = shutil.copytree(repo, tmp_path / "repo")
    target = copy / remove
    if target.is_dir():
        shutil.rmtree(target)
    else:
        target.unlink(missing_ok=True)  # the synthetic repository has no image archive at all
    result = synthetic.build(copy, tmp_path / "out", key, images=remove.endswith("-oci.tar"))
    assert result.returncode == 1
    assert str(target) in result.stderr and made_by in result.stderr, result.stderr
    assert not list((tmp_path / "out").glob("*.tar.zst*"))


def test_no_apt_and_no_vendor_leave_them_out_and_say_so(repo, key, tmp_path):
    copy = shutil.copytree(repo, tmp_path / "repo")
    shutil.rmtree(copy / "dist/apt")
    shutil.rmtree(copy / "vendor")
    result = synthetic.build(copy, tmp_path / "out", key, "--no-apt", "--no-vendor", "--arch", "amd64")
    assert result.returncode == 0, result.stderr
    top = synthetic.unpack(synthetic.bundle_path(tmp_path / "out", "amd64"), tmp_path / "x")
    assert not any((top / d).exists() for d in ("apt", "vendor", "wheelhouse/linux-arm64"))
    info = (top / "BUNDLE-INFO").read_text()
    assert "APT=omitted (--no-apt)" in info and "VENDOR=omitted (--no-vendor)" in info and "ARCHES=amd64\n" in info


def test_a_wheel_that_does_not_match_its_wheelhouse_sha256sums_is_never_signed(repo, key, tmp_path):
    copy = shutil.copytree(repo, tmp_path / "repo")
    wheel = copy / "wheelhouse/dist/linux-amd64/demo_pkg-1.0-py3-none-any.whl"
    wheel.write_bytes(wheel.read_bytes() + b"tampered")
    result = synthetic.build(copy, tmp_path / "out", key)
    assert result.returncode == 1
    assert "demo_pkg-1.0-py3-none-any.whl does not match its sha256" in result.stderr
    assert "Nothing was signed" in result.stderr and "make wheelhouse" in result.stderr


def test_a_wheelhouse_sha256sums_naming_a_path_outside_it_is_never_signed(repo, key, tmp_path):
    copy = shutil.copytree(repo, tmp_path / "repo")
    with (copy / "wheelhouse/dist/linux-amd64/SHA256SUMS").open("a") as fh:
        fh.write(f"{_sha(copy / 'README.md')}  ../../../README.md\n")
    result = synthetic.build(copy, tmp_path / "out", key)
    assert result.returncode == 1
    assert "names '..'" in result.stderr and "../../../README.md" in result.stderr
    assert "Nothing was signed" in result.stderr


def test_a_symbolic_link_in_an_input_is_refused(repo, key, tmp_path):
    copy = shutil.copytree(repo, tmp_path / "repo")
    (copy / "docs/link.md").symlink_to("/etc/passwd")
    result = synthetic.build(copy, tmp_path / "out", key)
    assert result.returncode == 1 and "docs/link.md: a symbolic link" in result.stderr


def test_the_default_signing_key_is_created_0600_with_a_warning(repo, tmp_path):
    cache = tmp_path / "cache"
    result = synthetic.build(repo, tmp_path / "out", None, env={"BUILD_CACHE": str(cache)})
    assert result.returncode == 0, result.stderr
    created = cache / "bundle-signing/ed25519.pem"
    assert stat.S_IMODE(created.stat().st_mode) == 0o600
    assert stat.S_IMODE(created.parent.stat().st_mode) == 0o700
    assert "DEVELOPMENT signing key" in result.stderr and "SHA256:" in result.stdout


def test_a_signing_key_given_by_name_is_never_created(repo, tmp_path):
    result = synthetic.build(repo, tmp_path / "out", tmp_path / "typo.pem")
    assert result.returncode == 1 and "typo.pem: no such file" in result.stderr
    assert not (tmp_path / "typo.pem").exists()
