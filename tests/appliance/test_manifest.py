"""The manifest schema: examples are valid, and every error names the line and the path."""

from __future__ import annotations

import json

import pytest
import yaml

from gateway.appliance.errors import ManifestError
from gateway.appliance.loader import SCHEMA_PATH, json_schema, load, parse
from tests.appliance.conftest import EXAMPLE_NAMES, EXAMPLES
from tests.appliance.conftest import manifest_errors as _errors
from tests.appliance.conftest import single_node_data as _single


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_examples_are_valid(name):
    m = load(EXAMPLES / name / "appliance.yaml").manifest
    assert m.flows and m.services and m.hosts


def test_ha_example_has_what_ansible_needs(example):
    m = example("ha").manifest
    kinds = {(s.kind, s.port) for s in m.services}
    assert {
        ("gateway", 4000),
        ("postgresql", 5432),
        ("redis", 6379),
        ("otelcol", 4317),
        ("otelcol", 4318),
        ("loadbalancer", 443),
        ("s3", 9000),
    } <= kinds
    assert sum(1 for h in m.hosts if "gateway" in h.roles) == 2
    assert any(f.source == "gw1" and f.to == "postgresql" and f.identity == "gateway" for f in m.flows)


def test_port_out_of_range_names_path_and_line():
    data = _single()
    data["services"][3]["port"] = 70000
    problems = _errors(data)
    assert len(problems) == 1
    assert problems[0].endswith("services[3].port: 70000 is not a port")
    assert problems[0].startswith("line ")


def test_line_number_points_at_the_bad_value():
    text = (EXAMPLES / "single-node" / "appliance.yaml").read_text().replace("port: 6379", "port: 0")
    with pytest.raises(ManifestError) as exc:
        parse(text, "x.yaml")
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "port: 0," in t)
    assert exc.value.problems == [f"line {line}: services[3].port: 0 is not a port"]


def test_unknown_key_suggests_the_right_one():
    data = _single()
    data["services"][0]["protocl"] = "tcp"
    assert _errors(data)[0].endswith("services[0].protocl: unknown key; did you mean 'protocol'?")


def test_unknown_host_reference():
    data = _single()
    data["services"][2]["host"] = "node9"
    assert any("services[2].host: unknown host 'node9'" in p for p in _errors(data))


def test_mtls_flow_needs_an_identity_held_by_the_source():
    data = _single()
    data["hosts"].append({"name": "app1", "addresses": ["198.18.0.11"], "roles": []})
    data["flows"].append({"from": "app1", "to": "postgresql", "purpose": "x", "approver": "y"})
    last = len(data["flows"]) - 1
    assert any(
        p.endswith(f"flows[{last}].identity: service 'postgresql' requires mtls: name a client identity")
        for p in _errors(data)
    )
    data["flows"][last]["identity"] = "gateway"
    assert any(
        p.endswith(f"flows[{last}].identity: identity 'gateway' is not held by 'app1'") for p in _errors(data)
    )


def test_tls_none_needs_a_reason():
    data = _single()
    data["services"][7]["tls"] = {"mode": "none"}
    assert _errors(data)[0].endswith("services[7].tls: mode 'none' needs a reason")


def test_duplicates_and_bad_addresses_are_named():
    data = _single()
    data["hosts"].append({"name": "node1", "addresses": ["198.18.0.300"]})
    problems = _errors(data)
    assert any(p.endswith("hosts[1].addresses[0]: '198.18.0.300' is not an IP address") for p in problems)
    data["hosts"][1]["addresses"] = ["198.18.0.10"]
    problems = _errors(data)
    assert any(p.endswith("hosts[1]: 'node1' is already defined at hosts[0]") for p in problems)
    data["hosts"][1]["name"] = "node2"
    problems = _errors(data)
    assert any(
        p.endswith("hosts[1].addresses[0]: 198.18.0.10 is already an address of host 'node1'")
        for p in problems
    )


def test_role_must_match_service_kind():
    data = _single()
    data["hosts"][0]["roles"].remove("redis")
    assert _errors(data) == [next(p for p in _errors(data) if "services[3].kind" in p)]
    assert _errors(data)[0].endswith("services[3].kind: host 'node1' does not have the role 'redis'")


def test_ca_lifetimes_must_nest():
    data = _single()
    data["ca"]["leaf_validity_days"] = 4000
    assert "leaf_validity_days must not exceed intermediate_validity_days" in _errors(data)[0]


def test_firewall_defaults_from_the_os_and_an_explicit_value_wins():
    data = _single()
    data["hosts"] = [
        {"name": "deb", "addresses": ["198.18.0.10"]},
        {"name": "rhel", "addresses": ["198.18.0.11"], "os": "rhel"},
        {"name": "deb-fwd", "addresses": ["198.18.0.12"], "os": "debian", "firewall": "firewalld"},
        {"name": "rhel-nft", "addresses": ["198.18.0.13"], "os": "rhel", "firewall": "nftables"},
    ]
    data["services"] = [
        {"name": "ssh", "kind": "ssh", "host": "deb", "port": 22, "tls": {"mode": "none", "reason": "SSH."}}
    ]
    data["clients"], data["flows"] = [], []
    m = parse(yaml.safe_dump(data, sort_keys=False), "appliance.yaml")
    assert {h.name: h.firewall for h in m.hosts} == {
        "deb": "nftables",
        "rhel": "firewalld",
        "deb-fwd": "firewalld",
        "rhel-nft": "nftables",
    }


def test_unknown_firewall_names_the_host_and_the_choices():
    data = _single()
    data["hosts"][0]["firewall"] = "iptables"
    problems = _errors(data)
    assert len(problems) == 1 and "hosts[0].firewall" in problems[0], problems
    assert "nftables" in problems[0] and "firewalld" in problems[0], problems


def test_manifest_is_immutable(example):
    m = example("single-node").manifest
    with pytest.raises(ValueError):
        m.hosts[0].name = "other"  # type: ignore[misc]


def test_committed_json_schema_matches_the_model():
    assert SCHEMA_PATH.read_text() == json_schema(), (
        "appliance.schema.json is stale: "
        "python -m gateway.appliance schema > gateway/appliance/appliance.schema.json"
    )
    schema = json.loads(SCHEMA_PATH.read_text())
    assert schema["additionalProperties"] is False
    assert "from" in schema["$defs"]["Flow"]["properties"]
