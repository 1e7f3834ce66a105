"""The manifest as Ansible variables: `ansible-vars.yml`, loaded by ansible/site.yml.

The roles never hard-code a port, an address or a certificate name: they read this file, so the
manifest stays the one source of truth. For each service it says where the real server listens
(behind its TLS front or not), who may connect to it, and how every host resolves its name.
"""

from __future__ import annotations

import yaml

from gateway.appliance import admission, firewall, revocation, tlsfront
from gateway.appliance.files import header
from gateway.appliance.manifest import ExternalService, Manifest, Service


def bind_addresses(m: Manifest, s: Service) -> list[str]:
    """Fronted servers listen on loopback; others on the host's addresses when a flow reaches them."""
    if s.fronted:
        return [tlsfront.LOOPBACK]
    return tlsfront.listen_addresses(m, s)


def clients(m: Manifest, s: Service) -> list[dict]:
    """Who may reach the real server: its front alone, or the identities admission.py admits."""
    if s.tls.mode != "mtls":
        return []
    if s.fronted:
        return [{"identity": revocation.front_identity(s.name), "sources": ["127.0.0.1/32"]}]
    return [{"identity": name, "sources": p} for name, p in admission.sources(m, s).items()]


def _service(m: Manifest, s: Service) -> dict:
    return {
        "kind": s.kind,
        "software": revocation.software_of(s.kind, s.software),
        "host": s.host,
        "port": s.port,
        "protocol": s.protocol,
        "fqdn": m.fqdn(s.name),
        "tls": s.tls.mode,
        "front": s.fronted,
        "front_identity": revocation.front_identity(s.name) if s.fronted else None,
        "bind_addresses": bind_addresses(m, s),
        "bind_port": s.backend if s.fronted else s.port,
        "clients": clients(m, s),
        # the load balancer's body cap; the gateway role gives its gateways the same (max_request_size_mb)
        **({"max_request_size_mb": s.request_cap_mb} if s.kind == "loadbalancer" else {}),
    }


def _external(m: Manifest, x: ExternalService) -> dict:
    return {
        "kind": x.kind,
        "addresses": list(x.addresses),
        "port": x.port,
        "protocol": x.protocol,
        "tls": x.tls.mode,
        "reached_from": [f.source for f in m.flows if f.to == x.name],
    }


def etc_hosts(m: Manifest, host: str) -> dict[str, str]:
    """Service name -> address as seen from `host`: loopback for its own services, else the first address."""
    return {
        m.fqdn(s.name): tlsfront.LOOPBACK if s.host == host else m.host(s.host).addresses[0]
        for s in m.services
        if s.kind != "ssh"
    }


def variables(m: Manifest, sha256: str) -> dict:
    return {
        "appliance": {
            "site": m.site.name,
            "domain": m.site.domain,
            "manifest_sha256": sha256,
            "hosts": {
                h.name: {"addresses": list(h.addresses), "roles": list(h.roles), "os": h.os, "firewall": h.firewall}
                for h in m.hosts
            },
            # The firewall role installs firewall/<host>.* under these names (firewalld hosts only).
            "firewall": {
                "egress": m.firewall.egress,
                "firewalld_zone": firewall.ZONE,
                "firewalld_policy": firewall.EGRESS_POLICY,
            },
            "services": {s.name: _service(m, s) for s in m.services},
            "clients": {c.name: {"hosts": list(c.hosts)} for c in m.clients},
            # Endpoints outside the site (the operator's LLM servers): an operator config may take its
            # api_base from here; the firewall files already open the flows to them.
            "external_services": {x.name: _external(m, x) for x in m.external_services},
            "etc_hosts": {h.name: etc_hosts(m, h.name) for h in m.hosts},
        }
    }


def to_yaml(m: Manifest, manifest_name: str, sha256: str) -> str:
    body = yaml.safe_dump(variables(m, sha256), sort_keys=False, default_flow_style=False, width=120)
    return header(manifest_name, sha256, "# ") + "---\n" + body
