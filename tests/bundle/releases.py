"""Two signed releases of the appliance bundle for the end-to-end tests: N and N+1.

N is the work tree at its own version (pyproject.toml, 0.1.0); N+1 is the same tree with the gateway's
version bumped (0.1.1). Both gateway wheels are built here from the work tree with the tools venv's
setuptools, so the two releases differ only in that version. Each goes into a copy of the runtime
wheelhouse (wheelhouse/dist/linux-amd64, hard links) with its own requirements/gateway.txt and
SHA256SUMS, then `bundle/tools/build.py` packs it: amd64 only, no image (the venv install method does
not use it), with the apt repository, vendor/dist and the Ansible wheelhouse.

The bundles are cached under $BUILD_CACHE/bundle-test/<input hash>/: the hash covers every input file
(the source files the bundle carries, the SHA256SUMS of the wheelhouses, apt repository and vendored
artifacts), this module, the build tools and the signing key, so a rerun with nothing changed reuses
them. The signing key is a test key of its own (not the development key of `make bundle`), kept in the
cache so that a cached bundle's signature still matches it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# The wheelhouse's own hashing and SHA256SUMS writer (a script folder, imported by path like the tests do).
sys.path.insert(0, str(REPO / "wheelhouse" / "tools"))
from fetch import sha256_file, write_sums  # noqa: E402

ARCH = "amd64"
NAME = "gateway-appliance"
# Fixed, so that a commit alone (same content) does not invalidate the cache.
SOURCE_DATE_EPOCH = "1767225600"  # 2026-01-01
# Inputs copied from the repository, as build.py's defaults (hashed for the cache key).
SOURCE_PATHS = ("gateway", "pyproject.toml", "README.md", "ansible", "examples/appliance", "examples/demo", "docs",
                "bundle/install.sh", "bundle/tools", "wheelhouse/locks", "vendor/artifacts.lock.json")
INPUT_DIRS = {  # build outputs: their SHA256SUMS stands for their content
    "wheelhouse": REPO / f"wheelhouse/dist/linux-{ARCH}",
    "ansible-wheelhouse": REPO / f"wheelhouse/dist/ansible-linux-{ARCH}",
    "apt": REPO / f"dist/apt/linux-{ARCH}",
    "vendor": REPO / "vendor/dist",
}
MADE_BY = {"wheelhouse": "make wheelhouse", "ansible-wheelhouse": "make ansible-wheelhouse",
           "apt": "make apt-repo", "vendor": "make vendor"}


class ReleaseError(Exception):
    """A release could not be built."""


def build_cache() -> Path:
    return Path(os.environ.get("BUILD_CACHE", "/var/cache/gateway-build"))


def tools_python() -> Path:
    return build_cache() / "tools/bin/python"


@dataclass(frozen=True)
class Release:
    version: str
    bundle: Path
    pubkey: Path
    size: int  # bytes of the .tar.zst
    files: int  # entries of SHA256SUMS
    build_seconds: float  # build.py's wall time when it was built (not this run's, on a cache hit)
    sha256: str


@dataclass(frozen=True)
class Releases:
    n: Release
    n1: Release
    pubkey: Path
    cached: bool  # True when this run reused bundles built earlier


def bumped(version: str) -> str:
    """0.1.0 -> 0.1.1: the patch number plus one."""
    m = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", version)
    if not m:
        raise ReleaseError(f"pyproject.toml version {version!r}: not MAJOR.MINOR.PATCH, cannot bump it")
    return f"{m[1]}.{m[2]}.{int(m[3]) + 1}"


def project_version() -> str:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def _tree_files(*paths: str) -> list[str]:
    """Tracked and untracked-but-not-ignored files (what build.py copies from a source tree)."""
    out = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard",
                          "--", *paths], capture_output=True, check=True).stdout
    return sorted({n for n in os.fsdecode(out).split("\0") if n and (REPO / n).is_file()})


def _check_inputs() -> None:
    for name, path in INPUT_DIRS.items():
        if not (path / "SHA256SUMS").is_file():
            raise ReleaseError(f"{path}: missing or incomplete (no SHA256SUMS); it is made by `{MADE_BY[name]}`")
    if not tools_python().exists():
        raise ReleaseError(f"{tools_python()}: missing; it is made by `make bundle` (the tools venv)")


def signing_key(cache: Path) -> Path:
    """The test signing key (Ed25519, 0600), created once; its public half is test-key.pub.pem next to it."""
    key, pub = cache / "test-key.pem", cache / "test-key.pub.pem"
    if not key.exists():
        cache.mkdir(parents=True, exist_ok=True)
        tmp = cache / f".test-key.{os.getpid()}.pem"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.close(fd)
        subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(tmp)], check=True,
                       capture_output=True)
        tmp.replace(key)
    if not pub.exists():
        subprocess.run(["openssl", "pkey", "-in", str(key), "-pubout", "-out", str(pub)], check=True,
                       capture_output=True)
    return key


def input_hash(key: Path) -> str:
    digest = hashlib.sha256()
    for name in _tree_files(*SOURCE_PATHS):
        digest.update(f"{name}\0{sha256_file(REPO / name)}\n".encode())
    for name, path in sorted(INPUT_DIRS.items()):
        digest.update(f"{name}\0{sha256_file(path / 'SHA256SUMS')}\n".encode())
    digest.update(Path(__file__).read_bytes())
    digest.update(key.with_name("test-key.pub.pem").read_bytes())
    return digest.hexdigest()[:16]


def _clean_pip_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    return {**env, "PIP_CONFIG_FILE": "/dev/null", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}


def build_gateway_wheel(version: str, dest: Path) -> Path:
    """The gateway wheel from a copy of the work tree with `version` in pyproject.toml and gateway/__init__.py."""
    with tempfile.TemporaryDirectory(prefix="gateway-src-") as tmp:
        src = Path(tmp)
        for name in _tree_files("gateway", "pyproject.toml", "README.md"):
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, src / name)
        for rel, var in (("pyproject.toml", "version"), ("gateway/__init__.py", "__version__")):
            pattern = rf'(?m)^{var} = "[^"]*"$'
            text, n = re.subn(pattern, f'{var} = "{version}"', (src / rel).read_text(), count=1)
            if n != 1:
                raise ReleaseError(f"{REPO / rel}: no line matching {pattern!r} to set the version in")
            (src / rel).write_text(text)
        dest.mkdir(parents=True, exist_ok=True)
        env = {**_clean_pip_env(), "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH}
        result = subprocess.run([str(tools_python()), "-m", "pip", "wheel", "--quiet", "--no-deps",
                                 "--no-build-isolation", "--no-index", "-w", str(dest), str(src)],
                                env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise ReleaseError(f"gateway {version}: wheel build failed:\n{result.stderr.strip()[-4000:]}")
    (wheel,) = dest.glob(f"gateway-{version}-*.whl")
    return wheel


def release_wheelhouse(version: str, out: Path) -> Path:
    """A copy of the runtime wheelhouse (hard links) whose gateway wheel is `version`'s."""
    base = INPUT_DIRS["wheelhouse"]
    skip = {"SHA256SUMS", "requirements/gateway.txt"}
    for path in sorted(base.rglob("*")):
        rel = path.relative_to(base).as_posix()
        if not path.is_file() or rel in skip or re.fullmatch(r"gateway-[^/]*\.whl", rel):
            continue
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, out / rel)
        except OSError:  # another file system
            shutil.copy2(path, out / rel)
    wheel = build_gateway_wheel(version, out)
    (out / "requirements/gateway.txt").write_text(
        "# The gateway wheel built by tests/bundle/releases.py; installed with the runtime lock.\n"
        f"gateway=={version} --hash=sha256:{sha256_file(wheel)}\n")
    write_sums(out)
    return out


def _build_bundle(version: str, wheelhouse: Path, key: Path, out_dir: Path) -> Release:
    cmd = [sys.executable, str(REPO / "bundle/tools/build.py"), "--arch", ARCH, "--no-images", "--version", version,
           "--wheelhouse", str(wheelhouse), "--ansible-wheelhouse", str(INPUT_DIRS["ansible-wheelhouse"]),
           "--apt", str(INPUT_DIRS["apt"]), "--vendor-dist", str(INPUT_DIRS["vendor"]),
           "--signing-key", str(key), "--out-dir", str(out_dir), "--source-date-epoch", SOURCE_DATE_EPOCH,
           "--no-vulnerability-report"]  # the report needs PyPI (`make vulnerability-report`); these are test bundles
    t0 = time.monotonic()
    result = subprocess.run(cmd, capture_output=True, text=True, env=_clean_pip_env())
    seconds = time.monotonic() - t0
    if result.returncode != 0:
        raise ReleaseError(f"build.py for {version} failed ({result.returncode}):\n{result.stdout[-3000:]}\n"
                           f"{result.stderr[-3000:]}")
    (out_dir / f"build-{version}.log").write_text(result.stdout + result.stderr)
    bundle = out_dir / f"{NAME}-{version}-{ARCH}.tar.zst"
    files = sum(1 for line in subprocess.run(["tar", "--zstd", "-xOf", str(bundle), f"{NAME}-{version}/SHA256SUMS"],
                                             capture_output=True, text=True, check=True).stdout.splitlines())
    return Release(version, bundle, out_dir / f"{NAME}-{version}.pub.pem", bundle.stat().st_size, files,
                   round(seconds, 1), sha256_file(bundle))


def build_releases(cache: Path | None = None) -> Releases:
    """N and N+1, from the cache when their inputs have not changed; otherwise built (a few minutes)."""
    cache = cache or build_cache() / "bundle-test"
    _check_inputs()
    key = signing_key(cache)
    digest = input_hash(key)
    done = cache / digest
    record = done / "releases.json"
    cached = record.exists()
    if not cached:
        partial = cache / f".{digest}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        built = {}
        for version in (project_version(), bumped(project_version())):
            wheelhouse = release_wheelhouse(version, partial / f"wheelhouse-{version}" / f"linux-{ARCH}")
            built[version] = _build_bundle(version, wheelhouse, key, partial)
            # The bundle holds its own copy; the hard-linked wheelhouse is not needed any more.
            shutil.rmtree(wheelhouse.parent)
        (partial / "releases.json").write_text(json.dumps(
            [{**asdict(r), "bundle": r.bundle.name, "pubkey": r.pubkey.name} for r in built.values()], indent=1))
        for old in cache.iterdir():  # one set of releases at a time: each is ~0.7 GB
            if old.is_dir() and old.name != partial.name:
                shutil.rmtree(old, ignore_errors=True)
        partial.rename(done)
    n, n1 = (Release(**{**r, "bundle": done / r["bundle"], "pubkey": done / r["pubkey"]})
             for r in json.loads(record.read_text()))
    return Releases(n, n1, key.with_name("test-key.pub.pem"), cached)


def verify_seconds(release: Release, staging: Path) -> float:
    """`install.sh verify` of the bundle file as the far side runs it (unpack, signature, every sha256)."""
    staging.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    result = subprocess.run(["bash", str(REPO / "bundle/install.sh"), "verify", "--pubkey", str(release.pubkey),
                             "--staging", str(staging), str(release.bundle)], capture_output=True, text=True)
    if result.returncode != 0:
        raise ReleaseError(f"install.sh verify {release.bundle} failed:\n{result.stdout}\n{result.stderr}")
    return round(time.monotonic() - t0, 1)


if __name__ == "__main__":  # build (or find) the releases and print them: python -m tests.bundle.releases
    t = time.monotonic()
    releases = build_releases()
    for r in (releases.n, releases.n1):
        print(f"{r.bundle} {r.size / 1e6:.1f} MB, {r.files} files, built in {r.build_seconds} s")
    print(f"public key {releases.pubkey}; {'cached' if releases.cached else 'built'} in {time.monotonic() - t:.1f} s")
