"""The revocation-enforcing TLS front: one nginx `stream {}` file per host, from the manifest.

For each mtls service whose software cannot check CRLs (revocation.py), nginx listens on the service's
port, requires a client certificate of the site CA that no CRL lists, and proxies over TLS to the real
server on loopback at its backend port, presenting its own identity (<service>-front). Clients keep the
service's name, port and certificates; only the real server moves to the backend port.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from gateway.appliance import revocation
from gateway.appliance.files import header
from gateway.appliance.manifest import Manifest, Service

LOOPBACK = "127.0.0.1"
INSTALL_PATH = "/etc/nginx/appliance-tls-front.conf"
LOG_FORMAT = "appliance_tls_front"
# TLS 1.2 is the floor every client here supports (psycopg, redis-py, Go, urllib3); 1.0/1.1 are broken.
PROTOCOLS = "TLSv1.2 TLSv1.3"
# Pooled clients (Redis, OTLP/gRPC, S3 keep-alive) hold idle connections; nginx's default 10 min would
# cut them. TCP keepalive still reaps peers that vanished.
PROXY_TIMEOUT = "24h"


@dataclass(frozen=True)
class Paths:
    """Where the host keeps what the front reads; tests point these at a temporary directory."""

    pki_dir: str = "/etc/gateway/pki"  # the layout of certs/out/<site>/pki
    access_log: str = "/var/log/nginx/appliance-tls-front.log"
    listen_address: str | None = None  # tests: listen here instead of the manifest's addresses


def checked_by(s: Service) -> str:
    """Which component refuses a revoked client certificate of this service (port map, network document)."""
    if s.tls.mode != "mtls":
        return "-"
    if s.fronted:
        return f"nginx TLS front (backend {_hostport(LOOPBACK, s.backend)})"
    return f"{revocation.software_of(s.kind, s.software)} itself"


def hosts(m: Manifest) -> list[str]:
    """Hosts that run a front, in manifest order."""
    return [h.name for h in m.hosts if m.fronted_services(h.name)]


def listen_addresses(m: Manifest, s: Service) -> list[str]:
    """The host's addresses when flows reach the service; loopback otherwise (as the audit expects)."""
    if any(f.to == s.name for f in m.flows):
        return list(m.host(s.host).addresses)
    return [LOOPBACK]


def _hostport(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ipaddress.ip_address(address).version == 6 else f"{address}:{port}"


def _server(m: Manifest, s: Service, paths: Paths) -> list[str]:
    pki = paths.pki_dir.rstrip("/")
    front = revocation.front_identity(s.name)
    addresses = [paths.listen_address] if paths.listen_address else listen_addresses(m, s)
    why = revocation.support(s.kind, s.software).how
    return [
        f"    # {s.name}: {why}; nginx checks the CRLs, {s.name} listens on {LOOPBACK}:{s.backend}.",
        "    server {",
        *(f"        listen {_hostport(a, s.port)} ssl so_keepalive=on;" for a in addresses),
        f"        ssl_certificate {pki}/servers/{s.name}.chain.pem;",
        f"        ssl_certificate_key {pki}/servers/{s.name}.key;",
        f"        ssl_protocols {PROTOCOLS};",
        "        ssl_verify_client on;",
        f"        ssl_client_certificate {pki}/ca-bundle.pem;",
        "        # Root and issuing CA CRLs: OpenSSL then checks every certificate of the chain.",
        f"        ssl_crl {pki}/crl-bundle.pem;",
        "        ssl_verify_depth 2;",
        f"        access_log {paths.access_log} {LOG_FORMAT};",
        "",
        f"        proxy_pass {_hostport(LOOPBACK, s.backend)};",
        f"        proxy_timeout {PROXY_TIMEOUT};",
        "        proxy_socket_keepalive on;",
        "        proxy_ssl on;",
        f"        proxy_ssl_protocols {PROTOCOLS};",
        f"        proxy_ssl_certificate {pki}/clients/{front}.chain.pem;",
        f"        proxy_ssl_certificate_key {pki}/clients/{front}.key;",
        "        proxy_ssl_verify on;",
        f"        proxy_ssl_trusted_certificate {pki}/ca-bundle.pem;",
        f"        proxy_ssl_crl {pki}/crl-bundle.pem;",
        "        proxy_ssl_verify_depth 2;",
        f"        proxy_ssl_name {m.fqdn(s.name)};",
        "    }",
    ]


def nginx_stream(m: Manifest, host: str, manifest_name: str, sha256: str, paths: Paths = Paths()) -> str:
    """The `stream {}` block for `host`; include it at the top level of nginx.conf (not inside http {})."""
    services = m.fronted_services(host)
    pki = paths.pki_dir.rstrip("/")
    out = [
        header(manifest_name, sha256, "# ").rstrip("\n"),
        f"# Revocation-enforcing TLS front of host {host}: nginx refuses client certificates that are",
        "# missing, not clientAuth, not from the site CA, or listed in a CRL, for services whose own software",
        "# cannot check CRLs; it proxies over TLS to the real server on loopback.",
        "#",
        f"# Install (Debian: nginx, libnginx-mod-stream): copy to {INSTALL_PATH} and add",
        f"#   include {INSTALL_PATH};",
        "# at the top level of /etc/nginx/nginx.conf (outside http {}), with `worker_shutdown_timeout 30s;`",
        "# so a reload also ends sessions opened before a revocation.",
        f"# Reads from {pki}: ca-bundle.pem, crl-bundle.pem, servers/<service>.{{chain.pem,key}},",
        "# clients/<service>-front.{chain.pem,key}. nginx reads CRLs only at (re)load: after `gateway appliance",
        "# revoke` or `renew`, deploy crl-bundle.pem and run `systemctl reload nginx`.",
        "#",
        "# service | listens on | real server (loopback, TLS) | front identity",
        *(
            f"# {s.name} | {', '.join(_hostport(a, s.port) for a in listen_addresses(m, s))} | "
            f"{_hostport(LOOPBACK, s.backend)} | CN={revocation.front_identity(s.name)}"
            for s in services
        ),
        "",
        "stream {",
        f"    log_format {LOG_FORMAT} '$remote_addr:$remote_port -> $server_addr:$server_port status=$status '",
        "        'verify=$ssl_client_verify subject=\"$ssl_client_s_dn\" serial=$ssl_client_serial '",
        "        'upstream=$upstream_addr sent=$bytes_sent received=$bytes_received time=$session_time';",
    ]
    for s in services:
        out += ["", *_server(m, s, paths)]
    out.append("}")
    return "\n".join(out) + "\n"
