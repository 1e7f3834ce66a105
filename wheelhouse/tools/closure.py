"""Check that a hash-pinned lock is complete: every dependency of every locked package is pinned in it.

    python wheelhouse/tools/closure.py LOCK [LOCK...]                       # metadata of this interpreter's venv
    python wheelhouse/tools/closure.py --wheels DIR --platform linux-arm64 LOCK   # metadata read from wheels

Installs use `--no-deps --require-hashes` and never resolve (docs/supply-chain.md, "Installs never
resolve"), so a lock must carry the whole closure itself: the lock's inputs (the .in file and the
pyproject.toml parts it was compiled from), and for every pinned package each `Requires-Dist` whose
marker applies, extras included (litellm asks for `httpx[http2]`, so h2 must be pinned too), with the
pinned version inside the requirement's specifier. `pip check` does not look at extras; this does.

With --pip-check it also runs `pip check` on this interpreter's environment and fails on what it
reports, except the missing dependencies of packages from a lock compiled with --no-deps on purpose
(the model lock: its package carries model files and declares sentence-transformers, which the
runtime never imports).

Needs `packaging` (every locked venv has it). Exit 0 when whole, 1 with one line per gap.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterable
from email.parser import Parser
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lock as lock_tool  # noqa: E402  (the lock specs: which inputs each lock was compiled from)

MACHINES = {"linux-amd64": "x86_64", "linux-arm64": "aarch64"}
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s\\;]+)", re.M)
Metadata = Callable[[str, str], list[str]]


def pins(lock_text: str) -> dict[str, str]:
    """name -> pinned version, names canonicalised."""
    return {canonicalize_name(name): version for name, version in PIN.findall(lock_text)}


def _spec_of(lock_text: str, path: Path) -> lock_tool.LockSpec:
    match = re.search(r"^# lock: (\S+)", lock_text, re.M)
    specs = {spec.name: spec for spec in lock_tool.SPECS}
    if not match or match.group(1) not in specs:
        raise SystemExit(f"closure: {path}: no '# lock: NAME' header naming one of {', '.join(specs)}")
    return specs[match.group(1)]


def lock_inputs(spec: lock_tool.LockSpec, root: Path = lock_tool.ROOT) -> list[Requirement]:
    """The top-level requirements the lock was compiled from (its .in file and pyproject.toml parts)."""
    lines = [line for part in spec.pyproject_parts for line in lock_tool._pyproject_part(part, root)]
    for raw in (root / "wheelhouse" / spec.in_file).read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            lines.append(line)
    return [Requirement(line) for line in lines]


def installed_metadata(name: str, version: str) -> list[str]:
    """Requires-Dist of the distribution installed in this interpreter's environment."""
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        raise LookupError(f"{name}=={version} is pinned but not installed") from None
    if canonicalize_name(dist.version) != canonicalize_name(version):
        raise LookupError(f"{name}: installed {dist.version}, the lock pins {version}")
    return dist.requires or []


def wheel_metadata(wheels: Path) -> Metadata:
    """Requires-Dist read from the wheels in a directory (another architecture's wheelhouse)."""
    index: dict[tuple[str, str], Path] = {}
    for wheel in wheels.glob("*.whl"):
        name, version = wheel.name.split("-")[:2]
        index.setdefault((canonicalize_name(name), canonicalize_name(version)), wheel)

    def read(name: str, version: str) -> list[str]:
        wheel = index.get((canonicalize_name(name), canonicalize_name(version)))
        if wheel is None:
            raise LookupError(f"{name}=={version} is pinned but no wheel for it is in {wheels}")
        with zipfile.ZipFile(wheel) as archive:
            member = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
            message = Parser().parsestr(archive.read(member).decode())
        return message.get_all("Requires-Dist") or []

    return read


def gaps(pinned: dict[str, str], roots: Iterable[Requirement], metadata: Metadata,
         environment: dict[str, str]) -> list[str]:
    """Every requirement reachable from the roots that the pins do not satisfy, as readable lines."""
    problems: list[str] = []
    expanded: dict[str, set[str]] = {}  # name -> extras whose requirements are already queued
    queue: list[tuple[str, Requirement]] = [("the lock's inputs", req) for req in roots]
    requires_cache: dict[str, list[Requirement]] = {}
    while queue:
        who, req = queue.pop()
        name = canonicalize_name(req.name)
        if name not in pinned:
            problems.append(f"{name} (wanted by {who} as '{req}') is not pinned")
            continue
        if req.specifier and not req.specifier.contains(pinned[name], prereleases=True):
            problems.append(f"{name}=={pinned[name]} does not satisfy '{req}' (wanted by {who})")
        done = expanded.setdefault(name, set())
        todo = ({canonicalize_name(extra) for extra in req.extras} | {""}) - done
        done |= todo
        if not todo:
            continue
        if name not in requires_cache:
            try:
                requires_cache[name] = [Requirement(line) for line in metadata(name, pinned[name])]
            except LookupError as exc:
                problems.append(str(exc))
                requires_cache[name] = []
        for dep in requires_cache[name]:
            for extra in todo:
                if dep.marker is None or dep.marker.evaluate({**environment, "extra": extra}):
                    label = f"{name}[{extra}]" if extra else name
                    queue.append((f"{label}=={pinned[name]}", dep))
                    break
    return sorted(set(problems))


def check(path: Path, metadata: Metadata, platform: str | None) -> list[str]:
    text = path.read_text()
    spec = _spec_of(text, path)
    if spec.no_deps:
        return []  # compiled with --no-deps on purpose (model files only): it has no closure to check
    environment = dict(default_environment())
    if platform:
        environment["platform_machine"] = MACHINES[platform]
    problems = gaps(pins(text), [r for r in lock_inputs(spec) if r.marker is None or r.marker.evaluate(
        {**environment, "extra": ""})], metadata, environment)
    return [f"{path}: {problem}" for problem in problems]


def pip_check(no_deps_packages: set[str]) -> list[str]:
    """`pip check`'s complaints about this environment, less those of packages installed without deps on purpose."""
    result = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
    complaints = [line for line in result.stdout.splitlines() if line and not line.startswith("No broken")]
    kept = [line for line in complaints if canonicalize_name(line.split()[0]) not in no_deps_packages]
    if result.returncode != 0 and not complaints:
        kept.append(f"pip check failed: {result.stderr.strip()}")
    return [f"pip check: {line}" for line in kept]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("locks", nargs="+", type=Path)
    parser.add_argument("--wheels", type=Path, help="read metadata from the wheels here, not the installed venv")
    parser.add_argument("--pip-check", action="store_true", help="also run pip check on this environment")
    parser.add_argument("--platform", choices=sorted(MACHINES), help="evaluate markers for this platform")
    args = parser.parse_args(argv)
    metadata = wheel_metadata(args.wheels) if args.wheels else installed_metadata
    problems = [p for lock in args.locks for p in check(lock, metadata, args.platform)]
    if args.pip_check:
        texts = [lock.read_text() for lock in args.locks]
        no_deps = {name for path, text in zip(args.locks, texts, strict=True) if _spec_of(text, path).no_deps
                   for name in pins(text)}
        problems += pip_check(no_deps)
    for problem in problems:
        print(f"closure: {problem}", file=sys.stderr)
    if problems:
        print("closure: the lock is not complete; `make lock` recompiles it (installs never resolve)",
              file=sys.stderr)
        return 1
    print(f"closure: {', '.join(str(lock) for lock in args.locks)}: every dependency is pinned")
    return 0


if __name__ == "__main__":
    sys.exit(main())
