#!/usr/bin/python3
"""Pack the OTLP sink's small wheelhouse from the bundle's, on the controller; print what it holds (JSON).

The tar is what ansible/files/locked-venv.py installs on the collector's host:
- the wheels of the sink's lock (otlp-sink-linux-<arch>.txt, the runtime lock's pins), each checked here
  against the lock's hashes, as requirements/otlp-sink.txt; pip checks them again (locked-venv.py);
- otlp_sink.py, the sink itself, taken from the bundle's gateway wheel: the wheel's sha256 is checked
  against requirements/gateway.txt and the file's against the wheel's RECORD. The gateway wheel itself
  is not installed: it declares the gateway's whole runtime (LiteLLM...), which the sink does not need,
  and a venv without it passes `pip check` honestly;
- SHA256SUMS of the above.
Byte-identical from run to run (sorted, no times, no owners): the copy to the host is idempotent.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import re
import sys
import tarfile
import zipfile
from pathlib import Path

MODULE = "gateway/mlops/otlp_sink.py"


class PackError(Exception):
    """The bundle's wheelhouse does not hold what the sink's lock names."""


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lock: Path) -> dict[str, tuple[str, set[str]]]:
    """name -> (version, sha256 hashes) of a hash-pinned lock."""
    out: dict[str, tuple[str, set[str]]] = {}
    for line in lock.read_text().replace("\\\n", " ").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)((?:\s+--hash=sha256:[0-9a-f]{64})+)\s*$", line)
            if not m:
                raise PackError(f"{lock}: {line[:80]!r} is not a name==version pin with --hash=sha256: hashes")
            out[_canonical(m[1])] = (m[2], set(re.findall(r"sha256:([0-9a-f]{64})", m[3])))
    return out


def wheel_for(wheelhouse: Path, name: str, version: str) -> Path:
    found = [w for w in wheelhouse.glob("*.whl")
             if _canonical(w.name.split("-")[0]) == name and w.name.split("-")[1] == version]
    if len(found) != 1:
        raise PackError(f"{wheelhouse}: {len(found)} wheels of {name}=={version}, expected one; the bundle's "
                        "wheelhouse and the otelcol role's sink lock come from different builds?")
    return found[0]


def sink_module(wheelhouse: Path) -> bytes:
    """otlp_sink.py from the gateway wheel that requirements/gateway.txt names and hashes."""
    gateway = pins(wheelhouse / "requirements/gateway.txt").get("gateway")
    if gateway is None:
        raise PackError(f"{wheelhouse}/requirements/gateway.txt: no gateway== pin")
    wheel = wheel_for(wheelhouse, "gateway", gateway[0])
    if hashlib.sha256(wheel.read_bytes()).hexdigest() not in gateway[1]:
        raise PackError(f"{wheel}: sha256 differs from requirements/gateway.txt's; the wheelhouse was altered")
    with zipfile.ZipFile(wheel) as archive:
        record = next((n for n in archive.namelist() if n.endswith(".dist-info/RECORD")), None)
        rows = dict(line.split(",", 1) for line in archive.read(record).decode().splitlines()) if record else {}
        if MODULE not in rows or MODULE not in archive.namelist():
            raise PackError(f"{wheel}: no {MODULE}")
        data = archive.read(MODULE)
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    if not rows[MODULE].startswith(f"sha256={digest},"):
        raise PackError(f"{wheel}: {MODULE} does not match the wheel's RECORD")
    return data


def members(wheelhouse: Path, lock: Path) -> dict[str, bytes]:
    files = {"otlp_sink.py": sink_module(wheelhouse), "requirements/otlp-sink.txt": lock.read_bytes()}
    for name, (version, hashes) in sorted(pins(lock).items()):
        wheel = wheel_for(wheelhouse, name, version)
        data = wheel.read_bytes()
        if hashlib.sha256(data).hexdigest() not in hashes:
            raise PackError(f"{wheel}: sha256 is none of {lock.name}'s hashes for {name}=={version}")
        files[wheel.name] = data
    files["SHA256SUMS"] = "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n"
                                  for name, data in sorted(files.items())).encode()
    return files


def pack(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheelhouse", type=Path, required=True, help="the bundle's wheelhouse for the host's arch")
    parser.add_argument("--lock", type=Path, required=True, help="the role's otlp-sink-linux-<arch>.txt")
    parser.add_argument("--out", type=Path, required=True, help="the tar to write (rewritten only when it differs)")
    args = parser.parse_args(argv)
    try:
        files = members(args.wheelhouse, args.lock)
        data = pack(files)
        changed = not args.out.is_file() or args.out.read_bytes() != data
        if changed:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            tmp = args.out.with_name(f"{args.out.name}.{os.getpid()}.tmp")  # hosts of one arch may pack at once
            tmp.write_bytes(data)
            tmp.replace(args.out)
    except (PackError, OSError, zipfile.BadZipFile, KeyError) as exc:
        print(f"sink-wheelhouse: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"changed": changed, "files": sorted(files)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
