"""Wheels for packages that PyPI ships only as an sdist, built on the target architecture.

The sdist is downloaded with the lock's hash, then built by pip: on the host when the architecture
matches, otherwise inside a Debian 12 root filesystem of the target architecture under
qemu-user-static (`images/base-rootfs.sh`, variant `builder` with gcc and python3-dev; variant `base`
is enough for pure-Python sdists). Build dependencies come from PyPI through pip's build isolation:
they are not hash-pinned (pip cannot pin them), which docs/supply-chain.md records.
"""

from __future__ import annotations

import os
import platform as host
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class SdistError(Exception):
    """The sdist is missing or does not build; the message names the package and the platform."""


def lock_block(lock_text: str, name: str) -> str:
    """The requirement block (pin line and hash lines) of one package in a lock."""
    lines = lock_text.splitlines()
    wanted = re.sub(r"[-_.]+", "-", name).lower()
    for i, line in enumerate(lines):
        match = re.match(r"^([A-Za-z0-9_.\-]+)==", line)
        if match and re.sub(r"[-_.]+", "-", match.group(1)).lower() == wanted:
            block = [line]
            for follow in lines[i + 1:]:
                if not follow.startswith("    --hash"):
                    break
                block.append(follow)
            return "\n".join(block) + "\n"
    raise SdistError(f"{name}: not in the lock")


def add_hash(lock: Path, name: str, digest: str) -> None:
    """Accept a wheel built here: its sha256 joins the package's hashes in the wheelhouse's lock copy."""
    text = lock.read_text()
    block = lock_block(text, name)
    first, *rest = block.rstrip("\n").split("\n")
    if not first.endswith("\\"):
        first += " \\"
    hashes = [h.rstrip(" \\") for h in rest] + [f"    --hash=sha256:{digest}"]
    new_block = "\n".join([first, *(h + " \\" for h in hashes[:-1]), hashes[-1]]) + "\n"
    lock.write_text(text.replace(block, new_block))


def fetch_sdist(pin: str, lock: Path, dest: Path, env: dict, source: list[str], platform: str) -> Path:
    name = pin.split("==")[0]
    work = dest / ".sdist"
    work.mkdir(parents=True, exist_ok=True)
    req = work / f"{name}.txt"
    req.write_text(lock_block(lock.read_text(), name))
    result = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-binary", ":all:",
                             "--no-deps", "--require-hashes", *source,
                             "-d", str(work), "-r", str(req)], env=env, capture_output=True, text=True)
    found = [p for p in work.iterdir() if p.name.endswith((".tar.gz", ".zip"))]
    if result.returncode != 0 and ("Failed to build" in result.stderr or "metadata-generation" in result.stderr):
        raise SdistError(f"{pin} (sdist): does not build on {platform} (its metadata step failed):\n"
                         f"{result.stderr.strip()[-1500:]}")
    if result.returncode != 0 or not found:
        raise SdistError(f"{pin}: no wheel for {platform} and no sdist that matches the lock:\n"
                         f"{result.stderr.strip()[-1500:]}")
    return found[0]


def _host_platform() -> str:
    return {"x86_64": "linux-amd64", "aarch64": "linux-arm64"}.get(host.machine(), host.machine())


def _rootfs_dir(platform: str) -> Path:
    """The target architecture's root filesystem, unpacked once into the build cache."""
    arch = platform.removeprefix("linux-")
    variant = os.environ.get("SDIST_BUILDER", "builder")
    cache = Path(os.environ.get("BUILD_CACHE", "/var/cache/gateway-build"))
    tar = cache / f"sdist-{variant}-{arch}.tar"
    env = {**os.environ, "ROOTFS_VARIANT": variant}
    if platform != _host_platform():
        subprocess.run([str(ROOT / "images" / "binfmt.sh")], check=True)  # qemu for the foreign arch
    subprocess.run([str(ROOT / "images" / "base-rootfs.sh"), arch, str(tar)], env=env, check=True)
    key = subprocess.run(["sha256sum", str(tar)], capture_output=True, text=True).stdout[:12]
    directory = cache / "rootfs" / f"unpacked-{variant}-{arch}-{key}"
    if not (directory / "usr" / "bin" / "python3").exists():
        directory.mkdir(parents=True, exist_ok=True)
        subprocess.run(["tar", "-xf", str(tar), "-C", str(directory)], check=True)
        shutil.copy("/etc/resolv.conf", directory / "etc" / "resolv.conf")  # PyPI for build deps
    tar.unlink()
    return directory


def build_wheel(sdist: Path, platform: str, out: Path, env: dict, source: list[str]) -> Path:
    name = sdist.name
    if platform == _host_platform():
        workdir = sdist.parent / "wheel"
        cmd = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", *source, "-w", str(workdir),
               str(sdist)]
        result = subprocess.run(cmd, env=env, capture_output=True, text=True)
    else:
        rootfs = _rootfs_dir(platform)
        job = rootfs / "build" / sdist.stem
        shutil.rmtree(job, ignore_errors=True)
        job.mkdir(parents=True)
        shutil.copy(sdist, job / name)
        inner_source = list(source)
        if "--find-links" in inner_source:  # a local folder: make it visible inside the root
            i = inner_source.index("--find-links") + 1
            shutil.copytree(inner_source[i], job / "links")
            inner_source[i] = f"/build/{sdist.stem}/links"
        script = (f"python3 -m venv /build/venv 2>/dev/null || true; "
                  f"/build/venv/bin/python -m pip wheel --quiet --no-deps {' '.join(inner_source)} "
                  f"-w /build/{sdist.stem}/wheel /build/{sdist.stem}/{name}")
        # A private mount namespace: /proc is unmounted when the build ends, whatever happens.
        cmd = ["unshare", "--mount", "--fork", "sh", "-c",
               f'mount -t proc proc "{rootfs}/proc" && exec chroot "{rootfs}" /bin/sh -c \'{script}\'']
        result = subprocess.run(cmd, env={**env, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
                                capture_output=True, text=True)
        workdir = job / "wheel"
    wheels = sorted(workdir.glob("*.whl")) if workdir.exists() else []
    if result.returncode != 0 or not wheels:
        log = (result.stdout + result.stderr).strip()[-1500:]
        raise SdistError(f"{name}: does not build on {platform}:\n{log}")
    arch = {"linux-amd64": "x86_64", "linux-arm64": "aarch64"}[platform]
    wheel = wheels[0]
    if not (wheel.name.endswith("-none-any.whl") or arch in wheel.name):
        raise SdistError(f"{name}: built {wheel.name}, which does not run on {platform}")
    target = out / wheel.name
    shutil.copy(wheel, target)
    return target
