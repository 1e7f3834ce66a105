"""Debian 12 systemd nodes in containers, the targets of the Ansible roles' tests (root only).

A node is `systemd-nspawn -b` on a cached mmdebstrap rootfs, in a network namespace of its own that one
veth pair joins to a client namespace. Neither has a default route: the node reaches the client only,
so a role that tries the internet fails here as it would on the air-gapped site. Ansible reaches the
node without SSH through the `community.docker.nsenter` connection (ansible_inventory_line).
Needs mmdebstrap, systemd-container and iproute2 (tests/ansible/apt-packages.txt).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import platform
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SUITE = "bookworm"
# The base only: everything else must come from the roles and the local apt repo.
INCLUDE = ("systemd", "systemd-sysv", "dbus", "python3", "iproute2", "ca-certificates")
MIRRORS = (
    "deb http://deb.debian.org/debian bookworm main",
    "deb http://deb.debian.org/debian bookworm-updates main",
    "deb http://deb.debian.org/debian-security bookworm-security main",
)
BOOT_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0
# Where a crashed run's container can be found again (the PID of its systemd-nspawn, its directory).
STATE_DIR = Path("/run/appliance-test-nodes")
CONTAINER_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
                 "TERM": "dumb", "HOME": "/root"}

Command = Sequence[str] | str


class NodeError(Exception):
    """A node could not be built, booted or stopped."""


def build_cache() -> Path:
    return Path(os.environ.get("BUILD_CACHE", "/var/cache/gateway-build"))


def host_arch() -> str:
    return "arm64" if platform.machine() in ("aarch64", "arm64") else "amd64"


def ansible_bin(name: str) -> Path:
    """A program of the controller venv that `make ansible-env` installs from wheelhouse/locks/ansible-*.txt."""
    path = build_cache() / "ansible-venv" / "bin" / name
    if not path.exists():
        raise FileNotFoundError(f"{path} missing: run `make ansible-env`")
    return path


def base_rootfs(arch: str = "amd64") -> Path:
    """The node's rootfs tar, built once per arch, include list and mirrors (mmdebstrap, ~50 s on amd64)."""
    key = hashlib.sha256("\n".join((arch, SUITE, *INCLUDE, *MIRRORS)).encode()).hexdigest()[:16]
    tar = build_cache() / "rootfs" / f"appliance-node-{SUITE}-{arch}-{key}.tar"
    if tar.is_file() and tar.stat().st_size > 0:
        return tar
    tar.parent.mkdir(parents=True, exist_ok=True)
    if arch != host_arch():
        subprocess.run([str(REPO / "images" / "binfmt.sh")], check=True)
    tmp = tar.with_name(f"{tar.name}.{os.getpid()}.tmp")
    cmd = ["mmdebstrap", "--quiet", "--variant=minbase", f"--architectures={arch}", f"--include={','.join(INCLUDE)}",
           "--format=tar", SUITE, str(tmp), *MIRRORS]
    # A fixed SOURCE_DATE_EPOCH makes the tar reproducible for the same package versions.
    env = {**os.environ, "SOURCE_DATE_EPOCH": os.environ.get("SOURCE_DATE_EPOCH", "1704067200")}
    result = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise NodeError(f"mmdebstrap for {arch} failed ({result.returncode}):\n{result.stderr[-4000:]}")
    tmp.replace(tar)
    return tar


def _lower_dir(tar: Path) -> Path:
    """The tar unpacked once next to it: the read-only layer under every node's overlay.

    Unpacking 245 MB per node took 10-30 s on this VM's disk; an overlay makes a fresh node instant and
    keeps the shared layer untouched (a node's writes land in its own upper directory).
    """
    # Named after the tar's mtime too: a tar rebuilt for newer packages gets a fresh layer.
    stem = tar.name.removesuffix(".tar")
    lower = tar.with_name(f"{stem}-{tar.stat().st_mtime_ns}.d")
    if (lower / "etc" / "os-release").exists():
        return lower
    for old in tar.parent.glob(f"{stem}-*.d"):
        shutil.rmtree(old, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=lower.name + ".", dir=lower.parent))
    _unpack(tar, tmp)
    try:
        tmp.rename(lower)  # atomic: a lower dir is complete or absent
    except OSError:  # another run unpacked it meanwhile
        shutil.rmtree(tmp)
    return lower


def _unpack(tar: Path, into: Path) -> None:
    into.chmod(0o755)
    subprocess.run(["tar", "-C", str(into), "--numeric-owner", "--xattrs", "--xattrs-include=*", "-xpf", str(tar)],
                   check=True, capture_output=True)


def _mount_root(tar: Path, workdir: Path) -> Path:
    """The node's root: an overlay on the shared unpacked rootfs, or a private copy where overlayfs is missing."""
    root, upper, work = workdir / "root", workdir / "upper", workdir / "work"
    for path in (root, upper, work):
        path.mkdir()
    options = f"lowerdir={_lower_dir(tar)},upperdir={upper},workdir={work}"
    if subprocess.run(["mount", "-t", "overlay", "overlay", "-o", options, str(root)],
                      capture_output=True).returncode != 0:
        _unpack(tar, root)
    return root


def _unmount_and_remove(workdir: Path) -> None:
    root = workdir / "root"
    if os.path.ismount(root):
        subprocess.run(["umount", str(root)], capture_output=True)
    if os.path.ismount(root):
        raise NodeError(f"{root} is still mounted; left {workdir} in place (unmount it, then delete it)")
    shutil.rmtree(workdir, ignore_errors=True)


def _argv(cmd: Command) -> list[str]:
    return ["sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)


@dataclass(frozen=True)
class Node:
    """A booted container. The run methods take subprocess.run's keywords and, like it, do not check by default."""

    name: str
    pid: int  # the container's systemd (PID 1 inside): ansible_nsenter_pid
    root: Path
    node_netns: str
    client_netns: str
    address: str  # the node's address, without the prefix length
    console: Path

    def exec(self, cmd: Command, **kw) -> subprocess.CompletedProcess:
        """Run a command inside the container: all its namespaces, its root, a clean environment."""
        kw.setdefault("env", CONTAINER_ENV)
        return subprocess.run(["nsenter", "-t", str(self.pid), "-a", *_argv(cmd)], **kw)

    def client(self, cmd: Command, **kw) -> subprocess.CompletedProcess:
        """Run a host program in the client namespace: the only peer the node can reach."""
        return subprocess.run(["ip", "netns", "exec", self.client_netns, *_argv(cmd)], **kw)

    def node_net(self, cmd: Command, **kw) -> subprocess.CompletedProcess:
        """Run a host program in the node's network namespace: it reaches services on the node's loopback."""
        return subprocess.run(["ip", "netns", "exec", self.node_netns, *_argv(cmd)], **kw)

    def console_log(self) -> str:
        return self.console.read_text(errors="replace") if self.console.exists() else ""


def ansible_host_vars(node: Node) -> dict[str, str]:
    """Inventory variables that make Ansible reach the node through nsenter (no SSH in the container)."""
    return {"ansible_connection": "community.docker.nsenter", "ansible_nsenter_pid": str(node.pid),
            "ansible_python_interpreter": "/usr/bin/python3"}


def ansible_inventory_line(node: Node) -> str:
    """The host variables for an INI inventory line; the caller puts the inventory host name in front."""
    return " ".join(f"{key}={value}" for key, value in ansible_host_vars(node).items())


def _ip(*args: str, netns: str | None = None) -> None:
    cmd = ["ip", *(["-n", netns] if netns else []), *args]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise NodeError(f"`{' '.join(cmd)}` failed: {result.stderr.strip()}")


def _delete_netns(name: str) -> None:
    if Path("/run/netns", name).exists():
        _ip("netns", "delete", name)


def _setup_network(node_ns: str, client_ns: str, address: str, peer_address: str,
                   client_addresses: Sequence[str], routes_via_peer: Sequence[str]) -> None:
    for ns in (node_ns, client_ns):
        _delete_netns(ns)  # left by a crashed run
        _ip("netns", "add", ns)
        _ip("link", "set", "lo", "up", netns=ns)
    # Both ends are created inside their namespaces: no name can clash with the host's interfaces.
    _ip("link", "add", "eth0", "netns", node_ns, "type", "veth", "peer", "name", "eth0", "netns", client_ns)
    _ip("addr", "add", address, "dev", "eth0", netns=node_ns)
    for addr in (peer_address, *client_addresses):
        _ip("addr", "add", addr, "dev", "eth0", netns=client_ns)
    for ns in (node_ns, client_ns):
        _ip("link", "set", "eth0", "up", netns=ns)
    gateway = str(ipaddress.ip_interface(peer_address).ip)
    for route in routes_via_peer:
        _ip("route", "add", route, "via", gateway, "dev", "eth0", netns=node_ns)


def _is_our_nspawn(pid: int, node_ns: str) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return argv[0].endswith(b"systemd-nspawn") and f"--network-namespace-path=/run/netns/{node_ns}".encode() in argv


def _stop(proc_pid: int, wait: Callable[[float], bool]) -> None:
    """SIGTERM powers the container off cleanly (systemd shuts down); SIGKILL only after STOP_TIMEOUT."""
    with suppress(ProcessLookupError):
        os.kill(proc_pid, signal.SIGTERM)
    if not wait(STOP_TIMEOUT):
        with suppress(ProcessLookupError):
            os.kill(proc_pid, signal.SIGKILL)
        wait(10)


def _wait_gone(pid: int) -> Callable[[float], bool]:
    def wait(timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        return not Path(f"/proc/{pid}").exists()
    return wait


def _wait_popen(proc: subprocess.Popen) -> Callable[[float], bool]:
    def wait(timeout: float) -> bool:
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout)
        return proc.poll() is not None
    return wait


def _cleanup_stale(name: str, node_ns: str) -> None:
    """Stop the container and remove the directory a crashed run with this name left behind."""
    state = STATE_DIR / f"{name}.json"
    if not state.exists():
        return
    recorded = json.loads(state.read_text())
    if _is_our_nspawn(recorded["pid"], node_ns):
        _stop(recorded["pid"], _wait_gone(recorded["pid"]))
    _unmount_and_remove(Path(recorded["workdir"]))
    state.unlink(missing_ok=True)


def _container_pid(nspawn_pid: int) -> int | None:
    """The container's systemd: the child of systemd-nspawn, once it has exec'd systemd."""
    for children in Path(f"/proc/{nspawn_pid}/task").glob("*/children"):
        with suppress(OSError):
            for child in children.read_text().split():
                if Path(f"/proc/{child}/comm").read_text().strip() == "systemd":
                    return int(child)
    return None


def _wait_booted(name: str, proc: subprocess.Popen, console: Path, timeout: float) -> int:
    deadline, pid, state = time.monotonic() + timeout, None, "not started"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise NodeError(f"node {name}: systemd-nspawn exited with {proc.returncode} during boot; console:\n"
                            f"{console.read_text(errors='replace')[-6000:]}")
        pid = pid or _container_pid(proc.pid)
        if pid:
            result = subprocess.run(["nsenter", "-t", str(pid), "-a", "systemctl", "is-system-running"],
                                    capture_output=True, text=True, env=CONTAINER_ENV, timeout=30)
            state = result.stdout.strip() or result.stderr.strip()
            if state in ("running", "degraded"):
                return pid
        time.sleep(0.5)
    raise NodeError(f"node {name}: not booted after {timeout:.0f} s (systemctl is-system-running: {state}); "
                    f"console:\n{console.read_text(errors='replace')[-6000:]}")


def _write_identity(root: Path, name: str, address: str) -> None:
    (root / "etc/hostname").write_text(f"{name}\n")
    (root / "etc/hosts").write_text(f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                                    f"{address}\t{name}\n")


@contextmanager
def booted_node(name: str, address: str = "198.18.0.10/24", peer_address: str = "198.18.0.1/24",
                client_addresses: Sequence[str] = ("198.19.20.5/24", "198.19.10.5/24"),
                routes_via_peer: Sequence[str] = ("198.19.0.0/16",), arch: str = "amd64",
                boot_timeout: float = BOOT_TIMEOUT) -> Iterator[Node]:
    """Boot a fresh node on the cached rootfs; on exit power it off and remove its namespaces and files.

    The node's namespace is `<name>-n`, the client's `<name>-c`; the node gets `address`, the client
    `peer_address` and `client_addresses`, and the node routes `routes_via_peer` through the client.
    A name is one node at a time: what a crashed run left under the same name is stopped and removed.
    Only amd64 on an amd64 host has been booted; another arch would need qemu-user binfmt (images/binfmt.sh).
    """
    if os.geteuid() != 0:
        raise NodeError("booted_node needs root (network namespaces, systemd-nspawn)")
    node_ns, client_ns = f"{name}-n", f"{name}-c"
    tar = base_rootfs(arch)
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    _cleanup_stale(name, node_ns)
    workdir = Path(tempfile.mkdtemp(prefix=f"appliance-node-{name}-", dir="/var/tmp"))
    proc: subprocess.Popen | None = None
    try:
        root = _mount_root(tar, workdir)
        _write_identity(root, name, str(ipaddress.ip_interface(address).ip))
        _setup_network(node_ns, client_ns, address, peer_address, client_addresses, routes_via_peer)
        console = workdir / "console.log"
        cmd = ["systemd-nspawn", "-D", str(root), "-b", "--register=no", "--keep-unit", f"--machine={name}",
               f"--network-namespace-path=/run/netns/{node_ns}", "--console=read-only",
               # nspawn drops CAP_NET_ADMIN from the container's bounding set unless asked (measured: CapBnd
               # fcecafff), so nftables.service could not load the firewall. Safe to grant: the namespace is
               # the node's own. No CAP_SYS_TIME: it would set the host's clock (chronyd skips itself).
               "--capability=CAP_NET_ADMIN"]
        with console.open("wb") as out:
            # A session of its own: a Ctrl-C in the test run reaches us, and we power the node off.
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        (STATE_DIR / f"{name}.json").write_text(json.dumps({"pid": proc.pid, "workdir": str(workdir)}))
        pid = _wait_booted(name, proc, console, boot_timeout)
        yield Node(name, pid, root, node_ns, client_ns, str(ipaddress.ip_interface(address).ip), console)
    finally:
        if proc is not None:
            _stop(proc.pid, _wait_popen(proc))
        for ns in (node_ns, client_ns):
            with suppress(NodeError):
                _delete_netns(ns)
        _unmount_and_remove(workdir)
        # systemd-nspawn cannot remove this itself when /run is not a tmpfs (as on this host).
        shutil.rmtree(Path("/run/systemd/nspawn/propagate", name), ignore_errors=True)
        (STATE_DIR / f"{name}.json").unlink(missing_ok=True)
