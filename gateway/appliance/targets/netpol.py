"""NetworkPolicies from the manifest's flows: deny everything, then admit exactly what the flows admit.

- ingress to the gateway pods on their port from every network or outside host that has a flow to a
  gateway or to the load balancer (the orchestrator's Service replaces both), and from the namespace
  where Prometheus scrapes /metrics (the HPA's custom metric);
- egress from the gateway pods to each service the gateways reach (a flow from a gateway host, or the
  same host: loopback on the appliance is the network here), to its host's addresses and port;
- egress from the gateway pods to each external service a gateway host has a flow to (the operator's LLM
  servers), to its addresses or networks and port;
- DNS to the cluster's resolver, without which no name in the config resolves.
"""

from __future__ import annotations

import ipaddress

from gateway.appliance.targets import facts
from gateway.appliance.targets.facts import APP, Options

DNS_PORTS = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]


def _cidr(address: str) -> str:
    """An ipBlock's CIDR: a network as it is, an address as a /32 or /128."""
    return str(ipaddress.ip_network(address))


def _policy(name: str, o: Options, spec: dict) -> dict:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": o.namespace, "labels": facts.labels()}, "spec": spec}


def policies(gw: facts.Gateway, o: Options) -> list[dict]:
    pods = {"matchLabels": facts.labels()}
    out = [_policy("default-deny", o, {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})]
    port = [{"protocol": "TCP", "port": gw.port}]
    for c in gw.callers:
        out.append(_policy(f"{APP}-from-{c.name}", o, {
            "podSelector": pods, "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"ipBlock": {"cidr": cidr}} for cidr in c.cidrs], "ports": port}]}))
    out.append(_policy(f"{APP}-from-metrics", o, {
        "podSelector": pods, "policyTypes": ["Ingress"],
        "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {
            "kubernetes.io/metadata.name": o.metrics_namespace}}}], "ports": port}]}))
    for e in gw.backing:
        out.append(_policy(f"{APP}-to-{e.name}", o, {
            "podSelector": pods, "policyTypes": ["Egress"],
            "egress": [{"to": [{"ipBlock": {"cidr": _cidr(a)}} for a in e.addresses],
                        "ports": [{"protocol": "TCP", "port": e.port}]}]}))
    for e in gw.external:
        out.append(_policy(f"{APP}-to-{e.name}", o, {
            "podSelector": pods, "policyTypes": ["Egress"],
            "egress": [{"to": [{"ipBlock": {"cidr": _cidr(a)}} for a in e.addresses],
                        "ports": [{"protocol": e.protocol.upper(), "port": e.port}]}]}))
    out.append(_policy(f"{APP}-to-dns", o, {
        "podSelector": pods, "policyTypes": ["Egress"],
        "egress": [{"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}], "ports": DNS_PORTS}]}))
    return out
