"""One HAProxy configuration per host, from the manifest: its TLS fronts and its load balancer.

HAProxy 2.6 (Debian 12) does both jobs (docs/adr/0005-haproxy.md):

- a **TLS front** per service whose software cannot check CRLs (tlsfront.py): client certificate of the
  site CA that no CRL lists, then TLS to the real server on loopback; tcp mode, except a gateway's front,
  in http mode so that it speaks HTTP/2 and HTTP/1.1 to its clients (HTTP/1.1 to uvicorn);
- the **load balancer** (http mode) on a host with a `loadbalancer` service: HTTPS for the users, then
  mTLS to each gateway's front with the `loadbalancer` identity, and active health checks of each
  gateway's `/health/readiness/dependencies` on that same mTLS path (client certificate, CA, CRLs):
  `fall` failed checks take a gateway out, `rise` passed checks put it back, without a reload.

Every refusal is decided after the handshake, before a byte reaches the server, so it is logged with the
client's subject and OpenSSL's verify code: a certificate that failed verification, then an identity the
manifest does not admit to that service (`Front.allowed`, admission.py). TCP fronts decide it with
`tcp-request content reject`; a gateway's front, in HTTP mode (h2 and HTTP/1.1 by ALPN), with
`tcp-request session reject`, once per connection before any HTTP is read, logged by its `error-log-format`.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.appliance import tlsfront
from gateway.appliance.files import header
from gateway.appliance.manifest import DEFAULT_MAX_REQUEST_SIZE_MB, Manifest
from gateway.appliance.tlsfront import LOOPBACK, Front, hostport

INSTALL_PATH = "/etc/haproxy/haproxy.cfg"
# The client identity the load balancer presents to the gateways' fronts (a manifest client).
BALANCER_IDENTITY = "loadbalancer"
READINESS_PATH = "/health/readiness/dependencies"
MIB = 1024 * 1024
# In the gateway's own 413 words (gateway/proxy/request_guard.py): one answer wherever the cap hits.
TOO_LARGE = ('{"error":{"message":"Request body is larger than the limit of %s MB (%s).",'
             '"type":"invalid_request_error","param":null,"code":"request_too_large"}}')
# The gateways' fronts: HTTP/2 and HTTP/1.1 to their clients; HTTP/1.1 to uvicorn (it has no h2).
FRONT_ALPN = ("h2", "http/1.1")
HTTP_FRONTS = "gateway-fronts"
# How long a gateway may take to restart while its socket (gateway.socket, systemd) holds new connections
# in the kernel's backlog: uvicorn finishes the requests in flight (at most 30 s: LiteLLM's
# GRACEFUL_SHUTDOWN_TIMEOUT and the unit's TimeoutStopSec), then the next process starts (~7 s on the site
# test, docs/moat-mode.md). Its front waits that long for a connection (handshake included) before it
# counts a failure, so that a restart takes no gateway out; a gateway whose socket is gone is refused at
# once and still out at the first refusal.
GATEWAY_RESTART_S = 45
FRONT_CHECK_INTER_S = 5
# Each gateway is also a `backup` server of this name (fail open when none passes its checks).
FALLBACK_SUFFIX = "-fallback"
# Fronts: what the handshake let through is judged here, so that a refusal is logged with its subject.
# ssl_c_verify is OpenSSL's code: 23 revoked, 26 not for client authentication, 20 or 3 another CA.
FRONT_LOG = ('"%ci:%cp -> %fi:%fp %ft %b/%s %Tw/%Tc/%Tt %B/%U %ts cert=%[ssl_c_used] verify=%[ssl_c_verify] '
             'subject=\\"%[ssl_c_s_dn(,0,rfc2253)]\\" serial=%[ssl_c_serial,hex]"')
# A gateway's front (HTTP mode): one line per request, with the client certificate of its connection. A
# connection refused by a `tcp-request session` rule never becomes a request: HAProxy logs it with the
# error-log-format, `refused` and the same certificate fields (fc_err 0: no transport error, a rule).
GATEWAY_FRONT_LOG = ('"%ci:%cp -> %fi:%fp %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %tsc cert=%[ssl_c_used] '
                     'verify=%[ssl_c_verify] subject=\\"%[ssl_c_s_dn(,0,rfc2253)]\\" serial=%[ssl_c_serial,hex] '
                     '\\"%HM %HPO %HV\\""')
GATEWAY_FRONT_ERROR_LOG = ('"%ci:%cp -> %fi:%fp %ft refused fc_err=%[fc_err] cert=%[ssl_c_used] '
                           'verify=%[ssl_c_verify] subject=\\"%[ssl_c_s_dn(,0,rfc2253)]\\" '
                           'serial=%[ssl_c_serial,hex]"')
# No query strings in the log: prompts stay out of it (a body is never logged).
BALANCER_LOG = ('"%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq '
                '\\"%HM %HPO %HV\\""')


@dataclass(frozen=True)
class Paths:
    """Where the host keeps what HAProxy reads; tests point these at a temporary directory."""

    # HAProxy's own copy of the site PKI, written by the haproxy role (root only), so that a new CRL or
    # certificate reloads it: ca-bundle.pem, crl-bundle.pem, and servers/<service>.pem and
    # clients/<identity>.pem (certificate chain and key in one file, as HAProxy reads them).
    cert_dir: str = "/etc/haproxy/certs"
    stats_socket: str = "/run/haproxy/admin.sock"
    # Servers' states (up, down) saved by the reload (the haproxy role's ExecReload) and loaded by the
    # new process: a gateway that was out stays out instead of starting up again.
    state_file: str = "/var/lib/haproxy/server-state"
    listen_address: str | None = None  # tests: listen here instead of the manifest's addresses
    system: bool = True  # chroot and the haproxy user (False: a test runs HAProxy as itself)


@dataclass(frozen=True)
class Checks:
    """Active health checks of the gateways. A failed check is re-tried after `fastinter`, so a gateway
    that stops being ready is out within interval + (fall - 1) * fastinter (2.5 s), and back as fast."""

    path: str = READINESS_PATH
    interval: str = "2s"
    fastinter: str = "500ms"
    downinter: str = "2s"
    timeout: str = "2s"  # the gateway cuts each dependency probe at 2 s (gateway/proxy/readiness.py)
    rise: int = 2
    fall: int = 2


@dataclass(frozen=True)
class Gateway:
    name: str  # the gateway service: the server's name in HAProxy's logs and stats
    address: str  # host:port of its TLS front
    server_name: str  # its front's certificate name (verified, sent as SNI)


@dataclass(frozen=True)
class Balancer:
    name: str  # the loadbalancer service
    listen: tuple[str, ...]
    server_name: str
    gateways: tuple[Gateway, ...]
    identity: str = BALANCER_IDENTITY
    # HTTP/2 and HTTP/1.1 to the users (ALPN); HAProxy speaks HTTP/1.1 to the gateways, as uvicorn has no h2.
    alpn: tuple[str, ...] = ("h2", "http/1.1")
    # Bodies declared larger are refused with a 413 here (the manifest's max_request_size_mb).
    max_body_bytes: int = int(DEFAULT_MAX_REQUEST_SIZE_MB * MIB)


def balancer(m: Manifest, host: str) -> Balancer | None:
    """The load balancer of `host`, over every gateway of the site; None if the host has none."""
    service = next((s for s in m.services if s.kind == "loadbalancer" and s.host == host), None)
    if service is None:
        return None
    gateways = tuple(
        # Its own gateways through loopback, as /etc/hosts resolves them (ansible_vars.etc_hosts).
        Gateway(s.name, hostport(LOOPBACK if s.host == host else m.host(s.host).addresses[0], s.port), m.fqdn(s.name))
        for s in m.services if s.kind == "gateway"
    )
    listen = tuple(hostport(a, service.port) for a in tlsfront.listen_addresses(m, service))
    return Balancer(service.name, listen, m.fqdn(service.name), gateways,
                    max_body_bytes=int(service.request_cap_mb * MIB))


def hosts(m: Manifest) -> list[str]:
    """Hosts that run HAProxy (a front or a load balancer), in manifest order."""
    return [h.name for h in m.hosts if m.fronted_services(h.name) or balancer(m, h.name) is not None]


def _global(paths: Paths) -> list[str]:
    system = ["    chroot /var/lib/haproxy", "    user haproxy", "    group haproxy"] if paths.system else []
    return [
        "global",
        # stdout is the journal under systemd (Debian's unit runs `haproxy -Ws`).
        "    log stdout format short local0 info",
        *system,
        f"    stats socket {paths.stats_socket} mode 660 level admin",
        f"    server-state-file {paths.state_file}",
        "    # A reload (new certificates or CRLs) lets the old process finish its sessions, at most this long:",
        "    # a session opened before a revocation ends by then.",
        "    hard-stop-after 30s",
        "    # TLS 1.2 is the floor every client here supports (psycopg, redis-py, Go, urllib3).",
        "    ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets",
        "    ssl-default-server-options ssl-min-ver TLSv1.2",
        "    ssl-server-verify required",
    ]


def _tls(paths: Paths) -> str:
    certs = paths.cert_dir.rstrip("/")
    return f"ca-file {certs}/ca-bundle.pem crl-file {certs}/crl-bundle.pem"


def _admission(allowed: tuple[str, ...] | None, layer: str = "content") -> list[str]:
    """Reject, once the handshake is done, what it only let through to log: no certificate, one that failed
    verification (revoked, wrong purpose, another CA), or an identity the front does not admit. `layer`
    "session" (HTTP mode): once per connection, before the HTTP layer reads anything ("content" rules run
    there for each request)."""
    rule = f"tcp-request {layer} reject"
    lines = [
        "    # The handshake lets every certificate through so that this refusal is logged with its subject;",
        "    # nothing reaches the server before it.",
        f"    {rule} unless {{ ssl_c_used }} {{ ssl_c_verify 0 }} {{ ssl_c_ca_err 0 }} {{ ssl_c_err 0 }}",
    ]
    if allowed is None:
        return lines
    if not allowed:
        return lines + ["    # No flow and no local client names this service: nobody is admitted.", f"    {rule}"]
    return lines + [
        "    # Only the identities of the manifest's flows to this service and its local clients (admission.py).",
        f"    acl admitted ssl_c_s_dn(CN) -m str {' '.join(allowed)}",
        f"    {rule} unless admitted",
    ]


def _bind(address: str, cert: str, paths: Paths, client_certs: bool, extra: str = "") -> str:
    tls = f" {_tls(paths)} verify optional crt-ignore-err all ca-ignore-err all" if client_certs else ""
    return f"    bind {address} ssl crt {paths.cert_dir.rstrip('/')}/servers/{cert}.pem{tls}{extra}"


def _listen(addresses: tuple[str, ...], paths: Paths) -> tuple[str, ...]:
    if paths.listen_address is None:
        return addresses
    return tuple(hostport(paths.listen_address, int(a.rpartition(":")[2])) for a in addresses)


def _front(f: Front, paths: Paths) -> list[str]:
    defaults = HTTP_FRONTS if f.http else "tls-fronts"
    alpn = f" alpn {','.join(FRONT_ALPN)}" if f.http else ""
    http = [
        *_body_cap(int(f.max_request_size_mb * MIB), "the TLS front of the gateway"),
        "    http-request set-header X-Forwarded-Proto https",
    ] if f.http else []
    return [
        f"frontend {f.name} from {defaults}",
        f"    # {f.name}: {f.why}; HAProxy checks the CRLs, {f.name} listens on {f.backend}.",
        *(_bind(a, f.name, paths, client_certs=True, extra=alpn) for a in _listen(f.listen, paths)),
        "    # While the real server refuses connections (stopped, restarting), new ones are refused before the",
        "    # handshake: a client sees a failed connection it may retry elsewhere (the load balancer does),",
        "    # not a TLS session that closes once its request was sent.",
        f"    tcp-request connection reject unless {{ nbsrv({f.name}) gt 0 }}",
        *_admission(f.allowed, "session" if f.http else "content"),
        *http,
        f"    default_backend {f.name}",
        "",
        f"backend {f.name} from {defaults}",
        *(["    # HTTP/1.1 to uvicorn (no ALPN offered: it has no HTTP/2), over TLS on loopback."] if f.http else []),
        *_front_server(f, paths),
    ]


def _front_server(f: Front, paths: Paths) -> list[str]:
    certs = paths.cert_dir.rstrip("/")
    # A check's handshake may take no longer than `inter`: checks of a gateway that restarts time out
    # until its next process accepts, so a gateway is out after that many in a row (GATEWAY_RESTART_S).
    fall = GATEWAY_RESTART_S // FRONT_CHECK_INTER_S if f.http else 1
    why = [f"    # Out at the first refused connection (or one not accepted within {GATEWAY_RESTART_S} s), or after "
           f"{fall} checks", f"    # in a row not answered within {FRONT_CHECK_INTER_S} s (a restart is not a "
           "failure); checked every second until it answers again."] if f.http else [
        "    # Out at the first refused connection, checked every second until it answers again."]
    return [
        *why,
        f"    server {f.name} {f.backend} ssl crt {certs}/clients/{f.identity}.pem {_tls(paths)} verify required "
        f"verifyhost {f.server_name} sni str({f.server_name}) check check-sni {f.server_name} "
        f"inter {FRONT_CHECK_INTER_S}s downinter 1s rise 1 fall {fall} observe layer4 error-limit 1 on-error mark-down",
    ]


def _body_cap(limit: int, where: str = "the load balancer") -> list[str]:
    body = TOO_LARGE % (f"{limit / MIB:g}", where)
    return [
        "    # The gateways' cap (the manifest's max_request_size_mb = general_settings.max_request_size_mb): a",
        "    # declared body over it never crosses to a gateway. Chunked bodies are counted by the gateway.",
        f"    http-request return status 413 content-type application/json string '{body}' "
        f"if {{ req.hdr_val(content-length) gt {limit} }}",
    ]


def _balancer(b: Balancer, paths: Paths, checks: Checks) -> list[str]:
    certs = paths.cert_dir.rstrip("/")
    alpn = f" alpn {','.join(b.alpn)}" if b.alpn else ""
    return [
        "defaults load-balancer",
        "    mode http",
        "    log global",
        "    load-server-state-from-file global",
        f"    log-format {BALANCER_LOG}",
        "    timeout connect 2s",
        "    # Streamed answers may take minutes.",
        "    timeout client 600s",
        "    timeout server 600s",
        "    timeout http-request 30s",
        "    timeout http-keep-alive 60s",
        f"    timeout check {checks.timeout}",
        "    # Only a request that no gateway received goes to another gateway: one that could not be sent",
        "    # (connection refused, handshake failed), or one a gateway's front closed without an answer (its",
        "    # gateway was gone: the front's errorfile 503). A request a gateway received is never replayed: a",
        "    # POST is not idempotent (tool calls through /mcp would repeat). Replays need the request in one",
        "    # buffer (tune.bufsize, 16 kB): a larger one whose gateway just went gets the front's empty answer",
        "    # as a 502.",
        "    retry-on conn-failure empty-response",
        "    retries 3",
        "    option redispatch 1",
        "",
        f"frontend {b.name} from load-balancer",
        *(_bind(a, b.name, paths, client_certs=False, extra=alpn) for a in _listen(b.listen, paths)),
        *_body_cap(b.max_body_bytes),
        "    http-request set-header X-Forwarded-Proto https",
        "    option forwardfor",
        f"    default_backend {b.name}-gateways",
        "",
        f"backend {b.name}-gateways from load-balancer",
        "    # Long requests (streams) count: the gateway with the fewest in flight gets the next one.",
        "    balance leastconn",
        "    option httpchk",
        f"    http-check send meth GET uri {checks.path} ver HTTP/1.1 hdr Host {b.server_name}",
        "    http-check expect status 200",
        f"    default-server ssl crt {certs}/clients/{b.identity}.pem {_tls(paths)} verify required",
        "    # Checks take the traffic's path (the gateway's front, mTLS, CRLs); a refused connection of real",
        "    # traffic counts as a failed check (observe layer4), so a dead gateway is out without waiting.",
        *(f"    server {g.name} {g.address} verifyhost {g.server_name} sni str({g.server_name}) "
          f"check check-sni {g.server_name} inter {checks.interval} fastinter {checks.fastinter} "
          f"downinter {checks.downinter} rise {checks.rise} fall {checks.fall} "
          "observe layer4 error-limit 1 on-error fail-check" for g in b.gateways),
        "    # Fail open: when no gateway passes its checks (e.g. the Redis they share is down), they all still",
        "    # get the traffic, which they may serve degraded, instead of none; a refused connection goes to",
        "    # the next one.",
        "    option allbackups",
        *(f"    server {g.name}{FALLBACK_SUFFIX} {g.address} backup verifyhost {g.server_name} sni str({g.server_name})"
          for g in b.gateways),
    ]


def _http_fronts() -> list[str]:
    """The defaults of the gateways' fronts: HTTP mode, the balancer's timeouts for streamed answers."""
    return [
        f"defaults {HTTP_FRONTS}",
        "    mode http",
        "    log global",
        "    load-server-state-from-file global",
        f"    log-format {GATEWAY_FRONT_LOG}",
        f"    error-log-format {GATEWAY_FRONT_ERROR_LOG}",
        "    # A connection to a restarting gateway waits in its socket's backlog until the next process takes it.",
        f"    timeout connect {GATEWAY_RESTART_S}s",
        "    # Streamed answers may take minutes; the balancer keeps its connections to the fronts for reuse.",
        "    timeout client 600s",
        "    timeout server 600s",
        "    timeout http-request 30s",
        "    timeout http-keep-alive 60s",
        "    # A real server on loopback that refuses a connection will not take the next try either.",
        "    retries 0",
        "    # When its gateway is gone (no server, or the connection to it refused), the request never reached it:",
        "    # the front closes without an answer instead of its own 503, which the load balancer replays on",
        "    # another gateway (retry-on empty-response). A gateway's own 503 is passed on as it is.",
        "    errorfile 503 /dev/null",
    ]


def _tcp_fronts() -> list[str]:
    """The defaults of the TCP fronts (Redis, S3, OTLP): long-lived pooled connections passed through."""
    return [
        "defaults tls-fronts",
        "    mode tcp",
        "    log global",
        "    load-server-state-from-file global",
        f"    log-format {FRONT_LOG}",
        "    timeout connect 5s",
        "    # Pooled clients (Redis, OTLP/gRPC, S3 keep-alive) hold idle connections; TCP keepalive reaps",
        "    # peers that vanished.",
        "    timeout client 24h",
        "    timeout server 24h",
        "    option clitcpka",
        "    option srvtcpka",
        "    # A real server on loopback that refuses a connection will not take the next try either: the",
        "    # client learns at once.",
        "    retries 0",
    ]


def render(fronts: list[Front], lb: Balancer | None, paths: Paths = Paths(), checks: Checks = Checks()) -> str:
    """The configuration body (no header): global, then the fronts and the load balancer."""
    out = _global(paths)
    if any(f.http for f in fronts):
        out += ["", *_http_fronts()]
    if any(not f.http for f in fronts):
        out += ["", *_tcp_fronts()]
    for f in fronts:
        out += ["", *_front(f, paths)]
    if lb is not None:
        out += ["", *_balancer(lb, paths, checks)]
    return "\n".join(out) + "\n"


def _what(fronts: list[Front], lb: Balancer | None) -> str:
    parts = ["revocation-enforcing TLS fronts"] if fronts else []
    parts += ["the load balancer (active mTLS checks of every gateway)"] if lb is not None else []
    return " and ".join(parts)


def config(m: Manifest, host: str, manifest_name: str, sha256: str, paths: Paths = Paths()) -> str:
    """The whole /etc/haproxy/haproxy.cfg of `host`."""
    fronts, lb = tlsfront.fronts(m, host), balancer(m, host)
    certs = paths.cert_dir.rstrip("/")
    kinds = {f.name: "front (http: h2, http/1.1)" if f.http else "front" for f in fronts}
    summary = [f"# {f.name} | {kinds[f.name]} | {', '.join(f.listen)} | {f.backend} | CN={f.identity} | "
               f"{', '.join(f.allowed or ()) or 'nobody'}" for f in fronts]
    if lb is not None:
        summary.append(f"# {lb.name} | load balancer | {', '.join(lb.listen)} | "
                       f"{', '.join(g.address for g in lb.gateways)} | CN={lb.identity} | "
                       "any (TLS, no client certificate)")
    return "\n".join([
        header(manifest_name, sha256, "# ").rstrip("\n"),
        f"# HAProxy (Debian 12: 2.6) of host {host}: {_what(fronts, lb)}",
        "# (docs/high-availability.md, docs/adr/0005-haproxy.md).",
        "#",
        f"# Install: {INSTALL_PATH} (the haproxy role). Reads from {certs}: ca-bundle.pem, crl-bundle.pem,",
        "# servers/<service>.pem and clients/<identity>.pem (chain and key in one file). HAProxy reads them at",
        "# (re)load only: after `gateway appliance revoke` or `renew`, rerun the playbook (it reloads HAProxy",
        "# when one changed; a reload keeps the sessions of the old process for at most hard-stop-after).",
        "#",
        "# name | what | listens on | to (TLS) | presents | admits (client certificate CN)",
        *summary,
        "",
    ]) + render(fronts, lb, paths)
