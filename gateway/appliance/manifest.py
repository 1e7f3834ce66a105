"""The appliance manifest (appliance.yaml): the single source of the CA, firewall, port map and documents.

Every other module reads a `Manifest`, never the YAML, so one validation pass guards them all.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, model_validator

from gateway.appliance import revocation
from gateway.appliance.errors import ManifestError

API_VERSION = "gateway.appliance/v1"
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_DNS = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)


def _name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError(f"{value!r} is not a name (a-z, 0-9 and '-', starting with a letter, at most 63)")
    return value


def _port(value: int) -> int:
    if not 1 <= value <= 65535:
        raise ValueError(f"{value} is not a port")
    return value


def _address(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address") from None


def _network(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value))
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a network ({exc})") from None


def _address_or_network(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    try:
        return str(ipaddress.ip_network(value))
    except ValueError as exc:
        raise ValueError(f"{value!r} is neither an IP address nor a network ({exc})") from None


def _dns(value: str) -> str:
    if not _DNS.match(value):
        raise ValueError(f"{value!r} is not a lower-case DNS name")
    return value


Name = Annotated[str, AfterValidator(_name)]
Port = Annotated[int, AfterValidator(_port)]
Address = Annotated[str, AfterValidator(_address)]
NetworkCidr = Annotated[str, AfterValidator(_network)]
AddressOrCidr = Annotated[str, AfterValidator(_address_or_network)]
DnsName = Annotated[str, AfterValidator(_dns)]
Role = Literal["gateway", "postgresql", "redis", "s3", "otelcol", "loadbalancer", "trainer"]
# `trainer` runs no service: it is a client (_check_trainers), like the `trainer` identity it holds.
ServiceKind = Literal["gateway", "postgresql", "redis", "s3", "otelcol", "loadbalancer", "ssh", "other"]
# Kinds that are not host roles: every host may run them.
_ROLELESS_KINDS = {"ssh", "other"}
# The gateway's default request body cap (gateway.config.loader.DEFAULT_MAX_REQUEST_SIZE_MB), in MiB.
DEFAULT_MAX_REQUEST_SIZE_MB = 10.0


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Site(_Model):
    """Names the site; `domain` suffixes every host and service DNS name in certificates."""

    name: Name
    domain: DnsName = Field(description="DNS suffix: host h gets h.<domain>, service s gets s.<domain>.")
    description: str = ""


class CaSettings(_Model):
    """Lifetimes are short for leaves and long for the offline root, so losing a leaf key costs little."""

    organization: str = Field("Air-gapped AI gateway", min_length=1, description="O= of every subject.")
    key_type: Literal["ecdsa-p256", "ecdsa-p384", "rsa-3072", "rsa-4096"] = "ecdsa-p256"
    root_validity_days: PositiveInt = Field(7305, description="Root CA; kept offline, so long (20 years).")
    intermediate_validity_days: PositiveInt = Field(1826, description="Issuing CA (5 years).")
    leaf_validity_days: PositiveInt = Field(365, description="Server and client certificates.")
    crl_validity_days: PositiveInt = Field(90, description="nextUpdate of each CRL; renew re-signs it.")
    renew_before_days: PositiveInt = Field(30, description="renew re-issues what expires within this.")

    @model_validator(mode="after")
    def _lifetimes_nest(self) -> CaSettings:
        if self.intermediate_validity_days > self.root_validity_days:
            raise ValueError("intermediate_validity_days must not exceed root_validity_days")
        if self.leaf_validity_days > self.intermediate_validity_days:
            raise ValueError("leaf_validity_days must not exceed intermediate_validity_days")
        if self.renew_before_days >= min(self.leaf_validity_days, self.crl_validity_days):
            raise ValueError(
                "renew_before_days must be shorter than leaf_validity_days and crl_validity_days"
            )
        return self


class FirewallSettings(_Model):
    """Egress defaults to drop: in an air-gapped site outbound traffic is also an exception to approve."""

    egress: Literal["drop", "accept"] = "drop"


class Network(_Model):
    """A network outside the appliance that flows may come from (operators, users)."""

    name: Name
    cidr: NetworkCidr
    description: str = ""


# The firewall each OS runs unless the host says otherwise (RHEL ships firewalld, Debian nftables).
FIREWALL_BY_OS = {"debian": "nftables", "rhel": "firewalld"}


class Host(_Model):
    name: Name
    addresses: list[Address] = Field(min_length=1)
    roles: list[Role] = Field(default_factory=list)
    os: Literal["debian", "rhel"] = Field("debian", description="Also decides the default `firewall`.")
    firewall: Literal["nftables", "firewalld"] | None = Field(
        None,
        description="What enforces the flows on this host: nftables (the generated nft file, loaded by "
        "nftables.service) or firewalld (a generated zone and, with egress drop, an egress policy). "
        "Default: nftables for os debian, firewalld for os rhel. Every host also gets the nft file.",
    )
    dns_names: list[DnsName] = Field(default_factory=list, description="Extra DNS names (SANs).")
    description: str = ""

    @model_validator(mode="before")
    @classmethod
    def _firewall_from_os(cls, data):
        # Resolved here so that every generator reads one value; an unknown os is reported by its own field.
        if isinstance(data, dict) and data.get("firewall") is None:
            return {**data, "firewall": FIREWALL_BY_OS.get(data.get("os", "debian"))}
        return data


class Tls(_Model):
    """How a service protects its port; `none` must say why, so the exception is on record."""

    mode: Literal["mtls", "tls", "none"]
    reason: str | None = None

    @model_validator(mode="after")
    def _none_needs_reason(self) -> Tls:
        if self.mode == "none" and not (self.reason or "").strip():
            raise ValueError("mode 'none' needs a reason")
        return self


class ExternalTls(Tls):
    """`tls` or `none` with a reason; never mtls: the site CA issues no certificate to the other side."""

    mode: Literal["tls", "none"]


class ExternalService(_Model):
    """An endpoint outside the appliance that its hosts may open connections to, such as the operator's
    self-hosted LLM (vLLM, TGI, any OpenAI-compatible server). Only a flow from a host to it opens the
    egress; it runs nothing of ours, so it has no host, no certificate from the site CA and no role."""

    name: Name = Field(description="Unique among services and external services; flows name it in `to`.")
    kind: Literal["llm", "other"] = Field(description="llm: a model endpoint the gateways route to.")
    addresses: list[AddressOrCidr] = Field(
        min_length=1,
        description="IP addresses, or networks (CIDR) for a pool of servers behind one port; none may "
        "hold a host of the appliance.",
    )
    port: Port
    protocol: Literal["tcp", "udp"] = "tcp"
    tls: ExternalTls
    description: str = ""


class Service(_Model):
    name: Name = Field(description="Unique; the server certificate's CN is <name>.<domain>.")
    kind: ServiceKind
    host: Name
    port: Port
    protocol: Literal["tcp", "udp"] = "tcp"
    tls: Tls
    software: str | None = Field(
        None,
        description="Implementation, e.g. seaweedfs or minio for s3; decides whether a TLS front checks "
        "CRLs for it (gateway/appliance/revocation.py).",
    )
    backend_port: Port | None = Field(
        None,
        description="Only for mtls services whose software cannot check CRLs: the loopback port of the real "
        f"server behind the nginx TLS front that listens on `port`. Default: port + {revocation.BACKEND_PORT_OFFSET}.",
    )
    dns_names: list[DnsName] = Field(default_factory=list, description="Extra DNS names (SANs).")
    local_clients: list[Name] = Field(
        default_factory=list,
        description="Client identities that connect from the service's own host (loopback: no flow, no firewall "
        "rule). With the identities of the flows to the service, exactly these are admitted (gateway/appliance/"
        "admission.py); mtls services only.",
    )
    max_request_size_mb: PositiveFloat | None = Field(
        None,
        description="Only for the loadbalancer: request bodies larger than this many MiB are refused with a 413 "
        f"before they reach a gateway. Default {DEFAULT_MAX_REQUEST_SIZE_MB:g}, the gateway's own cap "
        "(general_settings.max_request_size_mb): give both the same value.",
    )
    description: str = ""

    @property
    def request_cap_mb(self) -> float:
        """The body cap of a load balancer, in MiB (the manifest's or the gateway's default)."""
        return self.max_request_size_mb if self.max_request_size_mb is not None else DEFAULT_MAX_REQUEST_SIZE_MB

    @property
    def fronted(self) -> bool:
        """True when an nginx TLS front enforces revocation for it (its software cannot check CRLs)."""
        return revocation.needs_front(self.kind, self.software, self.tls.mode)

    @property
    def backend(self) -> int | None:
        """The real server's loopback port behind the front; None when the service has no front."""
        if not self.fronted:
            return None
        return self.backend_port if self.backend_port is not None else self.port + revocation.BACKEND_PORT_OFFSET


class Client(_Model):
    """A client identity: one client certificate with CN=<name> (for PostgreSQL also the role name)."""

    name: Name
    hosts: list[Name] = Field(min_length=1, description="Hosts that hold this identity's key.")
    description: str = ""


class Flow(_Model):
    """One permitted connection: it becomes one firewall rule, one port-map row and one diagram edge."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    source: Name = Field(alias="from", description="A host or a network name.")
    to: Name = Field(
        description="A service name, or an external service name (then `from` must be a host and no identity)."
    )
    port: Port | None = Field(None, description="Defaults to the service's port; if given it must match.")
    identity: Name | None = Field(None, description="Client identity; required for mtls services.")
    purpose: str = Field(min_length=1)
    approver: str = Field(min_length=1)
    controls: list[str] = Field(default_factory=list, description="Controls beyond those derived.")


class Manifest(_Model):
    api_version: Literal["gateway.appliance/v1"] = Field(alias="apiVersion")
    site: Site
    ca: CaSettings = Field(default_factory=CaSettings)
    firewall: FirewallSettings = Field(default_factory=FirewallSettings)
    admin_networks: list[Network] = Field(default_factory=list)
    user_networks: list[Network] = Field(default_factory=list)
    hosts: list[Host] = Field(min_length=1)
    services: list[Service] = Field(min_length=1)
    external_services: list[ExternalService] = Field(
        default_factory=list,
        description="Endpoints outside the appliance (the operator's LLM servers) that flows from hosts may "
        "reach; with egress drop nothing else leaves a host.",
    )
    clients: list[Client] = Field(default_factory=list)
    flows: list[Flow] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references_hold(self) -> Manifest:
        problems = check_references(self)
        if problems:
            raise ReferenceProblems(problems)
        return self

    # Lookups used by every generator.
    def host(self, name: str) -> Host:
        return next(h for h in self.hosts if h.name == name)

    def service(self, name: str) -> Service:
        return next(s for s in self.services if s.name == name)

    def network(self, name: str) -> Network | None:
        return next((n for n in self.admin_networks + self.user_networks if n.name == name), None)

    def external(self, name: str) -> ExternalService | None:
        """The external service of that name; None for a service of the appliance."""
        return next((x for x in self.external_services if x.name == name), None)

    def destination(self, name: str) -> Service | ExternalService:
        """What a flow's `to` names: a service of the appliance or an external service."""
        return self.external(name) or self.service(name)

    def flow_port(self, flow: Flow) -> int:
        return flow.port if flow.port is not None else self.destination(flow.to).port

    def fqdn(self, name: str) -> str:
        return f"{name}.{self.site.domain}"

    def fronted_services(self, host: str | None = None) -> list[Service]:
        """Services behind an nginx TLS front (on `host`, or on every host), in manifest order."""
        return [s for s in self.services if s.fronted and (host is None or s.host == host)]


class ReferenceProblems(ManifestError):
    """Cross-reference errors found after every field parsed; each carries its location."""

    def __init__(self, problems: list[tuple[tuple, str]]):
        self.located = problems
        super().__init__("<manifest>", [f"{format_loc(loc)}: {msg}" for loc, msg in problems])


def format_loc(loc: tuple) -> str:
    """('services', 3, 'port') -> services[3].port"""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _duplicates(items: list, field: str, key) -> list[tuple[tuple, str]]:
    seen: dict = {}
    problems = []
    for i, item in enumerate(items):
        k = key(item)
        if k in seen:
            problems.append(((field, i), f"{k!r} is already defined at {field}[{seen[k]}]"))
        else:
            seen[k] = i
    return problems


def check_references(m: Manifest) -> list[tuple[tuple, str]]:
    """Checks what a single field cannot: names resolve, nothing is defined twice, mtls has identities."""
    p: list[tuple[tuple, str]] = []
    p += _duplicates(m.hosts, "hosts", lambda h: h.name)
    p += _duplicates(m.services, "services", lambda s: s.name)
    p += _duplicates(m.services, "services", lambda s: (s.host, s.port, s.protocol))
    p += _duplicates(m.clients, "clients", lambda c: c.name)
    p += _check_externals(m)
    p += _duplicates(m.admin_networks + m.user_networks, "networks", lambda n: n.name)
    p += _duplicates(m.flows, "flows", lambda f: (f.source, f.to))
    hosts = {h.name: h for h in m.hosts}
    networks = {n.name for n in m.admin_networks + m.user_networks}
    for i, h in enumerate(m.hosts):
        if h.name in networks:
            p.append(
                (("hosts", i, "name"), f"{h.name!r} is also a network name; flows could not tell them apart")
            )
    owner: dict[str, str] = {}
    for i, h in enumerate(m.hosts):
        for j, a in enumerate(h.addresses):
            if a in owner and owner[a] != h.name:
                p.append((("hosts", i, "addresses", j), f"{a} is already an address of host {owner[a]!r}"))
            owner.setdefault(a, h.name)
    services = {s.name: s for s in m.services}
    for i, s in enumerate(m.services):
        if s.host not in hosts:
            p.append(
                (("services", i, "host"), f"unknown host {s.host!r} (hosts: {', '.join(sorted(hosts))})")
            )
        elif s.kind not in _ROLELESS_KINDS and s.kind not in hosts[s.host].roles:
            p.append((("services", i, "kind"), f"host {s.host!r} does not have the role {s.kind!r}"))
    clients = {c.name: c for c in m.clients}
    for i, c in enumerate(m.clients):
        for j, h in enumerate(c.hosts):
            if h not in hosts:
                p.append((("clients", i, "hosts", j), f"unknown host {h!r}"))
    p += _check_fronts(m)
    p += _check_local_clients(m, clients)
    p += _check_trainers(m, clients)
    externals = {x.name: x for x in m.external_services}
    for i, f in enumerate(m.flows):
        if f.to in externals and f.to not in services:
            p += _check_external_flow(i, f, externals[f.to], hosts, networks)
        else:
            p += _check_flow(i, f, hosts, networks, services, clients)
    return p


def _check_externals(m: Manifest) -> list[tuple[tuple, str]]:
    """External names are unique beside the services' (a flow's `to` names either), and no external
    address may hold a host of the appliance: that traffic is a service's, with its own flow."""
    p = _duplicates(m.external_services, "external_services", lambda x: x.name)
    services = {s.name: i for i, s in enumerate(m.services)}
    for i, x in enumerate(m.external_services):
        if x.name in services:
            p.append((("external_services", i, "name"),
                      f"{x.name!r} is already a service (services[{services[x.name]}]): a flow's `to` could not "
                      "tell them apart"))
        for j, a in enumerate(x.addresses):
            net = ipaddress.ip_network(a)
            inside = [(h.name, addr) for h in m.hosts for addr in h.addresses if ipaddress.ip_address(addr) in net]
            if inside:
                name, addr = inside[0]
                p.append((("external_services", i, "addresses", j),
                          f"{a} holds {addr}, an address of host {name!r}: name the host's service instead"))
    return p


def _check_external_flow(i, f: Flow, x: ExternalService, hosts, networks) -> list[tuple[tuple, str]]:
    """Only a host of the appliance opens a connection outward; the other side holds no site identity."""
    p: list[tuple[tuple, str]] = []
    if f.source in networks:
        p.append((("flows", i, "from"), f"{f.source!r} is a network: only a host may have a flow to the "
                                        f"external service {x.name!r} (its firewall opens the egress)"))
    elif f.source not in hosts:
        p.append((("flows", i, "from"), f"{f.source!r} is not a host"))
    if f.port is not None and f.port != x.port:
        p.append((("flows", i, "port"), f"{f.port} is not the port of external service {x.name!r} ({x.port})"))
    if f.identity is not None:
        p.append((("flows", i, "identity"), f"external service {x.name!r} holds no certificate of the site CA: "
                                            "no identity"))
    return p


def _check_flow(i, f: Flow, hosts, networks, services, clients) -> list[tuple[tuple, str]]:
    p: list[tuple[tuple, str]] = []
    if f.source not in hosts and f.source not in networks:
        p.append((("flows", i, "from"), f"{f.source!r} is neither a host nor a network"))
    s = services.get(f.to)
    if s is None:
        p.append((("flows", i, "to"), f"unknown service or external service {f.to!r}"))
        return p
    if f.port is not None and f.port != s.port:
        p.append((("flows", i, "port"), f"{f.port} is not the port of service {s.name!r} ({s.port})"))
    if f.source == s.host:
        p.append(
            (("flows", i, "from"), f"{f.source!r} is the service's own host; local traffic needs no flow")
        )
    if s.tls.mode == "mtls":
        if f.identity is None:
            p.append((("flows", i, "identity"), f"service {s.name!r} requires mtls: name a client identity"))
        elif f.identity not in clients:
            p.append((("flows", i, "identity"), f"unknown client identity {f.identity!r}"))
        elif f.source not in clients[f.identity].hosts:
            p.append((("flows", i, "identity"), f"identity {f.identity!r} is not held by {f.source!r}"))
    elif f.identity is not None:
        p.append((("flows", i, "identity"), f"service {s.name!r} is {s.tls.mode!r}, not mtls: no identity"))
    return p


def _check_fronts(m: Manifest) -> list[tuple[tuple, str]]:
    """A front's backend port must exist, be free on its host, and its identity must not shadow a client."""
    p: list[tuple[tuple, str]] = []
    taken = {(s.host, s.protocol, s.port): f"service {s.name!r}" for s in m.services}
    clients = {c.name for c in m.clients}
    for i, s in enumerate(m.services):
        if not s.fronted:
            if s.backend_port is not None:
                why = "it is not mtls" if s.tls.mode != "mtls" else "its software checks CRLs itself"
                p.append(
                    (("services", i, "backend_port"), f"service {s.name!r} has no TLS front ({why}): remove it")
                )
            continue
        if s.protocol != "tcp":
            p.append((("services", i, "protocol"), f"service {s.name!r}: mtls needs tcp (nginx cannot front udp)"))
            continue
        backend = s.port + revocation.BACKEND_PORT_OFFSET if s.backend_port is None else s.backend_port
        where = ("services", i, "backend_port" if s.backend_port is not None else "port")
        if backend > 65535:
            p.append(
                (where, f"port {s.port} + {revocation.BACKEND_PORT_OFFSET} is not a port: set backend_port "
                 f"(the loopback port of {s.name!r} behind its TLS front)")
            )
            continue
        key = (s.host, s.protocol, backend)
        if key in taken:
            p.append(
                (where, f"backend port {backend} of {s.name!r} is already used on host {s.host!r} by "
                 f"{taken[key]}: set another backend_port")
            )
        else:
            taken[key] = f"the backend of {s.name}"
        identity = revocation.front_identity(s.name)
        if identity in clients:
            j = next(j for j, c in enumerate(m.clients) if c.name == identity)
            p.append(
                (("clients", j, "name"), f"{identity!r} is the TLS front identity of service {s.name!r}: rename it")
            )
    return p


def _check_local_clients(m: Manifest, clients: dict[str, Client]) -> list[tuple[tuple, str]]:
    """A local client must be a known identity held on the service's host, and only mtls has identities."""
    p: list[tuple[tuple, str]] = []
    for i, s in enumerate(m.services):
        for j, name in enumerate(s.local_clients):
            where = ("services", i, "local_clients", j)
            if s.tls.mode != "mtls":
                p.append((where, f"service {s.name!r} is {s.tls.mode!r}, not mtls: no client identities"))
            elif name not in clients:
                p.append((where, f"unknown client identity {name!r} (clients: {', '.join(sorted(clients)) or 'none'})"))
            elif s.host not in clients[name].hosts:
                p.append((where, f"identity {name!r} is not held by {s.host!r}, the host of service {s.name!r}"))
        if s.max_request_size_mb is not None and s.kind != "loadbalancer":
            p.append((("services", i, "max_request_size_mb"),
                      f"service {s.name!r} is {s.kind!r}: only a loadbalancer has a request body cap here "
                      "(a gateway's is general_settings.max_request_size_mb in its config)"))
    return p


def _check_trainers(m: Manifest, clients: dict[str, Client]) -> list[tuple[tuple, str]]:
    """A trainer host reads the collector's trace files from its own disk and publishes to S3 as the
    `trainer` identity: it needs the otelcol role, that identity, and S3 admitting it (a local client
    on the S3 host, else a flow from the trainer host with identity trainer)."""
    p: list[tuple[tuple, str]] = []
    s3 = next((s for s in m.services if s.kind == "s3"), None)
    for i, h in enumerate(m.hosts):
        if "trainer" not in h.roles:
            continue
        where = ("hosts", i, "roles")
        if "otelcol" not in h.roles:
            p.append((where, f"host {h.name!r} has the role 'trainer' but not 'otelcol': the trainer reads the "
                             "collector's trace files from its own disk"))
        if "trainer" not in clients or h.name not in clients["trainer"].hosts:
            p.append((where, f"host {h.name!r} has the role 'trainer': add a client 'trainer' held by it "
                             "(its certificate publishes to S3)"))
        if s3 is None:
            p.append((where, f"host {h.name!r} has the role 'trainer' but the site has no s3 service to publish to"))
        elif s3.host == h.name and "trainer" not in s3.local_clients:
            p.append((where, f"host {h.name!r} has the role 'trainer': add 'trainer' to local_clients of "
                             f"service {s3.name!r} on the same host"))
        elif s3.host != h.name and not any(f.source == h.name and f.to == s3.name and f.identity == "trainer"
                                           for f in m.flows):
            p.append((where, f"host {h.name!r} has the role 'trainer': add a flow from {h.name!r} to "
                             f"{s3.name!r} with identity 'trainer'"))
    return p
