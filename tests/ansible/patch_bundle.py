"""A patch bundle on the site test's installed node (called from tests/ansible/test_site.py).

Release N's apt repository is the build's (dist/apt/linux-amd64); N+1's is the same with HAProxy
repacked under a higher version (`dpkg-deb`, as a security update would arrive) and the indexes made
again the way bundle/apt/build-repo.sh makes them (same Origin, which the common role's pin names).
Applying N+1 moves HAProxy to the new version and moves only HAProxy onto the new binary (a reload:
its master re-executes itself and keeps the listeners); a second run changes nothing; applying N again
brings N's version back. Routed completions go through the load balancer the whole time.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from gateway.sums import write_sums
from tests.ansible.outside import Load
from tests.ansible.outside import failure_windows as _failure_windows
from tests.ansible.playbook import REPO, run_playbook
from tests.ansible.wheels import lock_line, make_wheel

REPO_N = REPO / "dist/apt/linux-amd64"
PACKAGE = "haproxy"
BUMP = "+appliance.patch1"
PYTHON = ("libpython3.11-minimal", "libpython3.11-stdlib", "python3.11-minimal", "python3.11", "python3.11-venv")
UNITS = ("haproxy", "postgresql@15-main", "redis-server", "seaweedfs", "gateway")


def bumped_repository(out: Path, packages: tuple[str, ...] = (PACKAGE,)) -> str:
    """N's repository with `packages` (one source package's binaries) at a higher version; returns it.

    Exact-version relations between them (`python3.11 (= V)`) move to the new version too."""
    out.mkdir(parents=True)
    debs = {p: REPO_N.glob(f"{p}_*.deb") for p in packages}
    debs = {p: d for p, [d] in ((p, list(g)) for p, g in debs.items())}
    for f in REPO_N.iterdir():
        if f.suffix == ".deb" and f not in debs.values():
            os.link(f, out / f.name)
    old = version = ""
    for deb in debs.values():
        tree = out.parent / "unpacked-deb"
        subprocess.run(["dpkg-deb", "-R", str(deb), str(tree)], check=True)
        control = tree / "DEBIAN/control"
        text = control.read_text()
        old = re.search(r"^Version: (.+)$", text, re.M).group(1)
        version = old + BUMP
        text = re.sub(r"^Version: .+$", f"Version: {version}", text, flags=re.M).replace(f"(= {old})", f"(= {version})")
        control.write_text(text)
        name = re.search(r"^Package: (.+)$", text, re.M).group(1)
        arch = re.search(r"^Architecture: (.+)$", text, re.M).group(1)
        subprocess.run(["dpkg-deb", "--root-owner-group", "-b", str(tree),
                        str(out / f"{name}_{version.split(':')[-1]}_{arch}.deb")], check=True, capture_output=True)
        shutil.rmtree(tree)
    env = dict(os.environ, LC_ALL="C")
    packages = subprocess.run(["dpkg-scanpackages", "--arch", "amd64", ".", "/dev/null"], cwd=out, env=env,
                              capture_output=True, check=True).stdout
    (out / "Packages").write_bytes(packages)
    (out / "Packages.gz").write_bytes(subprocess.run(["gzip", "-9n"], input=packages, capture_output=True,
                                                      check=True).stdout)
    # apt refuses an index whose Origin or Label changed since the last update: keep build-repo.sh's.
    release = subprocess.run(["apt-ftparchive", "-o", "APT::FTPArchive::Release::Origin=gateway-appliance",
                              "-o", "APT::FTPArchive::Release::Label=gateway appliance offline packages",
                              "-o", "APT::FTPArchive::Release::Codename=bookworm",
                              "-o", "APT::FTPArchive::Release::Architectures=amd64", "release", "."],
                             cwd=out, env=env, capture_output=True, check=True).stdout
    (out / "Release").write_bytes(release)
    write_sums(out)
    return version


def installed_version(node, package: str = PACKAGE) -> str:
    out = node.exec(["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def main_pids(node) -> dict[str, str]:
    out = node.exec(["systemctl", "show", "-p", "MainPID", "--value", *UNITS], capture_output=True, text=True,
                    check=True)
    return dict(zip(UNITS, out.stdout.split(), strict=True))


def apply(site: Path, node, apt_dir: Path, tags: str = "common"):
    """The common role, which does the patching, against `apt_dir` (the tags keep CI time down; install.sh
    runs the whole site.yml, whose other roles change nothing here)."""
    return run_playbook(site, node, "--tags", tags, extra=["-e", f"appliance_apt_dir={apt_dir}"])


def haproxy_processes(node) -> dict[str, str]:
    """PID -> the binary each HAProxy process runs ("... (deleted)" while one runs a replaced file)."""
    out = node.exec(["sh", "-c", "for p in $(pgrep -x haproxy); do echo $p $(readlink /proc/$p/exe); done"],
                    capture_output=True, text=True, check=True)
    return dict(line.split(" ", 1) for line in out.stdout.splitlines() if " " in line)


def wait_for_old_workers(node, seconds: float = 30) -> dict[str, str]:
    """After a reload the old worker finishes its sessions and exits; then none runs a replaced binary."""
    deadline = time.monotonic() + seconds
    while True:
        procs = haproxy_processes(node)
        if procs and not any(exe.endswith("(deleted)") for exe in procs.values()):
            return procs
        assert time.monotonic() < deadline, procs
        time.sleep(0.5)


def _timed(site: Path, node, apt_dir: Path, tags: str = "common"):
    t0 = time.monotonic()
    run = apply(site, node, apt_dir, tags)
    return run, round(time.monotonic() - t0, 1)


def patch_and_roll_back(node, site: Path, tmp: Path) -> dict:
    """N -> N+1 -> N+1 again -> N on the installed node, under load; returns the figures."""
    version_n = installed_version(node)
    version_n1 = bumped_repository(tmp / "apt-n1")
    figures: dict = {"version_n": version_n, "version_n1": version_n1}
    with Load(node, site) as load:
        time.sleep(2)  # a few answers before the first run: the loop itself works
        before, haproxy_before = main_pids(node), haproxy_processes(node)

        patched, figures["patch_seconds"] = _timed(site, node, tmp / "apt-n1")
        assert patched.returncode == 0, patched.tail()
        assert installed_version(node) == version_n1
        after = wait_for_old_workers(node)
        assert set(after) != set(haproxy_before), (haproxy_before, after)  # new workers on the new binary
        pids = main_pids(node)
        assert {u: pids[u] for u in UNITS if u != "haproxy"} == {u: before[u] for u in UNITS if u != "haproxy"}
        assert pids["haproxy"] == before["haproxy"]  # a reload: the same master, re-executed
        figures["patch_changed"] = patched.recap["node1"]["changed"]

        again, figures["second_run_seconds"] = _timed(site, node, tmp / "apt-n1")
        assert again.returncode == 0, again.tail()
        assert again.recap["node1"]["changed"] == 0, again.changed_tasks()
        assert main_pids(node) == pids

        back, figures["rollback_seconds"] = _timed(site, node, REPO_N)
        assert back.returncode == 0, back.tail()
        assert installed_version(node) == version_n, "the rollback left N+1's version"
        wait_for_old_workers(node)
        rolled = main_pids(node)
        assert {u: rolled[u] for u in UNITS if u != "haproxy"} == {u: before[u] for u in UNITS if u != "haproxy"}
        figures["rollback_changed"] = back.recap["node1"]["changed"]
        time.sleep(2)
    figures["load"] = load.summary()
    assert figures["load"]["requests"] > 20, figures
    assert figures["load"]["failed"] == 0, figures  # nothing restarted a gateway: not one may fail
    return figures


def patch_the_gateways_python(node, site: Path, tmp: Path) -> dict:
    """N -> N+1 with Debian's python3.11 packages bumped (the gateway's venv runs /usr/bin/python3.11), then
    N again, with `--tags common,gateway`: the common role leaves the gateway running, the gateway play
    restarts it (one host at a time) and waits for its readiness; nothing else restarts."""
    version_n = installed_version(node, "python3.11")
    version_n1 = bumped_repository(tmp / "apt-py", PYTHON)
    figures: dict = {"version_n": version_n, "version_n1": version_n1}
    with Load(node, site) as load:
        time.sleep(2)
        before = main_pids(node)
        for step, apt_dir, version in (("patch", tmp / "apt-py", version_n1), ("rollback", REPO_N, version_n)):
            run, figures[f"{step}_seconds"] = _timed(site, node, apt_dir, "common,gateway")
            assert run.returncode == 0, run.tail()
            assert installed_version(node, "python3.11") == version
            assert any(t.startswith("TASK [Restart it]") for t in run.changed_tasks()), run.changed_tasks()
            pids = main_pids(node)
            assert pids["gateway"] != before["gateway"], f"{step}: the gateway was not restarted"
            assert {u: pids[u] for u in UNITS if u != "gateway"} == {u: before[u] for u in UNITS if u != "gateway"}
            figures[f"{step}_changed"] = run.recap["node1"]["changed"]
            before = pids
        time.sleep(2)
    figures["load"] = {**load.summary(), "failure_windows_seconds": _failure_windows(load.results)}
    assert figures["load"]["requests"] > 20, figures
    # One gateway, and not one request fails: while it restarts, gateway.socket holds new connections in its
    # backlog for the next process. The restart is not free: the longest time between two answers (one
    # request and the loop's pause) is the restart window.
    ends = [t for t, _ in load.results]
    figures["load"]["longest_gap_seconds"] = round(max(b - a for a, b in zip(ends[:-1], ends[1:], strict=True)), 1)
    assert figures["load"]["failed"] == 0, figures
    assert figures["load"]["longest_gap_seconds"] > 1.0, figures
    return figures


# ---------------------------------------------------------------- the wheelhouse: the gateway's own wheel

WHEELHOUSE_N = REPO / "wheelhouse/dist/linux-amd64"
VENV = "/opt/gateway/venv"
PROBE = "gt-patch-probe"  # a package only N+1 carries: the rollback must remove it


def _lock_tool():
    """ansible/files/locked-venv.py, the roles' script, for its lock parser (one reading of a lock file)."""
    spec = importlib.util.spec_from_file_location("locked_venv", REPO / "ansible/files/locked-venv.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bumped_wheelhouse(out: Path, version: str) -> Path:
    """N's wheelhouse (hard links) with the gateway wheel rebuilt at `version` (tests/bundle/releases.py, as
    the bundle test's N+1) and one more package in gateway.txt's lock, with its hash; SHA256SUMS again."""
    from tests.bundle.releases import release_wheelhouse

    wheelhouse = release_wheelhouse(version, out)
    wheel = make_wheel(wheelhouse, PROBE, "1.0")
    with (wheelhouse / "requirements/gateway.txt").open("a") as lock:  # written by release_wheelhouse: no link
        lock.write(lock_line(PROBE, "1.0", wheel))
    write_sums(wheelhouse)
    return wheelhouse


def lock_pins(wheelhouse: Path) -> dict[str, str]:
    tool = _lock_tool()
    return tool.locked([wheelhouse / "requirements" / f for f in ("runtime.txt", "gateway.txt", "model.txt")])


def venv_pins(node) -> dict[str, str]:
    """The gateway venv's distributions (pip list) but pip's own tools, by canonical name."""
    out = node.exec([f"{VENV}/bin/python", "-m", "pip", "list", "--format", "json"], capture_output=True, text=True,
                    check=True)
    tool = _lock_tool()
    return {tool.canonical(d["name"]): d["version"] for d in json.loads(out.stdout)
            if tool.canonical(d["name"]) not in tool.KEEP}


def host_wheelhouse(node) -> set[str]:
    out = node.exec(["sh", "-c", "cd /opt/gateway/wheelhouse && find . -type f | sed 's|^./||'"],
                    capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def _files(path: Path) -> set[str]:
    return {p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()}


def patch_the_gateway_wheel(node, site: Path, tmp: Path) -> dict:
    """N -> N+1 (the gateway wheel bumped, one package added) -> N+1 again -> N with `--tags common,gateway`: the
    venv and the host's wheelhouse follow the bundle's lock both ways; the gateway restarts once per change."""
    from tests.bundle.releases import bumped

    pins_n = lock_pins(WHEELHOUSE_N)
    version_n = pins_n["gateway"]
    wheelhouse_n1 = bumped_wheelhouse(tmp / "wheelhouse-n1/linux-amd64", bumped(version_n))
    pins_n1 = lock_pins(wheelhouse_n1)
    assert venv_pins(node) == pins_n, "the installed venv is not N's lock before the patch"
    figures: dict = {"version_n": version_n, "version_n1": pins_n1["gateway"]}
    steps = (("patch", wheelhouse_n1, pins_n1), ("second_run", wheelhouse_n1, pins_n1),
             ("rollback", WHEELHOUSE_N, pins_n))
    with Load(node, site) as load:
        time.sleep(2)
        before = main_pids(node)
        for step, wheelhouse, pins in steps:
            t0 = time.monotonic()
            # common too: it sets appliance_check_fresh, which the later plays read (its apt part changes nothing)
            run = run_playbook(site, node, "--tags", "common,gateway",
                               extra=["-e", f"appliance_wheelhouse_dir={wheelhouse}"])
            figures[f"{step}_seconds"] = round(time.monotonic() - t0, 1)
            assert run.returncode == 0, run.tail()
            figures[f"{step}_changed"] = run.recap["node1"]["changed"]
            # pip list against the lock: the same names, the same versions, nothing extra.
            assert venv_pins(node) == pins, f"{step}: the venv is not the bundle's lock"
            assert host_wheelhouse(node) == _files(wheelhouse), f"{step}: the host's wheelhouse is not the bundle's"
            module = node.exec([f"{VENV}/bin/python", "-c", "import gateway; print(gateway.__version__)"],
                               capture_output=True, text=True, check=True).stdout.strip()
            assert module == pins["gateway"], (step, module)
            pids = main_pids(node)
            restarts = run.stdout.count("RUNNING HANDLER [gateway : Restart the gateway]")
            if step == "second_run":
                assert run.recap["node1"]["changed"] == 0, run.changed_tasks()
                assert restarts == 0 and pids == before, (restarts, pids, before)
            else:
                assert restarts == 1, f"{step}: the gateway restart handler ran {restarts} times"
                assert pids["gateway"] != before["gateway"], f"{step}: the gateway was not restarted"
                assert {u: pids[u] for u in UNITS if u != "gateway"} == {u: before[u] for u in UNITS if u != "gateway"}
            before = pids
        time.sleep(2)
    figures["load"] = load.summary()
    assert figures["load"]["requests"] > 20, figures
    # The site's only gateway restarts behind its held socket (gateway.socket): no request may fail.
    assert figures["load"]["failed"] == 0, figures
    return figures
