"""The firewall role's firewalld path, for real: Debian 12's firewalld in the booted container.

RHEL hosts cannot be built here (no RHEL packages), so the test manifest (firewalld-site.yaml) gives a
Debian 12 node `firewall: firewalld`: it gets the zone, the egress policy and the role steps a RHEL host
gets. No host has a service role, so site.yml runs preflight, common, pki and firewall only. Before
the first run the node loads the generated nft ruleset with nftables.service, as a host that ran the
nftables backend would; the role must stop it for good.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.ansible.container import Node, booted_node
from tests.ansible.outside import (
    ADMIN_ADDRESS,
    NODE_ADDRESS,
    PEER_ADDRESS,
    USER_ADDRESS,
    tcp_outcome,
    tcp_outcome_from_node,
)
from tests.ansible.playbook import ARCH, REPO, apply_twice, generate_site, run_playbook

pytestmark = [pytest.mark.ansible, pytest.mark.slow, pytest.mark.netns]

MANIFEST = Path(__file__).with_name("firewalld-site.yaml")
APP_PORT, PEER_PORT = 8443, 9443  # declared: users -> node1:8443, node1 -> peer1:9443
UNDECLARED = 8444


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    return generate_site(tmp_path_factory.mktemp("firewalld"), MANIFEST)


def _load_nftables_first(node: Node, site: Path) -> None:
    """What the nftables backend leaves on a host: nftables.service enabled, the appliance table loaded."""
    shutil.copytree(REPO / f"dist/apt/linux-{ARCH}", node.root / "opt/preseed-apt")
    (node.root / "etc/apt/sources.list").write_text("deb [trusted=yes] file:/opt/preseed-apt ./\n")
    for entry in (node.root / "etc/apt/sources.list.d").glob("*"):
        entry.unlink()
    install = node.exec(["sh", "-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
                         "--no-install-recommends nftables && rm -r /opt/preseed-apt"],
                        capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-2000:]
    shutil.copy(site / "firewall/node1.nft", node.root / "etc/nftables.conf")
    start = node.exec(["systemctl", "enable", "--now", "nftables"], capture_output=True, text=True)
    assert start.returncode == 0, start.stderr
    assert "table inet appliance" in _kernel_tables(node)


def _kernel_tables(node: Node) -> str:
    """The node's nftables tables, read from its network namespace with the host's nft."""
    return node.node_net(["nft", "list", "tables"], capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def installed(site):
    """The node after two runs of site.yml; yields (node, first run, second run)."""
    with booted_node("gwt-fwd", address=f"{NODE_ADDRESS}/24") as node:
        _load_nftables_first(node, site)
        yield node, *apply_twice(site, node)


def test_second_run_changes_nothing(installed):
    _, first, second = installed
    assert first.recap["node1"]["changed"] > 0
    assert second.recap["node1"]["changed"] == 0, second.changed_tasks()


def test_check_mode_on_the_installed_node_reports_no_drift(installed, site):
    node, _, _ = installed
    check = run_playbook(site, node, "--check", "--diff")
    assert check.returncode == 0, check.tail()
    assert check.recap["node1"]["changed"] == 0, check.changed_tasks()


def test_firewalld_enforces_the_appliance_zone_and_policy_and_nftables_service_is_masked(installed):
    node, _, _ = installed

    def out(*cmd: str) -> str:
        return node.exec(list(cmd), capture_output=True, text=True).stdout.strip()

    assert out("firewall-cmd", "--state") == "running"
    assert out("firewall-cmd", "--get-default-zone") == "appliance"
    assert "appliance-egress" in out("firewall-cmd", "--get-active-policies").split()
    assert out("systemctl", "is-enabled", "nftables") == "masked"
    assert out("systemctl", "is-active", "nftables") == "inactive"
    # firewalld's table only: the appliance table the nftables backend had loaded is gone.
    assert _kernel_tables(node).split() == ["table", "inet", "firewalld"]


def _node_listener(node: Node, address: str, port: int) -> None:
    unit = f"listen-{port}"
    start = node.exec(["systemd-run", f"--unit={unit}", "--property=WorkingDirectory=/etc", "python3", "-m",
                       "http.server", "--bind", address, str(port)], capture_output=True, text=True)
    assert start.returncode == 0, start.stderr
    _wait_open(lambda: tcp_outcome_from_node(node, address, port), f"{unit} on the node")


def _wait_open(probe, what: str) -> None:
    deadline = time.monotonic() + 20
    while (outcome := probe()) != "open":
        assert time.monotonic() < deadline, f"{what} does not listen ({outcome})"
        time.sleep(0.2)


@contextmanager
def _peer_listeners(node: Node, ports: tuple[int, ...]) -> Iterator[None]:
    """HTTP servers in the client namespace on the peer's address (the node's egress targets)."""
    procs = [subprocess.Popen(["ip", "netns", "exec", node.client_netns, sys.executable, "-m", "http.server",
                               "--bind", PEER_ADDRESS, str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, cwd="/") for port in ports]
    try:
        for port in ports:
            _wait_open(lambda port=port: tcp_outcome(node, PEER_ADDRESS, port, source=PEER_ADDRESS),
                       f"peer listener {port}")
        yield
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)


def test_ingress_only_the_declared_flows_pass(installed):
    node, _, _ = installed
    _node_listener(node, NODE_ADDRESS, APP_PORT)
    _node_listener(node, NODE_ADDRESS, UNDECLARED)
    assert tcp_outcome(node, NODE_ADDRESS, APP_PORT, source=USER_ADDRESS) == "open"
    # Something listens on 8444, but no flow declares it: dropped, not refused.
    assert tcp_outcome(node, NODE_ADDRESS, UNDECLARED, source=USER_ADDRESS) == "dropped"
    # SSH is declared for ops only: from ops the SYN reaches the node (nothing listens: refused).
    assert tcp_outcome(node, NODE_ADDRESS, 22, source=ADMIN_ADDRESS) == "refused"
    assert tcp_outcome(node, NODE_ADDRESS, 22, source=USER_ADDRESS) == "dropped"


def test_egress_only_the_declared_flow_leaves_and_loopback_works(installed):
    node, _, _ = installed
    with _peer_listeners(node, (PEER_PORT, PEER_PORT + 1)):
        assert tcp_outcome_from_node(node, PEER_ADDRESS, PEER_PORT) == "open"
        assert tcp_outcome_from_node(node, PEER_ADDRESS, PEER_PORT + 1) == "dropped"
    _node_listener(node, "127.0.0.1", UNDECLARED + 1)  # waits until the node reaches it over loopback
