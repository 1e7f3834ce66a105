"""The otelcol role's `sink` backend on a booted node: where no collector package can be had (as here), the
gateway's OTLP sink serves the manifest's OTLP/HTTP service in the collector's place.

site.yml runs preflight, common, pki and otelcol only (`--tags`) with the single-node manifest, twice: the
sink's venv is exactly its lock (protobuf, opentelemetry-proto: ansible/files/locked-venv.py, pip check),
otlp_sink.py runs beside it non-root as otlp-sink.service with mutual TLS on the service's bind address,
and the second run changes nothing, nor does a third with --check.
From the node's network namespace: the HAProxy front's identity (otelcol-http-front) gets an OTLP/HTTP
answer, another certificate of the site CA is closed on, and an OTel SDK exporter's spans land in the
traces file the trainer's glob reads.
"""

from __future__ import annotations

import sys

import pytest

from tests.ansible.container import booted_node
from tests.ansible.outside import NODE_ADDRESS
from tests.ansible.playbook import REPO, generate_site, run_playbook

pytestmark = [pytest.mark.ansible, pytest.mark.slow, pytest.mark.netns]

SINK = ["-e", "otelcol_enabled=true", "-e", "otelcol_backend=sink"]
TAGS = ["--tags", "preflight,common,pki,otelcol"]

# One POST of an empty OTLP/HTTP traces export (declaring argv[4] bytes, default 0, sending none) with a
# client identity; prints the status line or why not.
POST = """import socket, ssl, sys
c = ssl.create_default_context(cafile=sys.argv[1]); c.load_cert_chain(sys.argv[2], sys.argv[3])
length = sys.argv[4] if len(sys.argv) > 4 else "0"
try:
    with c.wrap_socket(socket.create_connection(("127.0.0.1", 14318), timeout=5),
                       server_hostname="otelcol-http.appliance.internal") as s:
        s.sendall(f"POST /v1/traces HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: {length}\\r\\n"
                  "Connection: close\\r\\n\\r\\n".encode())
        print(s.recv(64).decode().split("\\r\\n")[0] or "closed")
except (ssl.SSLError, OSError):
    print("closed")
"""

# A capture span through the OTel SDK's OTLP/HTTP exporter, configured as the gateway's telemetry does.
EXPORT = """import socket, sys
from pathlib import Path
real = socket.getaddrinfo
socket.getaddrinfo = lambda host, *a, **k: real("127.0.0.1" if host.endswith(".appliance.internal") else host, *a, **k)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from gateway.telemetry.settings import OtlpSettings
from gateway.telemetry.setup import exporter
s = OtlpSettings(endpoint="https://otelcol-http.appliance.internal:14318", protocol="http", ca_file=Path(sys.argv[1]),
                 cert_file=Path(sys.argv[2]), key_file=Path(sys.argv[3]))
p = TracerProvider(); p.add_span_processor(SimpleSpanProcessor(exporter(s, "traces")))
with p.get_tracer("t").start_as_current_span("gateway.capture.call", attributes={"gateway.capture.query": "sink-e2e"}):
    pass
p.shutdown()
"""


@pytest.fixture(scope="module")
def sink_node(tmp_path_factory):
    site = generate_site(tmp_path_factory.mktemp("sink"), REPO / "examples/appliance/single-node/appliance.yaml")
    with booted_node("gwt-sink", address=f"{NODE_ADDRESS}/24") as node:
        first = run_playbook(site, node, *TAGS, extra=SINK)
        assert first.returncode == 0, first.tail()
        second = run_playbook(site, node, *TAGS, extra=SINK)
        assert second.returncode == 0, second.tail()
        # --check on the installed node: locked-venv.py --check finds the venv exactly its lock
        checked = run_playbook(site, node, *TAGS, "--check", extra=SINK)
        assert checked.returncode == 0, checked.tail()
        assert checked.recap["node1"]["changed"] == 0, checked.changed_tasks()
        yield node, site, first, second


def test_the_sink_is_installed_in_its_own_venv_non_root_and_the_second_run_changes_nothing(sink_node):
    node, _, first, second = sink_node
    assert first.recap["node1"]["changed"] > 0
    assert second.recap["node1"]["changed"] == 0, second.changed_tasks()
    printed = " ".join(first.stdout.split())  # the result's YAML may fold a long line
    assert "The OTLP sink serves OTLP/HTTP only: otelcol-grpc (gRPC) has no server" in printed
    out = node.exec(["sh", "-c", "systemctl is-active otlp-sink; systemctl show -p User --value otlp-sink; "
                     "stat -c '%a %U' /var/lib/otelcol /etc/otelcol-contrib/tls/otelcol-http.key; "
                     "systemctl show -p ExecStart --value otlp-sink | grep -o 'python -I [^ ]*'; "
                     "/opt/otlp-sink/venv/bin/python -m pip check; "
                     "/opt/otlp-sink/venv/bin/python -m pip list --format=freeze"], capture_output=True, text=True)
    lines = out.stdout.splitlines()
    assert lines[:6] == ["active", "otelcol-contrib", "750 otelcol-contrib", "600 otelcol-contrib",
                         "python -I /opt/otlp-sink/wheelhouse/otlp_sink.py",
                         "No broken requirements found."], out.stdout
    packages = {line.split("==")[0].lower().replace("_", "-") for line in lines[6:]}
    assert packages - {"pip", "setuptools"} == {"protobuf", "opentelemetry-proto"}, lines[6:]  # the sink's lock


def test_the_fronts_identity_is_answered_another_is_closed_on_and_spans_land_in_the_trainers_file(sink_node):
    node, site, _, _ = sink_node
    pki = site / "pki"

    def post(identity: str, length: int = 0) -> str:
        out = node.node_net([sys.executable, "-c", POST, str(pki / "ca-bundle.pem"),
                             str(pki / f"clients/{identity}.chain.pem"), str(pki / f"clients/{identity}.key"),
                             str(length)], capture_output=True, text=True, timeout=30)
        return out.stdout.strip()

    assert post("otelcol-http-front") == "HTTP/1.1 200 OK"
    # otelcol_sink_max_request_body_size (20 MiB): a larger declared body is refused before it is sent
    assert post("otelcol-http-front", 20 * 2**20 + 1) == "HTTP/1.1 413 Request Entity Too Large"
    assert post("gateway") == "closed"  # admitted only through the HAProxy front, which checks CRLs
    # The front's identity is the only one admitted: the exporter here presents it, as HAProxy relays.
    front = [str(pki / "clients/otelcol-http-front.chain.pem"), str(pki / "clients/otelcol-http-front.key")]
    out = node.node_net([sys.executable, "-c", EXPORT, str(pki / "ca-bundle.pem"), *front],
                        capture_output=True, text=True, timeout=60, cwd=REPO)
    assert out.returncode == 0, out.stderr[-2000:]
    traces = node.exec(["sh", "-c", "stat -c '%a %U %G' /var/lib/otelcol/traces.json; cat /var/lib/otelcol/traces*"],
                       capture_output=True, text=True).stdout
    assert traces.startswith("640 otelcol-contrib otelcol-contrib\n"), traces[:200]
    assert '"gateway.capture.call"' in traces and "sink-e2e" in traces
