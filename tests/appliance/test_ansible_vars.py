"""ansible-vars.yml: what the roles read instead of hard-coding ports, addresses and identities."""

from __future__ import annotations

import yaml

from gateway.appliance.generate import documents


def _vars(example, name: str) -> dict:
    return yaml.safe_load(documents(example(name), render=False)["ansible-vars.yml"])["appliance"]


def test_fronted_servers_bind_loopback_behind_their_front(example):
    redis = _vars(example, "ha")["services"]["redis"]
    assert redis["front"] is True and redis["port"] == 6379
    assert (redis["bind_addresses"], redis["bind_port"]) == (["127.0.0.1"], 16379)
    assert redis["clients"] == [{"identity": "redis-front", "sources": ["127.0.0.1/32"]}]


def test_crl_checking_server_takes_flow_identities_from_their_hosts(example):
    pg = _vars(example, "ha")["services"]["postgresql"]
    assert pg["front"] is False
    assert pg["bind_addresses"] == ["198.18.1.20"] and pg["bind_port"] == 5432
    assert pg["clients"] == [{"identity": "gateway", "sources": ["198.18.1.11/32", "198.18.1.12/32"]}]


def test_single_node_services_without_flows_stay_on_loopback(example):
    v = _vars(example, "single-node")
    pg = v["services"]["postgresql"]
    assert pg["bind_addresses"] == ["127.0.0.1"]
    assert {"identity": "gateway", "sources": ["127.0.0.1/32", "::1/128"]} in pg["clients"]
    assert v["services"]["loadbalancer"]["bind_addresses"] == ["198.18.0.10"]
    assert v["services"]["loadbalancer"]["clients"] == []  # tls, not mtls: no client identities


def test_every_host_resolves_service_names_to_where_they_run(example):
    hosts = _vars(example, "ha")["etc_hosts"]
    assert hosts["gw1"]["postgresql.appliance.internal"] == "198.18.1.20"
    assert hosts["db1"]["postgresql.appliance.internal"] == "127.0.0.1"
    assert "ssh-gw1.appliance.internal" not in hosts["gw1"]


def test_each_host_names_its_firewall_and_the_firewalld_names_are_given(example):
    v = _vars(example, "ha")
    assert v["hosts"]["db1"]["firewall"] == "firewalld"  # os: rhel
    assert v["hosts"]["gw1"]["firewall"] == "nftables"
    assert v["firewall"] == {"egress": "drop", "firewalld_zone": "appliance", "firewalld_policy": "appliance-egress"}
