"""What every orchestrator target needs from the manifest: the gateway's port, names and replicas, the
services it reaches, who may call it, and where certificates and config sit inside the container.

A target is one gateway workload: the manifest's gateway hosts become replicas, its load balancer the
orchestrator's own, and the services the gateways reach (PostgreSQL, Redis, S3, the collector) stay
where the manifest puts them (or run beside it, in Compose).
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway import __version__
from gateway.appliance.manifest import Manifest, Service

APP = "gateway"
# Inside the container (the image's WORKDIR and HOME are /var/lib/gateway, its config /etc/gateway).
# Siblings, not nested: a volume cannot be mounted inside a read-only ConfigMap volume (no mount point
# can be made there), which `podman kube play` showed.
CONFIG_DIR = "/etc/gateway/config"
CONFIG_FILE = f"{CONFIG_DIR}/config.yaml"
SERVER_TLS_DIR = "/etc/gateway/tls"  # tls.crt (chain), tls.key, ca.crt: what the gateway serves with
CLIENT_TLS_DIR = "/etc/gateway/client-tls"  # the `gateway` client identity towards mtls services
ARTIFACT_DIR = "/var/lib/gateway/artifacts"
UID = 1000  # the image's USER 1000:1000
CLIENT_IDENTITY = "gateway"
# LiteLLM's gauge, per process (litellm/proxy/middleware/in_flight_requests_middleware.py).
IN_FLIGHT_METRIC = "litellm_in_flight_requests"
BACKING_KINDS = ("postgresql", "redis", "s3", "otelcol")


@dataclass(frozen=True)
class Options:
    """What the manifest does not say: where the image is, how many replicas, cloud specifics."""

    image: str = f"registry.example.internal/gateway:{__version__}"
    namespace: str = "ai-gateway"
    min_replicas: int = 2
    max_replicas: int = 10
    # Per pod; the HPA adds pods above these averages.
    cpu_percent: int = 70
    memory_percent: int = 80
    in_flight_per_pod: int = 8
    # EKS: an IAM role for the service account (IRSA), for Bedrock and S3 without static keys.
    irsa_role_arn: str | None = None
    # Where Prometheus runs: its namespace may scrape /metrics (the HPA's custom metric comes from it).
    metrics_namespace: str = "monitoring"
    # ECS and App Runner: the account and region in ARNs and the ECR image (the documentation account).
    aws_account_id: str = "111122223333"
    aws_region: str = "eu-west-1"
    arch: str = "X86_64"  # or ARM64: the bundle's image has both


@dataclass(frozen=True)
class Endpoint:
    """One service the gateways reach, or that is reached: name, DNS name, port, addresses of its host
    (or of an external service)."""

    name: str
    kind: str
    fqdn: str
    port: int
    addresses: tuple[str, ...]  # IPs; for an external service also networks (CIDR)
    mtls: bool
    protocol: str = "tcp"


@dataclass(frozen=True)
class Caller:
    """Who may call the gateway: a network (CIDR) or a host outside the orchestrator."""

    name: str
    cidrs: tuple[str, ...]
    purpose: str


@dataclass(frozen=True)
class Gateway:
    port: int
    replicas: int
    server_name: str
    dns_names: tuple[str, ...]
    backing: tuple[Endpoint, ...]
    callers: tuple[Caller, ...]
    external: tuple[Endpoint, ...] = ()  # outside the site; fqdn "" (the operator's config names them)


def _gateways(m: Manifest) -> list[Service]:
    return [s for s in m.services if s.kind == "gateway"]


def _cidr(address: str) -> str:
    return f"{address}/{128 if ':' in address else 32}"


def gateway(m: Manifest) -> Gateway:
    """The gateway workload the manifest describes (its first gateway service gives port and names)."""
    gws = _gateways(m)
    first = gws[0]
    gw_hosts = {s.host for s in gws}
    lb_hosts = {s.host for s in m.services if s.kind == "loadbalancer"}
    backing: dict[str, Endpoint] = {}
    for s in m.services:
        if s.kind not in BACKING_KINDS:
            continue
        # A flow from a gateway host, or the same host (loopback on the appliance, the network here).
        reached = s.host in gw_hosts or any(f.to == s.name and f.source in gw_hosts for f in m.flows)
        if reached:
            backing[s.name] = Endpoint(s.name, s.kind, m.fqdn(s.name), s.port, tuple(m.host(s.host).addresses),
                                       s.tls.mode == "mtls")
    callers = []
    for f in m.flows:
        if m.external(f.to) is not None:
            continue  # outward: see `external` below
        target = m.service(f.to)
        if target.kind not in ("gateway", "loadbalancer") or f.source in gw_hosts | lb_hosts:
            continue  # the orchestrator's load balancer replaces the balancer host
        network = m.network(f.source)
        cidrs = (network.cidr,) if network else tuple(_cidr(a) for a in m.host(f.source).addresses)
        callers.append(Caller(f.source, cidrs, f.purpose))
    names = [m.fqdn(first.name), *first.dns_names, *(n for s in m.services if s.kind == "loadbalancer"
                                                     for n in [m.fqdn(s.name)])]
    # External services a gateway host has a flow to (the operator's LLM servers): the pods' egress.
    external = {x.name: Endpoint(x.name, x.kind, "", x.port, tuple(x.addresses), False, x.protocol)
                for f in m.flows if f.source in gw_hosts and (x := m.external(f.to)) is not None}
    return Gateway(first.port, max(len(gws), 1), m.fqdn(first.name), tuple(dict.fromkeys(names)),
                   tuple(backing.values()), tuple(callers), tuple(external.values()))


def environment(m: Manifest) -> dict[str, str]:
    """The gateway's environment for the backing services the manifest names (artifact source, telemetry)."""
    gw = gateway(m)
    env: dict[str, str] = {}
    s3 = next((e for e in gw.backing if e.kind == "s3"), None)
    if s3 is not None:
        env |= {"GATEWAY_S3_ENDPOINT": f"{s3.fqdn}:{s3.port}", "GATEWAY_S3_SECURE": "true",
                "GATEWAY_S3_CA_FILE": f"{CLIENT_TLS_DIR}/ca.crt", "GATEWAY_S3_TLS_SERVER_NAME": s3.fqdn}
        if s3.mtls:
            env |= {"GATEWAY_S3_CERT_FILE": f"{CLIENT_TLS_DIR}/tls.crt",
                    "GATEWAY_S3_KEY_FILE": f"{CLIENT_TLS_DIR}/tls.key"}
    otlp = next((e for e in gw.backing if e.kind == "otelcol" and "grpc" in e.name), None)
    if otlp is not None:
        env |= {"OTEL_EXPORTER_OTLP_ENDPOINT": f"https://{otlp.fqdn}:{otlp.port}",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                "OTEL_EXPORTER_OTLP_CERTIFICATE": f"{CLIENT_TLS_DIR}/ca.crt",
                "OTEL_SERVICE_NAME": APP}
        if otlp.mtls:
            env |= {"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": f"{CLIENT_TLS_DIR}/tls.crt",
                    "OTEL_EXPORTER_OTLP_CLIENT_KEY": f"{CLIENT_TLS_DIR}/tls.key"}
    return env


def command(port: int) -> list[str]:
    """`gateway serve` over HTTPS with the mounted certificate (the image's ENTRYPOINT runs `gateway`)."""
    return ["serve", "--config", CONFIG_FILE, "--host", "0.0.0.0", "--port", str(port),
            "--ssl-certfile", f"{SERVER_TLS_DIR}/tls.crt", "--ssl-keyfile", f"{SERVER_TLS_DIR}/tls.key"]


def labels() -> dict[str, str]:
    return {"app.kubernetes.io/name": APP, "app.kubernetes.io/component": "api"}
