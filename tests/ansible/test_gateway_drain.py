"""The gateway role's tasks/balancer.yml, run by ansible-playbook on this machine against Debian's HAProxy with
the generated load balancer (no node: seconds): with two gateways on the site, `drain` sets this gateway's
server to drain on the balancer's host and `ready` puts it back, each reported changed once; with one gateway
nothing is touched (it restarts in place behind gateway.socket)."""

from __future__ import annotations

import os
import subprocess

import pytest
import yaml

from tests.ansible.container import ansible_bin
from tests.ansible.playbook import REPO
from tests.appliance.servers import free_port
from tests.ha.haproxy import Site
from tests.observability.conftest import pki  # noqa: F401 - fixture

pytestmark = [pytest.mark.ansible]


def run_role(tmp_path, site: Site, state: str, gateways: int) -> str:
    services = {"loadbalancer": {"kind": "loadbalancer", "host": "localhost"},  # as Site names it
                **{f"gw{i}": {"kind": "gateway", "host": "localhost"} for i in range(gateways)}}
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [{
        "ansible.builtin.include_role": {"name": "gateway", "tasks_from": "balancer"},
        "vars": {"__gateway_balancer_state": state, "appliance": {"site": "t", "services": services},
                 "appliance_my_services": {"gw0": services["gw0"]}}}]}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    extra = {"__gateway_haproxy_socket": site.haproxy.paths.stats_socket,
             "ansible_python_interpreter": "/usr/bin/python3"}
    out = subprocess.run([str(ansible_bin("ansible-playbook")), "-i", "localhost,", "-c", "local", "-e",
                          yaml.safe_dump(extra, default_flow_style=True), str(tmp_path / "play.yml")],
                         capture_output=True, text=True, timeout=300,
                         env={"PATH": f"{ansible_bin('ansible-playbook').parent}:/usr/bin:/bin", "LANG": "C.UTF-8",
                              "HOME": os.environ.get("HOME", "/root"), "ANSIBLE_NOCOLOR": "1",
                              "ANSIBLE_ROLES_PATH": str(REPO / "ansible/roles")})
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    return out.stdout


def admin_drained(site: Site, server: str) -> bool:
    lines = site.haproxy.command(f"show servers state {site.backend}").splitlines()
    header = next(line for line in lines if line.startswith("# ")).split()[1:]
    rows = [dict(zip(header, line.split(), strict=False)) for line in lines[1:] if line and line[0] != "#"]
    (row,) = [r for r in rows if r["srv_name"] == server]
    return bool(int(row["srv_admin_state"]) & 0x08)


def test_drain_and_ready_on_the_balancer_only_when_the_site_has_other_gateways(tmp_path, pki):  # noqa: F811
    site = Site(pki, [free_port(), free_port()]).start()  # no gateway behind: only the admin state matters here
    try:
        alone = run_role(tmp_path, site, "drain", gateways=1)
        assert "skipping: [localhost]" in alone and not admin_drained(site, "gw0")
        drained = run_role(tmp_path, site, "drain", gateways=2)
        assert "changed: [localhost] => (item=loadbalancer on localhost)" in drained, drained
        assert admin_drained(site, "gw0")
        assert not admin_drained(site, "gw1")
        assert "changed=1" in run_role(tmp_path, site, "ready", gateways=2) and not admin_drained(site, "gw0")
        assert "changed=0" in run_role(tmp_path, site, "ready", gateways=2)
    finally:
        site.close()
