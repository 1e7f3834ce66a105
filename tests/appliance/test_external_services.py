"""external_services: endpoints outside the appliance (the operator's LLM servers). Each bad value is refused
with its location, and every generator renders the flows to them from one declaration."""

from __future__ import annotations

import yaml

from gateway.appliance import ansible_vars, firewall, netdoc, portmap
from gateway.appliance.loader import parse
from gateway.appliance.targets import facts, netpol
from gateway.appliance.targets.facts import Options
from tests.appliance.conftest import manifest_errors as _errors
from tests.appliance.conftest import single_node_data as _single

FLOW = 2  # the single-node example's flow node1 -> llm-upstream


def _external(**changes) -> dict:
    data = _single()
    data["external_services"][0].update(changes)
    return data


def _manifest(data: dict):
    return parse(yaml.safe_dump(data, sort_keys=False), "appliance.yaml")


def test_the_example_declares_the_upstream_the_site_test_runs():
    m = _manifest(_single())
    x = m.external("llm-upstream")
    assert (x.kind, x.addresses, x.port, x.protocol, x.tls.mode) == ("llm", ["198.18.50.2"], 8080, "tcp", "none")
    f = m.flows[FLOW]
    assert (f.source, f.to, m.flow_port(f)) == ("node1", "llm-upstream", 8080)


def test_tls_none_needs_a_reason_and_mtls_is_refused():
    assert any("external_services[0].tls" in p and "reason" in p
               for p in _errors(_external(tls={"mode": "none"})))
    assert any(p.endswith("external_services[0].tls.mode: Input should be 'tls' or 'none' (got 'mtls')")
               for p in _errors(_external(tls={"mode": "mtls"})))


def test_bad_addresses_kind_and_port_name_their_key():
    assert any("external_services[0].addresses[0]" in p and "'upstream.lan' is neither an IP address" in p
               for p in _errors(_external(addresses=["upstream.lan"])))
    assert any("external_services[0].addresses" in p for p in _errors(_external(addresses=[])))
    assert any("external_services[0].kind" in p for p in _errors(_external(kind="vllm")))
    assert any("external_services[0].port" in p for p in _errors(_external(port=70000)))


def test_an_address_of_the_appliance_is_refused():
    problems = _errors(_external(addresses=["198.18.50.2", "198.18.0.0/24"]))
    assert any(p.endswith("external_services[0].addresses[1]: 198.18.0.0/24 holds 198.18.0.10, an address of "
                          "host 'node1': name the host's service instead") for p in problems), problems


def test_names_are_unique_across_services_and_external_services():
    problems = _errors(_external(name="redis"))
    assert any(p.endswith("external_services[0].name: 'redis' is already a service (services[3]): a flow's `to` "
                          "could not tell them apart") for p in problems), problems
    data = _single()
    data["external_services"].append(dict(data["external_services"][0]))
    assert any(p.endswith("external_services[1]: 'llm-upstream' is already defined at external_services[0]")
               for p in _errors(data))


def test_a_flow_to_an_external_service_comes_from_a_host_with_no_identity_on_its_port():
    data = _single()
    data["flows"][FLOW].update({"from": "users", "identity": "gateway", "port": 8443})
    problems = _errors(data)
    for want in (
        f"flows[{FLOW}].from: 'users' is a network: only a host may have a flow to the external service "
        "'llm-upstream' (its firewall opens the egress)",
        f"flows[{FLOW}].identity: external service 'llm-upstream' holds no certificate of the site CA: no identity",
        f"flows[{FLOW}].port: 8443 is not the port of external service 'llm-upstream' (8080)",
    ):
        assert any(p.endswith(want) for p in problems), (want, problems)
    data["flows"][FLOW]["to"] = "llm-nowhere"
    assert any(p.endswith(f"flows[{FLOW}].to: unknown service or external service 'llm-nowhere'")
               for p in _errors(data))


def test_nft_opens_the_egress_on_the_source_host_only_and_only_with_egress_drop():
    data = _single()
    data["external_services"].append({"name": "llm-pool", "kind": "llm", "addresses": ["2001:db8:50::/64",
                                      "198.18.60.0/28"], "port": 8443, "protocol": "tcp", "tls": {"mode": "tls"}})
    data["flows"].append({"from": "node1", "to": "llm-pool", "purpose": "p", "approver": "a"})
    m = _manifest(data)
    out = [r for r in firewall.rules_for(m, "node1") if r.chain == "output"]
    assert [(r.family, r.addrs, r.port) for r in out] == [
        ("ip", ("198.18.50.2",), 8080), ("ip6", ("2001:db8:50::/64",), 8443), ("ip", ("198.18.60.0/28",), 8443)]
    text = firewall.nftables(m, "node1", "appliance.yaml", "0" * 64).split("chain output")[1]
    assert 'ip daddr { 198.18.50.2 } tcp dport 8080 accept comment "flow 3: node1 -> llm-upstream' in text
    assert "ip6 daddr { 2001:db8:50::/64 } tcp dport 8443 accept" in text
    assert all(r.chain == "output" for r in firewall.rules_for(m, "node1") if r.port in (8080, 8443))
    data["firewall"] = {"egress": "accept"}
    assert not [r for r in firewall.rules_for(_manifest(data), "node1") if r.chain == "output"]


def test_firewalld_egress_policy_accepts_the_external_destination():
    data = _single()
    data["hosts"][0]["os"] = "rhel"
    xml = firewall.firewalld_policy(_manifest(data), "node1", "appliance.yaml", "0" * 64)
    assert '<destination address="198.18.50.2" />' in xml and '<port port="8080" protocol="tcp" />' in xml
    zone = firewall.firewalld_zone(_manifest(data), "node1", "appliance.yaml", "0" * 64)
    assert "8080" not in zone  # nothing opens inbound for it


def test_port_map_network_document_and_ansible_vars_name_it():
    m = _manifest(_single())
    row = portmap.rows(m)[FLOW]
    assert (row.service, row.destination_host, row.destination_addresses, row.port) == (
        "llm-upstream", "external (llm)", "198.18.50.2", 8080)
    assert (row.server_certificate, row.client_certificate, row.tls) == (
        "-", "-", "none (The test's self-hosted upstream; a real site uses tls.)")
    assert "SC-8(1)" not in row.controls
    dot = netdoc.dot(m, "appliance.yaml", "0" * 64)
    assert '"host:node1" -> "ext:llm-upstream" [label="3: 8080 none", style=dashed];' in dot
    md = netdoc.markdown(m, "appliance.yaml", "0" * 64, "network.svg")
    assert "## External services" in md
    assert "| llm-upstream | llm | 198.18.50.2 | tcp/8080 | none: The test's self-hosted upstream; a real site " \
           "uses tls. | node1 |" in md
    v = ansible_vars.variables(m, "0" * 64)["appliance"]["external_services"]
    assert v == {"llm-upstream": {"kind": "llm", "addresses": ["198.18.50.2"], "port": 8080, "protocol": "tcp",
                                  "tls": "none", "reached_from": ["node1"]}}
    assert "llm-upstream" not in str(ansible_vars.variables(m, "0" * 64)["appliance"]["etc_hosts"])


def test_kubernetes_egress_only_for_external_services_a_gateway_host_reaches():
    data = _single()
    m = _manifest(data)
    names = {p["metadata"]["name"]: p for p in netpol.policies(facts.gateway(m), Options())}
    rule = names["gateway-to-llm-upstream"]["spec"]["egress"][0]
    assert rule == {"to": [{"ipBlock": {"cidr": "198.18.50.2/32"}}], "ports": [{"protocol": "TCP", "port": 8080}]}
    # the same external service reached only from a host without the gateway role: no pod egress
    data["hosts"].append({"name": "tools1", "addresses": ["198.18.0.11"], "roles": []})
    data["flows"][FLOW]["from"] = "tools1"
    names = {p["metadata"]["name"] for p in netpol.policies(facts.gateway(_manifest(data)), Options())}
    assert "gateway-to-llm-upstream" not in names
