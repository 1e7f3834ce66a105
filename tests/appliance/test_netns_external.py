"""Egress to an external service, probed on the nftables backend: node1 of the single-node example runs its
generated ruleset in a namespace; a second namespace stands for the outside world and holds the external
llm-upstream's address (198.18.50.2) and a neighbour (198.18.50.3), both listening on the upstream's port and
on one more. From node1 only 198.18.50.2:8080 answers; every other SYN is counted by node1's own output
chain's drop rule and times out, in the same run."""

from __future__ import annotations

import json

import pytest

from gateway.appliance.audit import audit_firewall
from gateway.appliance.generate import documents
from tests.appliance.conftest import require_root, require_tool
from tests.appliance.netns import connect, drops, listen, one_host, sh, two_hosts

pytestmark = [pytest.mark.netns, pytest.mark.slow]
HOST = "node1"
UPSTREAM = "llm-upstream"
NEIGHBOUR = "198.18.50.3"  # no external service: same network, not declared
OTHER_PORT = 8081  # not the upstream's port


def test_a_host_reaches_its_declared_external_llm_and_nothing_beside_it(example, tmp_path):
    require_root()
    require_tool("nft", "nftables")
    require_tool("ip", "iproute2")
    loaded = example("single-node")
    m = loaded.manifest
    assert m.firewall.egress == "drop"
    upstream = m.external(UPSTREAM)
    assert upstream is not None and any(f.source == HOST and f.to == UPSTREAM for f in m.flows)
    address, port = upstream.addresses[0], upstream.port
    assert (address, port) == ("198.18.50.2", 8080)  # where the site test runs its fake upstream
    ruleset = tmp_path / f"{HOST}.nft"
    ruleset.write_text(documents(loaded, render=False)[f"firewall/{HOST}.nft"])

    with two_hosts(m.host(HOST).addresses[0], address, NEIGHBOUR) as (node, world, procs):
        # IPv6 off in node1's namespace: its link-up chatter (router solicitations, MLD reports) would
        # otherwise be counted by the same drop rule at random moments (CI saw one during the allowed probe).
        sh("ip", "netns", "exec", node, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
        sh("ip", "netns", "exec", node, "nft", "-f", str(ruleset))
        listen(world, procs, port, OTHER_PORT)
        outcomes = {}
        for target in ((address, port), (address, OTHER_PORT), (NEIGHBOUR, port), (NEIGHBOUR, OTHER_PORT)):
            before = drops(node, "output")
            outcomes[target] = (connect(node, *target, timeout=0.5), drops(node, "output") - before)
        assert outcomes[(address, port)] == ("hello", 0)
        for target in ((address, OTHER_PORT), (NEIGHBOUR, port), (NEIGHBOUR, OTHER_PORT)):
            answer, dropped = outcomes[target]
            assert answer == "timeout" and dropped > 0, f"{target}: {answer}, {dropped} dropped by node1's output chain"
        # Every one of them listens: only node1's output chain kept them from answering.
        assert {connect(world, a, p) for a in (address, NEIGHBOUR) for p in (port, OTHER_PORT)} == {"hello"}


@pytest.mark.parametrize(("name", "host"), [("single-node", "node1"), ("ha", "gw1")])
def test_the_audit_reads_the_external_rules_back_as_the_manifest_says(example, tmp_path, name, host):
    """An address (single-node) and a network (the HA example's pool) read back from `nft -j` equal what
    the manifest expects; a rule for another port would be a finding (the audit's own tests show that)."""
    require_root()
    require_tool("nft", "nftables")
    loaded = example(name)
    ruleset = tmp_path / f"{host}.nft"
    ruleset.write_text(documents(loaded, render=False)[f"firewall/{host}.nft"])
    with one_host([]) as ns:
        sh("ip", "netns", "exec", ns, "nft", "-f", str(ruleset))
        listed = json.loads(sh("ip", "netns", "exec", ns, "nft", "-j", "list", "ruleset").stdout)
    assert any("198.18.50." in json.dumps(i) for i in listed["nftables"] if "rule" in i)
    report = audit_firewall(loaded.manifest, host, listed)
    assert report.findings == []
