"""Debian's HAProxy running a configuration from `gateway.appliance.haproxy`, on loopback.

The generator's own rendering is used (the fronts and the load balancer the haproxy role installs),
with `Paths` pointing at a temporary directory: HAProxy runs in the foreground in master-worker mode
(`-W`, as Debian's unit runs it), so `reload()` is the graceful reload `systemctl reload haproxy` does.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from gateway.appliance import haproxy
from gateway.appliance.tlsfront import Front
from tests.appliance.servers import _stop, free_port, wait_port

HAPROXY = "/usr/sbin/haproxy"


def write_certs(pki_dir: Path, cert_dir: Path, aliases: dict[str, str] | None = None) -> Path:
    """The CA and CRL bundles, servers/<name>.pem and clients/<name>.pem (chain + key) from the PKI layout,
    as the haproxy role writes them; `aliases` adds copies under other names, e.g.
    {"servers/gw0": "servers/gateway"}."""
    cert_dir.mkdir(parents=True, exist_ok=True)
    for bundle in ("ca-bundle.pem", "crl-bundle.pem"):
        shutil.copyfile(pki_dir / bundle, cert_dir / bundle)
    for kind in ("servers", "clients"):
        (cert_dir / kind).mkdir(parents=True, exist_ok=True)
        for chain in (pki_dir / kind).glob("*.chain.pem"):
            name = chain.name.removesuffix(".chain.pem")
            _combine(chain, pki_dir / kind / f"{name}.key", cert_dir / kind / f"{name}.pem")
    for alias, source in (aliases or {}).items():
        shutil.copyfile(cert_dir / f"{source}.pem", cert_dir / f"{alias}.pem")
    return cert_dir


def _combine(chain: Path, key: Path, out: Path) -> None:
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(chain.read_bytes() + key.read_bytes())


def paths(base: Path) -> haproxy.Paths:
    return haproxy.Paths(cert_dir=str(base / "certs"), stats_socket=str(base / "admin.sock"),
                         state_file=str(base / "server-state"), listen_address="127.0.0.1", system=False)


class HAProxy:
    """`haproxy -W -db -f <tmp>/haproxy.cfg`; its log is its stdout (`log stdout` in the config)."""

    def __init__(self, render, pki_dir: Path, aliases: dict[str, str] | None = None):
        """`render(paths)` returns the configuration text for these paths."""
        if not Path(HAPROXY).exists():
            pytest.fail(f"{HAPROXY} not found: apt-get install haproxy")
        self.base = Path(tempfile.mkdtemp(prefix="ha-haproxy-"))
        self.pki_dir, self.aliases = pki_dir, aliases
        self.paths = paths(self.base)
        self.write_certs()
        self.conf = self.base / "haproxy.cfg"
        self.conf.write_text(render(self.paths))
        self.log_path = self.base / "haproxy.log"
        self.proc: subprocess.Popen | None = None

    def write_certs(self) -> None:
        """(Again) what the haproxy role writes from the PKI, e.g. after a revocation."""
        write_certs(self.pki_dir, Path(self.paths.cert_dir), self.aliases)

    def start(self, ports: list[int]) -> HAProxy:
        check = subprocess.run([HAPROXY, "-c", "-f", str(self.conf)], capture_output=True, text=True, timeout=30)
        if check.returncode != 0:
            pytest.fail(f"haproxy -c refused {self.conf}:\n{check.stdout}{check.stderr}")
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen([HAPROXY, "-W", "-db", "-f", str(self.conf)], stdout=out,
                                         stderr=subprocess.STDOUT)
        for port in ports:
            wait_port(port, self.proc, 20, self.log_path)
        return self

    def reload(self) -> None:
        """What `systemctl reload haproxy` does (the haproxy role's ExecReload): save the servers' states,
        then a new worker takes the listeners and those states, and the old one finishes its sessions."""
        Path(self.paths.state_file).write_text(self.command("show servers state"))
        self.proc.send_signal(signal.SIGUSR2)

    def command(self, line: str) -> str:
        """One command on the stats socket (the runtime API)."""
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(5)
            sock.connect(self.paths.stats_socket)
            sock.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def server_states(self, backend: str) -> dict[str, str]:
        """active server -> UP / DOWN / ... of `backend` (`show stat`; backup servers left out)."""
        rows = csv.DictReader(io.StringIO(self.command("show stat").lstrip("# ")))
        return {r["svname"]: r["status"] for r in rows if r["pxname"] == backend and r["bck"] == "0"
                and r["svname"] not in ("FRONTEND", "BACKEND")}

    def frontend_counter(self, frontend: str, field: str) -> int:
        """One counter of `frontend` from `show stat`, e.g. dses (sessions denied by tcp-request session)."""
        rows = csv.DictReader(io.StringIO(self.command("show stat").lstrip("# ")))
        (row,) = [r for r in rows if r["pxname"] == frontend and r["svname"] == "FRONTEND"]
        return int(row[field] or 0)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def cpu_seconds(self) -> float:
        """CPU time of the master and its workers so far (exited workers included once reaped)."""
        return process_tree_cpu(self.proc.pid)

    def close(self) -> None:
        if self.proc is not None:
            _stop(self.proc, grace=10)
            self.proc = None
        shutil.rmtree(self.base, ignore_errors=True)


def process_tree_cpu(root: int) -> float:
    """utime + stime of `root` and its live children, plus the reaped children's (cutime + cstime)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        pid, ppid = int(entry.name), int(fields[1])
        if pid == root:
            total += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
        elif ppid == root:
            total += int(fields[11]) + int(fields[12])
    return total / ticks


class Site:
    """Gateways behind HAProxy as on an appliance host: each gateway serves TLS on loopback behind its own
    TLS front (client certificate of the site CA, CRLs, the `loadbalancer` identity; h2 and HTTP/1.1), and the
    load balancer reaches every front with that identity and checks each gateway's readiness that way. One
    HAProxy runs it all, as on a single-node appliance; `url` is the load balancer (HTTPS, the site CA's
    `loadbalancer` certificate), `front_urls` the gateways' fronts."""

    def __init__(self, pki, gateway_ports: list[int], checks: haproxy.Checks | None = None):
        self.pki = pki
        front_ports = [free_port() for _ in gateway_ports]
        self.lb_port = free_port()
        self.url = f"https://127.0.0.1:{self.lb_port}"
        self.names = [f"gw{i}" for i in range(len(gateway_ports))]
        # As generated for a gateway (tlsfront.fronts): HTTP mode (h2 and HTTP/1.1), admitting the balancer only.
        fronts = [Front(name=name, listen=(f"127.0.0.1:{fp}",), backend=f"127.0.0.1:{gp}", server_name="localhost",
                        identity="gateway-front", why="uvicorn has no CRL option", allowed=(haproxy.BALANCER_IDENTITY,),
                        http=True)
                  for name, fp, gp in zip(self.names, front_ports, gateway_ports, strict=True)]
        lb = haproxy.Balancer("loadbalancer", (f"127.0.0.1:{self.lb_port}",), "loadbalancer.appliance.internal",
                              tuple(haproxy.Gateway(name, f"127.0.0.1:{fp}", "gateway.appliance.internal")
                                    for name, fp in zip(self.names, front_ports, strict=True)))
        # Each front presents the site's gateway certificate (CN gateway.appliance.internal).
        self.haproxy = HAProxy(lambda p: haproxy.render(fronts, lb, p, checks or haproxy.Checks()), pki.dir,
                               aliases={f"servers/{n}": "servers/gateway" for n in self.names})
        self.ports = [self.lb_port, *front_ports]
        self.front_urls = [f"https://127.0.0.1:{fp}" for fp in front_ports]
        self.backend = "loadbalancer-gateways"

    def start(self) -> Site:
        self.haproxy.start(self.ports)
        return self

    def client_tls(self) -> ssl.SSLContext:
        """What a user's client checks: the site CA (not the name: the test reaches it as 127.0.0.1)."""
        context = ssl.create_default_context(cafile=str(self.pki.ca))
        context.check_hostname = False
        return context

    def front_tls(self, identity: str = haproxy.BALANCER_IDENTITY) -> ssl.SSLContext:
        """What a client of a gateway's front presents: a site client certificate (the balancer's by default)."""
        context = self.client_tls()
        clients = self.pki.dir / "clients"
        context.load_cert_chain(str(clients / f"{identity}.chain.pem"), str(clients / f"{identity}.key"))
        return context

    def states(self) -> dict[str, str]:
        return self.haproxy.server_states(self.backend)

    def close(self) -> None:
        self.haproxy.close()


def close_site(site: Site | None, gateways) -> str:
    """Stops HAProxy and every gateway, whatever failed before; returns HAProxy's log for the report
    ("" when the site never started)."""
    log = ""
    if site is not None:
        log = site.haproxy.log()
        site.close()
    for gw in gateways:
        gw.stop()
    return log


def gateway_tls_args(pki) -> list[str]:
    """`gateway serve` over HTTPS with the loopback certificate, as the gateway role runs it behind its front."""
    return ["--ssl-certfile", str(pki.server_cert), "--ssl-keyfile", str(pki.server_key)]


def https_ready(gw, pki) -> bool:
    import httpx

    tls = ssl.create_default_context(cafile=str(pki.ca))
    return httpx.get(f"https://127.0.0.1:{gw.port}/health/liveliness", verify=tls, timeout=1).status_code == 200


def wait_for(predicate, seconds: float, what: str, show=lambda: "") -> None:
    """Poll `predicate` every 0.1 s; fail naming `what` and showing `show()` when it stays false."""
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {seconds} s; {show()}")
        time.sleep(0.1)
