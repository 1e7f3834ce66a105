"""Who refuses a revoked client certificate, per service software; where the software cannot, a TLS front does.

Revocation is only as good as the component that reads the CRLs. PostgreSQL does (`ssl_crl_file`);
Redis 7.0, SeaweedFS's and MinIO's S3 listeners, the OpenTelemetry collector (Go configtls) and the
gateway (uvicorn) have no CRL option. Every mtls service whose software is not known to check CRLs
gets an nginx TLS front (tlsfront.py): unknown software is assumed unable, so the default is safe.
"""

from __future__ import annotations

from dataclasses import dataclass

# The real server of a fronted service listens on loopback at port + this, unless `backend_port` says.
BACKEND_PORT_OFFSET = 10000
# The front's own client certificate towards the backend: CN <service>-front, issued by `pki.ensure`.
FRONT_IDENTITY_SUFFIX = "-front"


@dataclass(frozen=True)
class Support:
    checks_crls: bool
    how: str  # the setting that checks CRLs, or why the software cannot


SOFTWARE: dict[str, Support] = {
    "postgresql": Support(True, "ssl_crl_file (crl-bundle.pem: the CRLs of both CAs)"),
    "nginx": Support(True, "ssl_crl (crl-bundle.pem)"),
    "redis": Support(False, "Redis 7.0 (Debian 12) has no tls-crl-file"),
    "seaweedfs": Support(False, "SeaweedFS has no CRL option for its S3 TLS listener"),
    "minio": Support(False, "MinIO has no CRL option for its TLS listener"),
    "otelcol": Support(False, "the collector's configtls (Go crypto/tls) has no CRL option"),
    "gateway": Support(False, "uvicorn's TLS options (ssl_ca_certs, ssl_cert_reqs) have no CRL"),
}
# The software a service kind runs when the manifest's `software` is not given.
KIND_SOFTWARE = {
    "postgresql": "postgresql",
    "redis": "redis",
    "otelcol": "otelcol",
    "gateway": "gateway",
}
_UNKNOWN = Support(False, "software not known to check CRLs (assumed unable)")


def software_of(kind: str, software: str | None) -> str | None:
    return software if software is not None else KIND_SOFTWARE.get(kind)


def support(kind: str, software: str | None) -> Support:
    name = software_of(kind, software)
    return SOFTWARE.get(name.lower(), _UNKNOWN) if name is not None else _UNKNOWN


def needs_front(kind: str, software: str | None, tls_mode: str) -> bool:
    """Only mutual TLS has client certificates to revoke."""
    return tls_mode == "mtls" and not support(kind, software).checks_crls


def front_identity(service: str) -> str:
    return service + FRONT_IDENTITY_SUFFIX
