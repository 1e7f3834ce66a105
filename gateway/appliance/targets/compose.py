"""Compose: the gateway and the services it reaches (PostgreSQL, Redis, the S3 store, the collector),
each with its certificate from the site PKI and the manifest's DNS name as a network alias, so the
gateway's config and environment are those of the appliance unchanged.

Images other than the gateway's are the site's own (built or mirrored into its registry): Options names
them. The certificates are files under ./site (docs/orchestrators.md lists which); none is generated here.
"""

from __future__ import annotations

from gateway.appliance.loader import Loaded
from gateway.appliance.targets import facts
from gateway.appliance.targets.facts import APP, Options
from gateway.appliance.targets.render import yaml_documents

NETWORK = "appliance"
TLS = "/run/tls"  # inside a backing service: server.crt (chain), server.key, ca.crt

# What each backing kind runs with mTLS, the site CA and its own port; `{port}` is the manifest's.
BACKING = {
    "redis": ("redis:7", ["redis-server", "--port", "0", "--tls-port", "{port}", "--tls-cert-file",
                          f"{TLS}/server.crt", "--tls-key-file", f"{TLS}/server.key", "--tls-ca-cert-file",
                          f"{TLS}/ca.crt", "--tls-auth-clients", "yes"]),
    "postgresql": ("postgres:15", ["postgres", "-p", "{port}", "-c", "ssl=on",
                                   "-c", f"ssl_cert_file={TLS}/server.crt", "-c", f"ssl_key_file={TLS}/server.key",
                                   "-c", f"ssl_ca_file={TLS}/ca.crt", "-c", "hba_file=/run/config/pg_hba.conf"]),
    "s3": ("seaweedfs:4.48", ["weed", "server", "-s3", "-s3.port={port}", "-s3.cert.file",
                              f"{TLS}/server.crt", "-s3.key.file", f"{TLS}/server.key", "-s3.cacert.file",
                              f"{TLS}/ca.crt", "-s3.tlsVerifyClientCert=true", "-master.telemetry=false"]),
    "otelcol": ("otelcol-contrib:0.115.0", ["--config", "/run/config/otelcol.yaml"]),
}


def _healthcheck(port: int) -> dict:
    probe = ("import ssl, urllib.request as u; c = ssl.create_default_context(cafile='"
             f"{facts.SERVER_TLS_DIR}/ca.crt'); c.check_hostname = False; "
             f"u.urlopen('https://127.0.0.1:{port}/health/liveliness', timeout=4, context=c)")
    return {"test": ["CMD", "python3", "-c", probe], "interval": "30s", "timeout": "5s", "retries": 3,
            "start_period": "90s"}


def _gateway(m, gw: facts.Gateway, o: Options) -> dict:
    depends = {e.name: {"condition": "service_started"} for e in gw.backing}
    return {
        "image": o.image,
        "command": facts.command(gw.port),
        "user": f"{facts.UID}:{facts.UID}",
        "read_only": True,
        "tmpfs": ["/tmp", "/var/lib/gateway"],
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
        "environment": facts.environment(m),
        "volumes": [f"./site/config.yaml:{facts.CONFIG_FILE}:ro", f"./site/tls:{facts.SERVER_TLS_DIR}:ro",
                    f"./site/client-tls:{facts.CLIENT_TLS_DIR}:ro"],
        # The users reach the gateway where the manifest's load balancer listened.
        "ports": [f"{_published(m)}:{gw.port}"],
        "healthcheck": _healthcheck(gw.port),
        "restart": "unless-stopped",
        "stop_grace_period": "60s",
        **({"depends_on": depends} if depends else {}),
        "networks": {NETWORK: {"aliases": list(gw.dns_names)}},
    }


def _published(m) -> int:
    lb = next((s for s in m.services if s.kind == "loadbalancer"), None)
    return lb.port if lb is not None else facts.gateway(m).port


def _backing(e: facts.Endpoint, o: Options) -> dict:
    image, cmd = BACKING[e.kind]
    registry = o.image.rsplit("/", 1)[0]
    return {
        "image": f"{registry}/{image}",
        "command": [part.replace("{port}", str(e.port)) for part in cmd],
        "volumes": [f"./site/servers/{e.name}:{TLS}:ro", f"./site/config/{e.name}:/run/config:ro",
                    f"{e.name}-data:/data"],
        "restart": "unless-stopped",
        "networks": {NETWORK: {"aliases": [e.fqdn]}},
    }


def project(loaded: Loaded, o: Options) -> dict:
    m = loaded.manifest
    gw = facts.gateway(m)
    services = {APP: _gateway(m, gw, o)}
    for e in gw.backing:
        services[e.name] = _backing(e, o)
    return {
        "name": f"{m.site.name}-gateway",
        "services": services,
        # One network for the site's services; only the gateway publishes a port.
        "networks": {NETWORK: {"name": f"{m.site.name}-{NETWORK}"}},
        **({"volumes": {f"{e.name}-data": {} for e in gw.backing}} if gw.backing else {}),
    }


def documents(loaded: Loaded, o: Options) -> dict[str, str]:
    return {"compose/compose.yaml": yaml_documents([project(loaded, o)], loaded.path.name, loaded.sha256)}
