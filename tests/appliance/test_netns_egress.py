"""Egress probed on the nftables backend: a host with `egress: drop` reaches its declared flows and nothing
else. gw1 of the HA example runs its generated ruleset in a namespace; a second namespace holds every other
host's address and listens on every service port of the site (and one no service uses). From gw1, exactly
the (address, port) pairs of gw1's flows answer; every other SYN is dropped by gw1's own output chain,
which counts it, so the client times out. The firewalld form is probed in tests/ansible/test_firewalld.py."""

from __future__ import annotations

import pytest

from gateway.appliance.generate import documents
from tests.appliance.conftest import require_root, require_tool
from tests.appliance.netns import connect, drops, listen, sh, two_hosts

pytestmark = [pytest.mark.netns, pytest.mark.slow]
HOST = "gw1"
UNUSED_PORT = 8080  # no service of the site: a listener there proves only the firewall stops gw1


def test_a_host_with_egress_drop_reaches_its_flows_and_nothing_else(example, tmp_path):
    require_root()
    require_tool("nft", "nftables")
    require_tool("ip", "iproute2")
    m = example("ha").manifest
    assert m.firewall.egress == "drop"
    ruleset = tmp_path / f"{HOST}.nft"
    ruleset.write_text(documents(example("ha"), render=False)[f"firewall/{HOST}.nft"])
    own = m.host(HOST).addresses[0]
    others = {a: h.name for h in m.hosts if h.name != HOST for a in h.addresses}
    ports = sorted({s.port for s in m.services if s.protocol == "tcp"} | {UNUSED_PORT})
    # Flows to the site's own hosts; the one to the external llm-upstream is probed in test_netns_external.py.
    declared = {(m.host(m.service(f.to).host).addresses[0], m.flow_port(f))
                for f in m.flows if f.source == HOST and m.external(f.to) is None}
    assert len(declared) == 4  # postgresql, redis, s3, otelcol-grpc

    with two_hosts(own, *others) as (gw, world, procs):
        sh("ip", "netns", "exec", gw, "nft", "-f", str(ruleset))
        listen(world, procs, *ports)
        listen(gw, procs, 19999)
        assert connect(gw, "127.0.0.1", 19999) == "hello"  # loopback stays open

        seen = {}
        for address in others:
            for port in ports:
                before = drops(gw, "output")
                # a declared flow answers at once; an undeclared SYN never leaves gw1
                seen[(address, port)] = connect(gw, address, port, timeout=0.3)
                if (address, port) not in declared:
                    assert drops(gw, "output") > before, f"{address}:{port} was not counted as dropped"
        reached = {pair for pair, answer in seen.items() if answer == "hello"}
        assert reached == declared, f"reached {sorted(reached)}, declared {sorted(declared)}"
        refused = {answer for pair, answer in seen.items() if pair not in declared}
        assert refused == {"timeout"}, refused
        # Every port listens on the other side: only gw1's output chain kept them from answering.
        assert {connect(world, address, port) for address in others for port in ports} == {"hello"}
