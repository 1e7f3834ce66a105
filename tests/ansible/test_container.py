"""The container harness: a booted node is a Debian 12 systemd host that Ansible reaches, on a closed network.

`make test-ansible` sets GATEWAY_ANSIBLE=1 after building the controller venv and the apt repo: with it
set, a missing prerequisite is a failure; without it these tests skip and name the target that runs them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ansible.container import REPO, Node, ansible_bin, ansible_inventory_line, booted_node

pytestmark = [pytest.mark.ansible, pytest.mark.slow, pytest.mark.netns]

APT_REPO = REPO / "dist/apt/linux-amd64"
# What the roles install from the local repo (bundle/apt/packages.txt lists all, with reasons).
APPLIANCE_PACKAGES = ("postgresql", "redis-server", "haproxy", "socat", "nftables", "python3-venv",
                      "python3-psycopg2", "chrony", "acl", "python3-apt")
CAP_NET_ADMIN = 12
# From the client namespace to the node's http.server, from a chosen source address; retried while it starts.
FETCH = ("import http.client, sys, time\n"
         "for _ in range(50):\n"
         "    try:\n"
         "        c = http.client.HTTPConnection(sys.argv[1], 8080, timeout=5, source_address=(sys.argv[2], 0))\n"
         "        c.request('GET', '/hostname')\n"
         "        print(c.getresponse().status)\n"
         "        break\n"
         "    except OSError:\n"
         "        time.sleep(0.1)\n")


def _require(ok: bool, why: str) -> None:
    """Skip (plain `make test`) or fail (`make test-ansible`, which built everything) when a prerequisite is missing."""
    if ok:
        return
    if os.environ.get("GATEWAY_ANSIBLE"):
        pytest.fail(why)
    pytest.skip(f"{why}; `make test-ansible` runs these tests")


@pytest.fixture(scope="module")
def node() -> Iterator[Node]:
    _require(os.geteuid() == 0, "needs root (network namespaces, systemd-nspawn)")
    _require(shutil.which("systemd-nspawn") is not None, "systemd-nspawn missing: `make system-deps`")
    with booted_node("gwt-smoke") as booted:
        yield booted


def _controller_env(tmp: Path) -> dict[str, str]:
    """Only the controller venv and this test's scratch dir: no user config, no ~/.ansible writes."""
    try:
        venv_bin = ansible_bin("ansible").parent
    except FileNotFoundError as exc:
        _require(False, str(exc))
    return {"PATH": f"{venv_bin}:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(tmp), "LANG": "C.UTF-8",
            "ANSIBLE_HOME": str(tmp / "ansible-home"), "ANSIBLE_LOCAL_TEMP": str(tmp / "ansible-tmp"),
            "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1", "ANSIBLE_STDOUT_CALLBACK": "json", "ANSIBLE_NOCOLOR": "1"}


def test_ansible_reaches_the_node_through_nsenter_and_sees_debian_12_with_systemd(node: Node, tmp_path: Path):
    env = _controller_env(tmp_path)
    inventory = tmp_path / "inventory.ini"
    inventory.write_text(f"{node.name} {ansible_inventory_line(node)}\n")
    run = subprocess.run([str(ansible_bin("ansible")), "all", "-i", str(inventory), "-m", "ansible.builtin.setup"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    facts = json.loads(run.stdout)["plays"][0]["tasks"][0]["hosts"][node.name]["ansible_facts"]
    assert facts["ansible_service_mgr"] == "systemd"
    assert (facts["ansible_distribution"], facts["ansible_distribution_major_version"]) == ("Debian", "12")
    assert facts["ansible_hostname"] == node.name


def test_the_node_has_no_default_route_and_reaches_only_the_client_side(node: Node):
    for family in ("-4", "-6"):
        routes = node.exec(["ip", family, "route"], capture_output=True, text=True, check=True).stdout
        assert "default" not in routes, routes
    # `ip route get` only consults the table: nothing is sent.
    assert node.exec(["ip", "route", "get", "192.0.2.1"], capture_output=True).returncode != 0
    assert node.exec(["ip", "route", "get", "198.19.20.5"], capture_output=True).returncode == 0
    assert node.client(["ip", "route", "get", "192.0.2.1"], capture_output=True).returncode != 0


def test_a_service_on_the_node_address_answers_the_client_namespace(node: Node):
    start = node.exec(["systemd-run", "--unit=smoke-http", "--property=WorkingDirectory=/etc", "python3", "-m",
                       "http.server", "--bind", node.address, "8080"], capture_output=True, text=True)
    assert start.returncode == 0, start.stderr
    # The peer address, and a users' network address that the node routes back through the client.
    for source in ("198.18.0.1", "198.19.20.5"):
        answer = node.client([sys.executable, "-c", FETCH, node.address, source], capture_output=True, text=True,
                             timeout=30)
        assert answer.stdout.strip() == "200", (source, answer.stderr)


def test_services_may_load_a_firewall_because_the_node_keeps_cap_net_admin(node: Node):
    status = node.exec(["grep", "^CapBnd:", "/proc/1/status"], capture_output=True, text=True, check=True).stdout
    assert int(status.split()[1], 16) >> CAP_NET_ADMIN & 1, status


def test_a_namespace_left_by_a_crashed_run_is_replaced():
    _require(os.geteuid() == 0, "needs root (network namespaces, systemd-nspawn)")
    subprocess.run(["ip", "netns", "add", "gwt-stale-n"], check=False, capture_output=True)
    with booted_node("gwt-stale") as node:
        assert node.exec(["systemctl", "is-system-running"], capture_output=True, text=True).returncode in (0, 1)
    assert not Path("/run/netns/gwt-stale-n").exists()


def test_the_local_apt_repo_installs_the_appliance_packages_with_no_network():
    _require(os.geteuid() == 0, "needs root (network namespaces, systemd-nspawn)")
    _require((APT_REPO / "Packages").exists(), f"{APT_REPO} missing: `make apt-repo`")
    with booted_node("gwt-apt") as node:
        shutil.copytree(APT_REPO, node.root / "opt/apt")
        for entry in (node.root / "etc/apt/sources.list.d").glob("*"):
            entry.unlink()
        (node.root / "etc/apt/sources.list").write_text("deb [trusted=yes] file:/opt/apt ./\n")
        install = node.exec(["sh", "-c", "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "
                             + " ".join(APPLIANCE_PACKAGES)], capture_output=True, text=True, timeout=600)
        assert install.returncode == 0, install.stdout[-4000:] + install.stderr[-2000:]
        active = node.exec(["systemctl", "is-active", "postgresql@15-main", "redis-server", "haproxy"],
                           capture_output=True, text=True)
        assert active.stdout.split() == ["active"] * 3, active.stdout
