"""The signed bundle installed offline onto a Debian 12 container, upgraded to N+1 and rolled back to N.

Two releases (tests/bundle/releases.py) are installed with their own `install.sh` from a network namespace
that has nothing but `lo` (no route anywhere, no pip configuration, no PIP_* variables): the Ansible
controller venv comes from the bundle's ansible-wheelhouse, every package from its apt repository and
wheelhouse. The node (tests/ansible/container.py) is reached through nsenter, which needs no network.
After each step the gateway must answer a routed completion over TLS through the load balancer, from the
users' network. During the upgrade and the rollback a loop of requests runs through the load balancer;
with one gateway its restart drops some, which are counted and written to figures.json, not asserted.

About 9 minutes, root only: `make test-ansible` runs it, or, once the inputs are made (`make wheelhouse
ansible-wheelhouse apt-repo vendor`), `GATEWAY_BUNDLE_E2E=1 .venv/bin/python -m pytest -q -s -p no:cacheprovider
tests/bundle/test_offline_install.py`. Without either variable these tests skip, so `make test-bundle` stays
quick. The figures go to $BUILD_CACHE/bundle-test/figures-last.json; the logs of every install.sh run (with
per-task times) to the controller's logs/ under pytest's tmp dir.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.ansible.container import Node, ansible_inventory_line, booted_node, build_cache
from tests.ansible.outside import NODE_ADDRESS, Load, master_key, user_https
from tests.ansible.playbook import PlaybookRun, generate_site
from tests.bundle import releases as rel

pytestmark = [pytest.mark.ansible, pytest.mark.slow, pytest.mark.netns]

NODE_NAME = "gwb-node1"  # not the site test's gwt-node1: both can run at once
OFFLINE_NETNS = "gwb-offline"
MANIFEST = rel.REPO / "examples/appliance/single-node/appliance.yaml"
# x-gateway-routed-model carries the strategy's name for the deployment (routing_name: no provider/ prefix).
ROUTED = {"demo-small", "demo-coder", "demo-large"}
SERVE_TIMEOUT = 60.0  # after a playbook run, how long the gateway may take to answer through the LB


@pytest.fixture(scope="module", autouse=True)
def _enabled():
    """Skipped unless asked for; once asked for (`make test-ansible`), a missing prerequisite is a failure."""
    if not (os.environ.get("GATEWAY_BUNDLE_E2E") or os.environ.get("GATEWAY_ANSIBLE")):
        pytest.skip("the bundle's end-to-end install takes minutes: `make test-ansible`, or GATEWAY_BUNDLE_E2E=1")
    if os.geteuid() != 0:
        pytest.fail("needs root (network namespaces, systemd-nspawn)")
    if shutil.which("systemd-nspawn") is None:
        pytest.fail("systemd-nspawn missing: `make system-deps`")


# ---------------------------------------------------------------- figures


@pytest.fixture(scope="module")
def figures(tmp_path_factory) -> Iterator[dict]:
    """Measured figures, written to figures.json in the test's tmp dir and $BUILD_CACHE/bundle-test/."""
    # The machine is shared: the load average says how comparable the times are.
    out: dict = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "loadavg_start": os.getloadavg()}
    yield out
    out["loadavg_end"] = os.getloadavg()
    text = json.dumps(out, indent=1, default=str)
    (tmp_path_factory.getbasetemp() / "figures.json").write_text(text)
    (build_cache() / "bundle-test").mkdir(parents=True, exist_ok=True)
    (build_cache() / "bundle-test" / "figures-last.json").write_text(text)
    print("\nbundle end-to-end figures:\n" + text)


@pytest.fixture(scope="module")
def releases(figures, tmp_path_factory) -> rel.Releases:
    t0 = time.monotonic()
    built = rel.build_releases()
    staging = tmp_path_factory.mktemp("verify")
    figures["releases"] = {
        "cached": built.cached, "seconds_this_run": round(time.monotonic() - t0, 1),
        **{r.version: {"size_mb": round(r.size / 1e6, 1), "files": r.files, "build_seconds": r.build_seconds,
                       "verify_seconds": rel.verify_seconds(r, staging), "sha256": r.sha256}
           for r in (built.n, built.n1)},
    }
    return built


# ---------------------------------------------------------------- the controller side, offline


@pytest.fixture(scope="module")
def offline_netns() -> Iterator[str]:
    """A network namespace with only `lo` up: no address outside loopback, no route."""
    subprocess.run(["ip", "netns", "delete", OFFLINE_NETNS], capture_output=True)  # left by a crashed run
    subprocess.run(["ip", "netns", "add", OFFLINE_NETNS], check=True)
    try:
        subprocess.run(["ip", "-n", OFFLINE_NETNS, "link", "set", "lo", "up"], check=True)
        routes = subprocess.run(["ip", "-n", OFFLINE_NETNS, "route", "show", "table", "all"], capture_output=True,
                                text=True, check=True).stdout
        assert all("dev lo " in line for line in routes.splitlines() if line), routes
        yield OFFLINE_NETNS
    finally:
        subprocess.run(["ip", "netns", "delete", OFFLINE_NETNS], capture_output=True)


@dataclass
class Controller:
    """The operator's side: the site files, the inventory, where bundles are kept and the Ansible venv."""

    site: Path
    inventory: Path
    staging: Path  # install.sh --staging: the kept, verified bundles (/opt/appliance/bundles on a site)
    home: Path
    ansible_venv: Path
    stage: Path  # appliance_stage_dir: the controller's scratch for archives copied to hosts
    netns: str
    logs: Path
    pubkey: Path
    runs: list[str] = field(default_factory=list)

    def env(self) -> list[str]:
        """`env -i` and the only variables install.sh sees: no PIP_*, pip's configuration off."""
        return ["env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                f"HOME={self.home}", "LANG=C.UTF-8", "PIP_CONFIG_FILE=/dev/null", f"ANSIBLE_VENV={self.ansible_venv}",
                "ANSIBLE_NOCOLOR=1", "ANSIBLE_FORCE_COLOR=0",
                # Per-task times in the log (which tasks an install spends its minutes on).
                "ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks"]

    def install_sh(self, script: Path, *args: str) -> tuple[PlaybookRun, float, dict[str, float]]:
        """`install.sh ARGS` in the offline namespace: its output (stdout and stderr in one, as a playbook run),
        its seconds, and the seconds of its phases (verify, controller venv, playbook) from when lines came."""
        cmd = ["ip", "netns", "exec", self.netns, *self.env(), "bash", str(script), *args]
        t0, lines, marks = time.monotonic(), [], {}
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=self.home)
        for line in proc.stdout:
            lines.append(line)
            for mark in ("install.sh: verified ", "install.sh: running "):
                if line.startswith(mark):
                    marks[mark.split()[1]] = time.monotonic() - t0
        proc.wait()
        seconds = round(time.monotonic() - t0, 1)
        phases = {"verify": marks.get("verified", seconds)}
        if "running" in marks:
            phases |= {"controller_venv": marks["running"] - phases["verify"], "playbook": seconds - marks["running"]}
        self.runs.append(args[0])
        out = "".join(lines)
        log = self.logs / f"install-sh-{len(self.runs)}-{args[0]}.log"
        log.write_text(f"$ {' '.join(cmd)}\n({seconds} s, exit {proc.returncode})\n{out}")
        return PlaybookRun(proc.returncode, out, ""), seconds, {k: round(v, 1) for k, v in phases.items()}

    def install(self, script: Path, bundle: Path | None = None) -> tuple[PlaybookRun, float, dict[str, float]]:
        target = [str(bundle)] if bundle else []  # none: the directory holding `script` (a kept bundle)
        return self.install_sh(script, "install", "--pubkey", str(self.pubkey), "-i", str(self.inventory),
                               "--manifest-dir", str(self.site), "--staging", str(self.staging), *target, "--",
                               "-e", "otelcol_enabled=false", "-e", f"appliance_stage_dir={self.stage}")

    def kept(self, version: str) -> Path:
        return self.staging / f"{rel.NAME}-{version}"


@pytest.fixture(scope="module")
def node() -> Iterator[Node]:
    with booted_node(NODE_NAME, address=f"{NODE_ADDRESS}/24") as booted:
        yield booted


@pytest.fixture(scope="module")
def controller(tmp_path_factory, node, offline_netns, releases) -> Controller:
    work = tmp_path_factory.mktemp("controller")
    site = generate_site(work, MANIFEST)
    inventory = work / "inventory.ini"
    inventory.write_text(f"node1 {ansible_inventory_line(node)}\n")
    for d in ("staging", "home", "stage", "logs"):
        (work / d).mkdir()
    return Controller(site, inventory, work / "staging", work / "home", work / "ansible-venv", work / "stage",
                      offline_netns, work / "logs", releases.pubkey)


# ---------------------------------------------------------------- what the node shows from outside


def chat(node: Node, site: Path, text: str = "write a python function") -> dict:
    return user_https(node, site, "/v1/chat/completions",
                      {"model": "auto", "messages": [{"role": "user", "content": text}]}, key=master_key(site))


def serving(node: Node, site: Path) -> tuple[dict, float]:
    """The first 200 to a routed completion through the LB, and how long after the call it came."""
    t0 = time.monotonic()
    while True:
        answer = chat(node, site)
        waited = round(time.monotonic() - t0, 1)
        if answer.get("status") == 200 or waited > SERVE_TIMEOUT:
            return answer, waited
        time.sleep(1)


def gateway_version(node: Node) -> dict:
    """The installed distribution (pip show), the importable package and the running service's PID."""
    venv = "/opt/gateway/venv/bin"
    pip = node.exec([f"{venv}/pip", "show", "gateway"], capture_output=True, text=True)
    dist = re.search(r"^Version: (\S+)$", pip.stdout, re.M)
    module = node.exec([f"{venv}/python", "-c", "import gateway; print(gateway.__version__)"],
                       capture_output=True, text=True)
    pid = node.exec(["systemctl", "show", "-p", "MainPID", "--value", "gateway"], capture_output=True, text=True)
    # Recorded, not asserted: what an upgrade leaves in the host's copy of the wheelhouse.
    wheels = node.exec("ls /opt/gateway/wheelhouse | grep '^gateway-'", capture_output=True, text=True)
    return {"dist": dist[1] if dist else pip.stderr.strip()[-200:], "module": module.stdout.strip(),
            "main_pid": pid.stdout.strip(), "host_wheelhouse_gateway_wheels": wheels.stdout.split()}


# ---------------------------------------------------------------- data kept across versions

DATA = """
import sys
from pathlib import Path
import psycopg, redis
from gateway.config.models import S3Settings
from gateway.reload.s3 import make_client

mode, token, pki, secrets = sys.argv[1], sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])
secret = lambda name: (secrets / name).read_text().split()[0]
ca, cert, key = str(pki / "ca-bundle.pem"), str(pki / "clients/gateway.chain.pem"), str(pki / "clients/gateway.key")
found = {}
with psycopg.connect(host="postgresql.appliance.internal", hostaddr="127.0.0.1", port=5432, dbname="litellm",
                     user="gateway", sslmode="verify-full", sslrootcert=ca, sslcert=cert, sslkey=key,
                     connect_timeout=10) as db:
    if mode == "write":
        db.execute("create table if not exists upgrade_probe (token text primary key, at timestamptz default now())")
        db.execute("insert into upgrade_probe (token) values (%s)", (token,))
    found["postgresql"] = db.execute("select count(*) from upgrade_probe where token = %s", (token,)).fetchone()[0] == 1
r = redis.Redis(host="127.0.0.1", port=6379, ssl=True, ssl_ca_certs=ca, ssl_certfile=cert, ssl_keyfile=key,
                ssl_check_hostname=False, username="gateway", password=secret("redis-gateway"), socket_timeout=10)
if mode == "write":
    r.set(f"upgrade-probe:{token}", token)
found["redis"] = r.get(f"upgrade-probe:{token}") == token.encode()
s3 = make_client(S3Settings(endpoint="127.0.0.1:8333", tls_server_name="s3.appliance.internal", ca_file=ca,
                            cert_file=cert, key_file=key, access_key=secret("s3-gateway-access-key"),
                            secret_key=secret("s3-gateway-secret-key")))
obj = f"upgrade-probe/{token}.txt"
if mode == "write":
    import io
    s3.put_object("routing-artifacts", obj, io.BytesIO(token.encode()), len(token))
found["s3"] = s3.get_object("routing-artifacts", obj).read() == token.encode()
print(__import__("json").dumps(found))
"""


def data(node: Node, site: Path, mode: str, token: str) -> dict:
    """Write (then read) or only read a row in PostgreSQL, a key in Redis and an object in S3, as `gateway`."""
    out = node.node_net([sys.executable, "-c", DATA, mode, token, str(site / "pki"), str(site / "secrets")],
                        capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


# ---------------------------------------------------------------- the three steps


@dataclass
class Step:
    """One install.sh run and what the node showed right after it."""

    run: PlaybookRun
    seconds: float
    phases: dict[str, float]
    answer: dict
    served_after: float
    version: dict
    load: dict | None = None
    data: dict | None = None

    def figures(self) -> dict:
        recap = self.run.recap.get("node1", {})
        return {"seconds": self.seconds, "phases": self.phases, "changed": recap.get("changed"),
                "served_after_seconds": self.served_after,
                "version": self.version, **({"load": self.load} if self.load else {}),
                **({"data": self.data} if self.data else {})}


def _journal(node: Node, controller: Controller, what: str) -> str:
    """The gateway's journal, kept in the logs directory: the node is gone once the module ends."""
    out = node.exec(["journalctl", "-u", "gateway", "--no-pager", "-n", "300"], capture_output=True, text=True)
    (controller.logs / f"journal-gateway-{what.replace(' ', '-')}.log").write_text(out.stdout + out.stderr)
    return out.stdout[-3000:]


def _after(controller: Controller, node: Node, done: tuple[PlaybookRun, float, dict], what: str) -> Step:
    run = done[0]
    if run.returncode != 0 or run.recap.get("node1", {}).get("failed") != 0:
        pytest.fail(f"{what}: install.sh failed\n{run.tail()}\n--- journalctl -u gateway ---\n"
                    f"{_journal(node, controller, what)}")
    answer, waited = serving(node, controller.site)
    return Step(*done, answer, waited, gateway_version(node))


@pytest.fixture(scope="module")
def installed_n(controller, node, releases, figures) -> Step:
    """Release N onto a fresh node with the operator's trusted install.sh (bundle/install.sh, the same bytes)."""
    done = controller.install(rel.REPO / "bundle/install.sh", releases.n.bundle)
    step = _after(controller, node, done, f"install {releases.n.version}")
    figures["install_n"] = step.figures()
    return step


@pytest.fixture(scope="module")
def token(installed_n, controller, node) -> str:
    """A row, a key and an object written as the gateway identity once N is installed."""
    value = uuid.uuid4().hex
    assert data(node, controller.site, "write", value) == {"postgresql": True, "redis": True, "s3": True}
    return value


@pytest.fixture(scope="module")
def upgraded(token, controller, node, releases, figures) -> Step:
    """N+1 verified, then installed, with the install.sh kept from N (docs/moat-mode.md, "Upgrading")."""
    kept = controller.kept(releases.n.version) / "install.sh"
    t0 = time.monotonic()
    check, _, _ = controller.install_sh(kept, "verify", "--pubkey", str(releases.pubkey), "--staging",
                                     str(controller.home), str(releases.n1.bundle))
    assert check.returncode == 0, check.tail()
    figures["upgrade_verify_seconds"] = round(time.monotonic() - t0, 1)
    with Load(node, controller.site) as load:
        done = controller.install(kept, releases.n1.bundle)
    step = _after(controller, node, done, f"upgrade to {releases.n1.version}")
    step.load, step.data = load.summary(), data(node, controller.site, "read", token)
    figures["upgrade"] = step.figures()
    return step


@pytest.fixture(scope="module")
def rolled_back(upgraded, token, controller, node, releases, figures) -> Step:
    """N again, by its kept install.sh with no bundle argument: it verifies its own directory, then installs."""
    with Load(node, controller.site) as load:
        done = controller.install(controller.kept(releases.n.version) / "install.sh")
    step = _after(controller, node, done, f"rollback to {releases.n.version}")
    step.load, step.data = load.summary(), data(node, controller.site, "read", token)
    figures["rollback"] = step.figures()
    return step


def _assert_routed(step: Step) -> None:
    answer = step.answer
    assert answer.get("status") == 200, answer
    assert answer["headers"].get("x-gateway-routed-model") in ROUTED, answer["headers"]
    assert answer["headers"].get("x-gateway-routing-strategy") == "llmrouter-knn", answer["headers"]
    assert answer["json"]["choices"][0]["message"]["content"]


# ---------------------------------------------------------------- the tests


def test_releases_differ_only_in_the_gateway_version(releases):
    assert releases.n1.version == rel.bumped(releases.n.version)
    assert releases.n.pubkey.read_bytes() == releases.n1.pubkey.read_bytes() == releases.pubkey.read_bytes()
    assert releases.n.files == releases.n1.files


def test_offline_install_from_the_bundle_serves_a_routed_completion_through_the_load_balancer(
        installed_n, controller, releases):
    out = installed_n.run.stdout
    assert "verified " in out and "files match the signed SHA256SUMS" in out
    assert f"making the Ansible venv {controller.ansible_venv} offline" in installed_n.run.stdout
    assert (controller.ansible_venv / "bin/ansible-playbook").exists()
    assert controller.kept(releases.n.version).is_dir()
    assert installed_n.run.recap["node1"]["changed"] > 0
    _assert_routed(installed_n)
    assert installed_n.version["dist"] == installed_n.version["module"] == releases.n.version


def test_upgrade_to_the_next_release_runs_it_keeps_the_data_and_serves(upgraded, installed_n, releases, controller):
    assert "already matches" in upgraded.run.stdout  # same Ansible lock: the controller venv is kept
    assert upgraded.version["dist"] == upgraded.version["module"] == releases.n1.version
    assert upgraded.version["main_pid"] != installed_n.version["main_pid"], "the gateway was not restarted"
    _assert_routed(upgraded)
    assert upgraded.data == {"postgresql": True, "redis": True, "s3": True}
    assert controller.kept(releases.n.version).is_dir() and controller.kept(releases.n1.version).is_dir()


def test_rollback_with_the_kept_previous_bundle_restores_it_keeps_the_data_and_serves(rolled_back, upgraded,
                                                                                      releases):
    assert "verified " in rolled_back.run.stdout
    assert rolled_back.version["dist"] == rolled_back.version["module"] == releases.n.version
    assert rolled_back.version["main_pid"] != upgraded.version["main_pid"], "the gateway was not restarted"
    _assert_routed(rolled_back)
    assert rolled_back.data == {"postgresql": True, "redis": True, "s3": True}


def test_requests_during_upgrade_and_rollback_are_counted(upgraded, rolled_back, figures):
    """Not a zero-downtime claim: one gateway restarts. The counts go to figures.json for the docs."""
    for step in (upgraded, rolled_back):
        assert step.load["requests"] > 0
    figures["failed_requests"] = {"upgrade": upgraded.load["failed"], "rollback": rolled_back.load["failed"]}
