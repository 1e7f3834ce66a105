"""Who may connect to a service: the identities of its flows and its local clients, nothing else.

One answer for every enforcer, so they cannot disagree: the HAProxy fronts' ACLs (tlsfront.py), the
PostgreSQL role's pg_hba.conf (ansible_vars.py) and the network document (netdoc.py).
"""

from __future__ import annotations

import ipaddress

from gateway.appliance.manifest import Manifest, Service

LOOPBACK_SOURCES = ("127.0.0.1/32", "::1/128")


def sources(m: Manifest, s: Service) -> dict[str, list[str]]:
    """identity -> source prefixes it may come from (flows: the source's addresses or network;
    local clients: loopback), sorted by identity. Empty for services without mtls."""
    if s.tls.mode != "mtls":
        return {}
    out: dict[str, set[str]] = {}
    for f in m.flows:
        if f.to != s.name or f.identity is None:
            continue
        network = m.network(f.source)
        prefixes = [network.cidr] if network else [str(ipaddress.ip_network(a)) for a in m.host(f.source).addresses]
        out.setdefault(f.identity, set()).update(prefixes)
    for name in s.local_clients:
        out.setdefault(name, set()).update(LOOPBACK_SOURCES)
    return {name: sorted(prefixes) for name, prefixes in sorted(out.items())}


def identities(m: Manifest, s: Service) -> tuple[str, ...]:
    """The client certificate CNs admitted to `s`, sorted."""
    return tuple(sources(m, s))
