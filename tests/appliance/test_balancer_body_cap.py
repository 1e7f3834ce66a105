"""The load balancer refuses a body declared larger than the manifest's cap (the gateways' own cap) with
the gateway's 413 body, before any gateway is chosen; a body at the cap passes on to the gateways."""

from __future__ import annotations

import dataclasses
import json
import socket
import ssl

import pytest
import yaml

from gateway.appliance import haproxy
from gateway.appliance.errors import ManifestError
from gateway.appliance.loader import load, parse
from tests.appliance import refusal
from tests.appliance.conftest import EXAMPLES
from tests.appliance.servers import free_port
from tests.ha.haproxy import HAProxy

MANIFEST = EXAMPLES / "single-node" / "appliance.yaml"


def _with_cap(cap) -> dict:
    data = yaml.safe_load(MANIFEST.read_text())
    next(s for s in data["services"] if s["kind"] == "loadbalancer")["max_request_size_mb"] = cap
    return data


def test_the_cap_comes_from_the_manifest_and_defaults_to_the_gateways():
    from gateway.appliance.manifest import DEFAULT_MAX_REQUEST_SIZE_MB as APPLIANCE_DEFAULT
    from gateway.config.loader import DEFAULT_MAX_REQUEST_SIZE_MB

    assert APPLIANCE_DEFAULT == DEFAULT_MAX_REQUEST_SIZE_MB
    assert haproxy.balancer(load(MANIFEST).manifest, "node1").max_body_bytes == 10 * 1024 * 1024
    m = parse(yaml.safe_dump(_with_cap(2.5), sort_keys=False), "appliance.yaml")
    assert haproxy.balancer(m, "node1").max_body_bytes == 2621440


def test_only_a_load_balancer_takes_a_cap():
    data = _with_cap(None)
    next(s for s in data["services"] if s["name"] == "redis")["max_request_size_mb"] = 5
    with pytest.raises(ManifestError) as exc:
        parse(yaml.safe_dump(data, sort_keys=False), "appliance.yaml")
    assert any(p.endswith("services[3].max_request_size_mb: service 'redis' is 'redis': only a loadbalancer has "
                          "a request body cap here (a gateway's is general_settings.max_request_size_mb in its "
                          "config)") for p in exc.value.problems), exc.value.problems


def _post(port: int, root, declared: int) -> tuple[int, bytes]:
    """Headers declaring `declared` body bytes, then as many as HAProxy lets in before it answers."""
    context = ssl.create_default_context(cafile=str(root))
    context.set_alpn_protocols(["http/1.1"])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname="loadbalancer.appliance.internal") as tls:
        tls.sendall(f"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {declared}\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := tls.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


@pytest.mark.slow
def test_haproxy_refuses_a_declared_body_over_the_cap_with_the_gateways_413(tmp_path):
    m = parse(yaml.safe_dump(_with_cap(1), sort_keys=False), "appliance.yaml")
    material = refusal.material(m, tmp_path)
    port, nobody = free_port(), free_port()  # no gateway runs: its port refuses connections
    lb = haproxy.balancer(m, "node1")
    lb = dataclasses.replace(lb, listen=(f"127.0.0.1:{port}",),
                             gateways=tuple(dataclasses.replace(g, address=f"127.0.0.1:{nobody}") for g in lb.gateways))
    server = HAProxy(lambda paths: haproxy.render([], lb, paths), material.site)
    try:
        server.start([port])
        status, body = _post(port, material.root, 1024 * 1024 + 1)
        assert status == 413 and json.loads(body)["error"]["code"] == "request_too_large", body
        refusal.logged(server, r"loadbalancer~ loadbalancer/<NOSRV> .* 413 .* LR-- ", 0)  # answered by the rule
        # at the cap: past the rule, on to the gateways (none runs here, so HAProxy's own 503)
        status, _ = _post(port, material.root, 1024 * 1024)
        assert status == 503
        refusal.logged(server, r"loadbalancer~ loadbalancer-gateways/\S+ .* 503 ", 0)
    finally:
        server.close()
