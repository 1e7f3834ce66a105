"""The revocation-enforcing TLS fronts of a host, from the manifest (rendered by haproxy.py).

For each mtls service whose software cannot check CRLs (revocation.py), HAProxy listens on the service's
port, requires a client certificate of the site CA that no CRL lists, and proxies over TLS to the real
server on loopback at its backend port, presenting its own identity (<service>-front). It admits only the
identities admission.py names for the service. Clients keep the service's name, port and certificates; only
the real server moves to the backend port.

A gateway's front speaks HTTP (`http`): h2 and HTTP/1.1 to its clients by ALPN, HTTP/1.1 to uvicorn (which
has no HTTP/2), with the same certificate, CRL and admission checks done once per connection after the
handshake. The other fronts pass TCP through: their protocols (Redis, S3, OTLP) gain nothing from it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from gateway.appliance import admission, revocation
from gateway.appliance.manifest import DEFAULT_MAX_REQUEST_SIZE_MB, Manifest, Service

LOOPBACK = "127.0.0.1"
SOFTWARE = "HAProxy"


@dataclass(frozen=True)
class Front:
    """One TLS front: where it listens, the real server behind it, the identities it presents and admits."""

    name: str  # the service's name
    listen: tuple[str, ...]  # host:port
    backend: str  # host:port of the real server (loopback)
    server_name: str  # the real server's certificate name (verified, and sent as SNI)
    identity: str  # the front's own client identity towards the real server (CN <service>-front)
    why: str  # why the service needs a front (its software cannot check CRLs)
    # Client certificate CNs admitted (admission.py: the manifest's flows and local clients); empty: none.
    # None: any certificate of the site CA that no CRL lists (only for test rigs built by hand).
    allowed: tuple[str, ...] | None = None
    # HTTP mode (a gateway's front): h2 and HTTP/1.1 to clients, HTTP/1.1 to the server; False: TCP passed on.
    http: bool = False
    # HTTP mode only: bodies declared larger are answered 413 here (the site's cap, as at the load balancer).
    max_request_size_mb: float = DEFAULT_MAX_REQUEST_SIZE_MB


def checked_by(s: Service) -> str:
    """Which component refuses a revoked client certificate of this service (port map, network document)."""
    if s.tls.mode != "mtls":
        return "-"
    if s.fronted:
        return f"{SOFTWARE} TLS front (backend {hostport(LOOPBACK, s.backend)})"
    return f"{revocation.software_of(s.kind, s.software)} itself"


def hosts(m: Manifest) -> list[str]:
    """Hosts that run a front, in manifest order."""
    return [h.name for h in m.hosts if m.fronted_services(h.name)]


def listen_addresses(m: Manifest, s: Service) -> list[str]:
    """The host's addresses when flows reach the service; loopback otherwise (as the audit expects)."""
    if any(f.to == s.name for f in m.flows):
        return list(m.host(s.host).addresses)
    return [LOOPBACK]


def hostport(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ipaddress.ip_address(address).version == 6 else f"{address}:{port}"


def request_cap_mb(m: Manifest) -> float:
    """The site's body cap: its load balancers' (the smallest if they differ), else the gateway's default."""
    caps = [s.request_cap_mb for s in m.services if s.kind == "loadbalancer"]
    return min(caps, default=DEFAULT_MAX_REQUEST_SIZE_MB)


def fronts(m: Manifest, host: str) -> list[Front]:
    """The fronts of `host`, in manifest order."""
    return [
        Front(
            name=s.name,
            listen=tuple(hostport(a, s.port) for a in listen_addresses(m, s)),
            backend=hostport(LOOPBACK, s.backend),
            server_name=m.fqdn(s.name),
            identity=revocation.front_identity(s.name),
            why=revocation.support(s.kind, s.software).how,
            allowed=admission.identities(m, s),
            http=s.kind == "gateway",
            max_request_size_mb=request_cap_mb(m),
        )
        for s in m.fronted_services(host)
    ]
