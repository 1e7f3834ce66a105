"""Admission from the manifest: each mtls service admits exactly the identities of its flows (from their
sources) and its `local_clients` (from loopback); the fronts' ACLs, pg_hba's clients and the network document
read that one list. Real servers refusing the others: test_refusal_matrix.py."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from gateway.appliance import admission, ansible_vars, haproxy, tlsfront
from gateway.appliance.errors import ManifestError
from gateway.appliance.generate import documents
from gateway.appliance.loader import parse
from tests.appliance.conftest import EXAMPLES
from tests.appliance.conftest import single_node_data as _single


def test_ha_fronts_admit_exactly_the_identities_of_their_flows(example):
    m = example("ha").manifest
    allowed = {f.name: f.allowed for h in tlsfront.hosts(m) for f in tlsfront.fronts(m, h)}
    assert allowed == {
        "gateway-gw1": ("loadbalancer",),
        "gateway-gw2": ("loadbalancer",),
        "redis": ("gateway",),
        "s3": ("gateway",),
        "otelcol-grpc": ("gateway",),
        "otelcol-http": ("telemetry",),  # the load balancer's access logs; not the gateways
    }
    assert admission.sources(m, m.service("redis")) == {"gateway": ["198.18.1.11/32", "198.18.1.12/32"]}
    assert admission.sources(m, m.service("loadbalancer")) == {}  # tls: no client certificates


def test_single_node_admits_its_local_clients_from_loopback_only(example):
    m = example("single-node").manifest
    assert admission.sources(m, m.service("gateway")) == {"loadbalancer": ["127.0.0.1/32", "::1/128"]}
    assert admission.identities(m, m.service("postgresql")) == ("gateway",)
    # pg_hba.conf (the postgresql role) reads the same list: the load balancer's identity is not a role there
    assert [c["identity"] for c in ansible_vars.clients(m, m.service("postgresql"))] == ["gateway"]


def test_a_service_nobody_may_reach_refuses_every_identity():
    data = _single()
    next(s for s in data["services"] if s["name"] == "otelcol-http")["local_clients"] = []
    m = parse(yaml.safe_dump(data, sort_keys=False), "appliance.yaml")
    (front,) = [f for f in tlsfront.fronts(m, "node1") if f.name == "otelcol-http"]
    assert front.allowed == ()
    block = haproxy.render([front], None).split("frontend otelcol-http from tls-fronts\n")[1].split("\n\n")[0]
    assert block.endswith("    tcp-request content reject\n    default_backend otelcol-http")
    assert "acl admitted" not in block


def test_the_front_refuses_unlisted_identities_after_the_verification_rule(example):
    conf = documents(example("ha"), render=False)["haproxy/otel1.cfg"]
    block = conf.split("frontend otelcol-http from tls-fronts\n")[1].split("\n\n")[0]
    verify = block.index("tcp-request content reject unless { ssl_c_used } { ssl_c_verify 0 }")
    acl = block.index("    acl admitted ssl_c_s_dn(CN) -m str telemetry\n"
                      "    tcp-request content reject unless admitted\n")
    assert verify < acl
    assert "# otelcol-http | front | 198.18.1.23:4318 | 127.0.0.1:14318 | CN=otelcol-http-front | telemetry" in conf


def test_a_hand_built_front_without_a_list_admits_any_verified_identity():
    """Test rigs (tests/ha) build fronts by hand; `allowed=None` keeps them off the identity check."""
    front = tlsfront.Front(name="gw0", listen=("127.0.0.1:4000",), backend="127.0.0.1:14000",
                           server_name="localhost", identity="gateway-front", why="test")
    assert front.allowed is None
    assert "reject unless admitted" not in haproxy.render([front], None)
    listed = haproxy.render([dataclasses.replace(front, allowed=("a", "b"))], None)
    assert "    acl admitted ssl_c_s_dn(CN) -m str a b\n" in listed


@pytest.mark.parametrize(
    "service, local, problem",
    [
        ("redis", ["nobody"], "services[3].local_clients[0]: unknown client identity 'nobody' "
                              "(clients: gateway, loadbalancer, trainer)"),
        ("loadbalancer", ["gateway"], "services[0].local_clients[0]: service 'loadbalancer' is 'tls', not mtls: "
                                      "no client identities"),
    ],
)
def test_local_clients_must_be_known_mtls_identities(service, local, problem):
    data = _single()
    next(s for s in data["services"] if s["name"] == service)["local_clients"] = local
    with pytest.raises(ManifestError) as exc:
        parse(yaml.safe_dump(data, sort_keys=False), "appliance.yaml")
    assert any(p.endswith(problem) for p in exc.value.problems), exc.value.problems


def test_a_local_client_must_be_held_on_the_services_host():
    data = yaml.safe_load((EXAMPLES / "ha" / "appliance.yaml").read_text())
    next(s for s in data["services"] if s["name"] == "redis")["local_clients"] = ["gateway"]
    with pytest.raises(ManifestError) as exc:
        parse(yaml.safe_dump(data, sort_keys=False), "appliance.yaml")
    assert any(p.endswith("services[4].local_clients[0]: identity 'gateway' is not held by 'cache1', the host of "
                          "service 'redis'") for p in exc.value.problems), exc.value.problems


def test_the_network_document_lists_who_may_connect_per_port(example):
    doc = documents(example("single-node"), render=False)["network.md"]
    table = doc.split("## Admitted client identities, per port\n")[1].split("\n## ")[0]
    assert "| gateway | node1 | tcp/4000 | loadbalancer | loadbalancer: 127.0.0.1/32, ::1/128 | HAProxy front" in table
    assert "| postgresql | node1 | tcp/5432 | gateway | gateway: 127.0.0.1/32, ::1/128 | postgresql: " in table
    assert "loadbalancer | node1 | tcp/443" not in table  # tls only: no client identities
