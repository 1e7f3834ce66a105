"""The wheelhouse: complete for both architectures, tied to the locks, refused when tampered with.

The bad-input tests use a local find-links folder, not PyPI: they need no network.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import closure
import fetch
import lock
import pytest

PLATFORMS = list(lock.PLATFORMS)
TOOLS = lock.ROOT / "wheelhouse" / "tools"


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _lock_hashes(path: Path) -> dict[str, set[str]]:
    hashes: dict[str, set[str]] = {}
    current = None
    for line in path.read_text().splitlines():
        if match := re.match(r"^([A-Za-z0-9_.\-]+)==", line):
            current = _normal(match.group(1))
            hashes[current] = set()
        for digest in re.findall(r"--hash=sha256:([0-9a-f]{64})", line):
            hashes[current].add(digest)
    return hashes


def _copy_with_one_tampered(src: Path, dest: Path, victim: str) -> Path:
    """Hard-link copy of a wheelhouse, with one wheel replaced by a copy with one byte changed."""
    shutil.copytree(src, dest, copy_function=os_link)
    (wheel,) = dest.glob(f"{victim}-*.whl")
    data = bytearray(wheel.read_bytes())
    wheel.unlink()  # break the hard link: the real wheelhouse stays intact
    data[len(data) // 2] ^= 0xFF
    wheel.write_bytes(bytes(data))
    return wheel


def os_link(src: str, dst: str) -> None:
    import os

    os.link(src, dst)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_every_file_matches_sha256sums(wheelhouse_dist: Path, platform: str):
    assert fetch.verify(wheelhouse_dist / platform) == []


@pytest.mark.parametrize("platform", PLATFORMS)
def test_every_wheel_is_named_by_the_locks_with_its_hash(wheelhouse_dist: Path, platform: str):
    directory = wheelhouse_dist / platform
    locked = _lock_hashes(directory / "requirements" / "runtime.txt")
    locked.update(_lock_hashes(directory / "requirements" / "model.txt"))
    locked.update(_lock_hashes(directory / "requirements" / "gateway.txt"))
    wheels = {_normal(p.name.split("-")[0]): p for p in directory.glob("*.whl")}
    assert set(wheels) == set(locked), "one wheel per locked package, nothing else"
    mismatched = [p.name for name, p in wheels.items() if fetch.sha256_file(p) not in locked[name]]
    assert mismatched == []


def test_the_architectures_differ_only_in_native_wheels(wheelhouse_dist: Path):
    amd64 = {p.name for p in (wheelhouse_dist / "linux-amd64").glob("*.whl")}
    arm64 = {p.name for p in (wheelhouse_dist / "linux-arm64").glob("*.whl")}
    assert amd64 & arm64, "pure-Python wheels are shared"
    assert all("x86_64" in name for name in amd64 - arm64)
    assert all("aarch64" in name for name in arm64 - amd64)


def test_a_tampered_file_is_named_by_verify(wheelhouse_dist: Path, tmp_path: Path):
    wheel = _copy_with_one_tampered(wheelhouse_dist / "linux-arm64", tmp_path / "linux-arm64", "pyyaml")
    assert fetch.verify(tmp_path / "linux-arm64") == [
        f"linux-arm64: {wheel.name} does not match its sha256 in SHA256SUMS"]


def test_verify_refuses_a_sums_line_outside_the_wheelhouse_and_names_every_difference(tmp_path: Path):
    directory = tmp_path / "linux-amd64"
    (directory / "requirements").mkdir(parents=True)
    (directory / "a.whl").write_bytes(b"a")
    (directory / "requirements" / "runtime.txt").write_bytes(b"r")
    fetch.write_sums(directory)
    assert fetch.verify(directory) == []
    (tmp_path / "outside").write_bytes(b"o")
    with (directory / "SHA256SUMS").open("a") as fh:
        fh.write(f"{fetch.sha256_file(tmp_path / 'outside')}  ../outside\n")
    (directory / "a.whl").write_bytes(b"changed")
    (directory / "requirements" / "runtime.txt").unlink()
    (directory / "b.whl").write_bytes(b"b")
    assert fetch.verify(directory) == [
        f"linux-amd64: SHA256SUMS line 3: not '<sha256>  <relative path>' or names '..': "
        f"'{fetch.sha256_file(tmp_path / 'outside')}  ../outside'",
        "linux-amd64: requirements/runtime.txt listed in SHA256SUMS but missing",
        "linux-amd64: b.whl not listed in SHA256SUMS",
        "linux-amd64: a.whl does not match its sha256 in SHA256SUMS",
    ]


@pytest.mark.slow
@pytest.mark.netns
def test_the_offline_install_serves_the_demo(wheelhouse_dist: Path):
    result = subprocess.run([sys.executable, str(TOOLS / "verify_offline.py"), "--wheelhouse",
                             str(wheelhouse_dist / "linux-amd64")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "verify-offline: OK" in result.stdout


@pytest.mark.slow
@pytest.mark.netns
def test_a_tampered_wheel_is_refused_by_the_offline_install(wheelhouse_dist: Path, tmp_path: Path):
    wheel = _copy_with_one_tampered(wheelhouse_dist / "linux-amd64", tmp_path / "wh", "pyyaml")
    # --skip-sums: the SHA256SUMS check would stop it first; this proves pip's --require-hashes does too.
    result = subprocess.run([sys.executable, str(TOOLS / "verify_offline.py"), "--wheelhouse",
                             str(tmp_path / "wh"), "--skip-sums"], capture_output=True, text=True)
    assert result.returncode == 1
    assert "DO NOT MATCH THE HASHES" in result.stderr
    assert wheel.name in result.stderr


def _fake_wheel(folder: Path, name: str, version: str, tag: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{version}-{tag}.whl"
    info = f"{name}-{version}.dist-info"
    files = {f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
             f"{info}/WHEEL": f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\nTag: {tag}\n",
             f"{name}/__init__.py": ""}
    record = ""
    for member, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record += f"{member},sha256={digest},{len(text)}\n"
    files[f"{info}/RECORD"] = record + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as zf:
        for member, text in files.items():
            zf.writestr(member, text)
    return path


def _lock_for(tmp_path: Path, pin: str, *files: Path, digest: str | None = None) -> Path:
    hashes = " ".join(f"--hash=sha256:{digest or fetch.sha256_file(f)}" for f in files)
    path = tmp_path / "bad.txt"
    path.write_text(f"{pin} {hashes}\n")
    return path


def _download(lock_file: Path, platform: str, index: Path, dest: Path) -> str:
    with pytest.raises(fetch.FetchError) as caught:
        fetch.download(lock_file, platform, dest, source=["--no-index", "--find-links", str(index)])
    return str(caught.value)


def test_a_wheel_missing_for_one_architecture_stops_naming_package_and_platform(tmp_path: Path):
    wheel = _fake_wheel(tmp_path / "index", "onlyamd", "1.0", "cp311-cp311-manylinux_2_17_x86_64")
    lock_file = _lock_for(tmp_path, "onlyamd==1.0", wheel)
    fetch.download(lock_file, "linux-amd64", tmp_path / "amd64",
                   source=["--no-index", "--find-links", str(tmp_path / "index")])
    message = _download(lock_file, "linux-arm64", tmp_path / "index", tmp_path / "arm64")
    assert message.startswith("onlyamd==1.0 (in bad.txt): no wheel for linux-arm64")


def test_the_download_step_stops_at_an_sdist_only_package_naming_it(tmp_path: Path):
    (tmp_path / "index").mkdir()
    sdist = tmp_path / "index" / "sdistonly-2.0.tar.gz"
    sdist.write_bytes(b"not really a tarball")
    message = _download(_lock_for(tmp_path, "sdistonly==2.0", sdist), "linux-amd64", tmp_path / "index",
                        tmp_path / "out")
    assert message.startswith("sdistonly==2.0 (in bad.txt): no wheel for linux-amd64")


def test_a_download_that_does_not_match_its_lock_hash_stops_the_build(tmp_path: Path):
    wheel = _fake_wheel(tmp_path / "index", "pinned", "1.0", "py3-none-any")
    lock_file = _lock_for(tmp_path, "pinned==1.0", wheel, digest="0" * 64)
    message = _download(lock_file, "linux-arm64", tmp_path / "index", tmp_path / "out")
    assert message.startswith("bad.txt for linux-arm64: a download does not match the lock's hash")
    assert "pinned" in message


def test_the_gateway_wheel_is_bit_for_bit_reproducible(wheelhouse_dist: Path, tmp_path: Path):
    tools_python = Path(fetch.CACHE) / "tools" / "bin" / "python"  # pinned setuptools and wheel
    assert tools_python.exists(), "the tools venv is made by `make wheelhouse`"
    digests = []
    for run in ("a", "b"):
        code = ("import sys, fetch; from pathlib import Path; "
                "print(fetch.sha256_file(fetch.build_gateway_wheel(Path(sys.argv[1]))))")
        (tmp_path / run).mkdir()
        result = subprocess.run([str(tools_python), "-c", code, str(tmp_path / run)], cwd=TOOLS,
                                env=fetch.clean_pip_env(), capture_output=True, text=True, check=True)
        digests.append(result.stdout.strip())
    assert digests[0] == digests[1]


BACKEND = r"""
import base64, hashlib, os, zipfile
NAME, VERSION = "@NAME@", "2.0"


def _digest(text):
    return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    @FAIL@
    tag = "py3-none-any"
    info = "%s-%s.dist-info" % (NAME, VERSION)
    files = {NAME + "/__init__.py": "",
             info + "/METADATA": "Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (NAME, VERSION),
             info + "/WHEEL": "Wheel-Version: 1.0\nGenerator: t\nRoot-Is-Purelib: true\nTag: %s\n" % tag}
    record = "".join("%s,sha256=%s,%d\n" % (k, _digest(v), len(v)) for k, v in files.items())
    files[info + "/RECORD"] = record + info + "/RECORD,,\n"
    name = "%s-%s-%s.whl" % (NAME, VERSION, tag)
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as zf:
        for k, v in sorted(files.items()):
            zf.writestr(zipfile.ZipInfo(k, (2024, 1, 1, 0, 0, 0)), v)
    return name
"""


def _fake_sdist(folder: Path, name: str, fail: bool = False) -> Path:
    """An sdist with an in-tree PEP 517 backend: builds with no network and no build dependency."""
    import io
    import tarfile

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-2.0.tar.gz"
    files = {
        "pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n',
        "backend.py": BACKEND.replace("@NAME@", name).replace(
            "@FAIL@", "raise RuntimeError('gcc: not found')" if fail else "pass"),
        "PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: 2.0\n",
    }
    with tarfile.open(path, "w:gz") as tar:
        for member, text in files.items():
            info = tarfile.TarInfo(f"{name}-2.0/{member}")
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    return path


def _local(index: Path) -> list[str]:
    return ["--no-index", "--find-links", str(index)]


def test_an_sdist_only_package_is_built_and_its_wheel_hash_added(tmp_path: Path):
    sdist = _fake_sdist(tmp_path / "index", "sdistonly")
    lock_file = _lock_for(tmp_path, "sdistonly==2.0", sdist)
    built = fetch.fill(lock_file, "linux-amd64", tmp_path / "out", source=_local(tmp_path / "index"))
    (wheel,) = (tmp_path / "out").glob("sdistonly-2.0-*.whl")
    assert built == [f"sdistonly==2.0 sdist={sdist.name} sha256={fetch.sha256_file(sdist)} -> {wheel.name} "
                     f"sha256={fetch.sha256_file(wheel)} (built for linux-amd64)"]
    assert f"--hash=sha256:{fetch.sha256_file(wheel)}" in lock_file.read_text()
    assert f"--hash=sha256:{fetch.sha256_file(sdist)}" in lock_file.read_text()


def test_an_sdist_that_does_not_build_stops_naming_package_and_platform(tmp_path: Path):
    sdist = _fake_sdist(tmp_path / "index", "nobuild", fail=True)
    with pytest.raises(fetch.FetchError) as caught:
        fetch.fill(_lock_for(tmp_path, "nobuild==2.0", sdist), "linux-amd64", tmp_path / "out",
                   source=_local(tmp_path / "index"))
    message = str(caught.value)
    assert message.startswith("nobuild==2.0 (in bad.txt): no wheel for linux-amd64")
    assert "building it from source failed: nobuild==2.0 (sdist): does not build on linux-amd64" in message
    assert "gcc: not found" in message


def test_an_sdist_only_package_is_built_on_arm64_under_qemu(wheelhouse_dist: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SDIST_BUILDER", "base")  # pure Python: the base root filesystem has no gcc
    sdist = _fake_sdist(tmp_path / "index", "armbuilt")
    lock_file = _lock_for(tmp_path, "armbuilt==2.0", sdist)
    built = fetch.fill(lock_file, "linux-arm64", tmp_path / "out", source=_local(tmp_path / "index"))
    assert built and built[0].endswith("(built for linux-arm64)")


@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_runtime_lock_is_complete_against_its_own_wheels(wheelhouse_dist: Path, platform: str):
    lock_path = fetch.LOCKS / f"runtime-{platform}.txt"
    assert closure.check(lock_path, closure.wheel_metadata(wheelhouse_dist / platform), platform) == []
