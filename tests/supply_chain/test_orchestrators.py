"""The generated Kubernetes objects run the project's real image: `podman kube play` of the Deployment,
the config ConfigMap and the certificate Secrets (made from the site PKI), read-only root filesystem,
UID 1000; the gateway then answers a routed completion over TLS with the site CA, and exports the
in-flight gauge the HPA scales on. No cluster: what a scheduler, a Service or the HPA do is not run."""

from __future__ import annotations

import base64
import json
import time
import uuid
from pathlib import Path

import pytest
import yaml

from gateway.appliance import pki as site_pki
from gateway.appliance import targets
from gateway.appliance.loader import load
from gateway.appliance.targets import facts, kubernetes
from tests.appliance import validators
from tests.integration.gateway_process import free_port
from tests.supply_chain import compose_run
from tests.supply_chain.kube_play import KubePlay
from tests.supply_chain.podman import ROOT, podman
from tests.supply_chain.podman import load as load_image

MANIFEST = ROOT / "examples" / "appliance" / "single-node" / "appliance.yaml"
SERVER_NAME = "gateway.appliance.internal"
# Runs inside the container: HTTPS to the gateway on loopback, verified against the site CA by name.
CLIENT = """
import json, socket, ssl, sys, http.client
ctx = ssl.create_default_context(cafile="/etc/gateway/tls/ca.crt")
class Conn(http.client.HTTPSConnection):
    def connect(self):
        self.sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", PORT), 10), server_hostname=NAME)
def call(method, path, body=None):
    c = Conn(NAME, PORT, context=ctx, timeout=60)
    c.request(method, path, body=json.dumps(body) if body else None,
              headers={"Authorization": "Bearer sk-demo", "Content-Type": "application/json"})
    r = c.getresponse()
    return {"status": r.status, "routed": r.getheader("x-gateway-routed-model"), "body": r.read().decode()}
print(json.dumps(call(*json.loads(sys.argv[1]))))
"""


def site_objects(tmp: Path) -> list[dict]:
    """The ConfigMap and Secrets an operator's kustomization would build: demo config, site PKI."""
    m = load(MANIFEST).manifest
    site_pki.ensure(m, tmp / "pki")
    pki = tmp / "pki"
    config = yaml.safe_load((ROOT / "examples" / "demo" / "config.yaml").read_text())
    config["router_settings"]["routing_strategy_args"] |= {
        "model_path": f"{facts.ARTIFACT_DIR}/knn-artifact.tar", "llm_data_path": f"{facts.CONFIG_DIR}/llm_data.json"}
    objs = kubernetes.site_objects(
        yaml.safe_dump(config, sort_keys=False),
        {"tls.crt": (pki / "servers" / "gateway.chain.pem").read_bytes(),
         "tls.key": (pki / "servers" / "gateway.key").read_bytes(), "ca.crt": (pki / "ca-bundle.pem").read_bytes()},
        {"tls.crt": (pki / "clients" / "gateway.chain.pem").read_bytes(),
         "tls.key": (pki / "clients" / "gateway.key").read_bytes(), "ca.crt": (pki / "ca-bundle.pem").read_bytes()},
        facts.Options())
    objs[0]["data"]["llm_data.json"] = (ROOT / "examples" / "demo" / "llm_data.json").read_text()
    return objs


@pytest.mark.images
def test_kube_play_of_the_generated_deployment_answers_a_routed_completion_over_tls(
        image_archive: Path, demo_artifact: Path, tmp_path: Path):
    image = load_image(image_archive, "amd64")
    loaded = load(MANIFEST)
    generated = kubernetes.objects(loaded, facts.Options(image=image))
    (deployment,) = generated["deployment.yaml"]
    # The artifact source and telemetry endpoints of the manifest: unreachable here (no network), unused
    # by the demo config, but the Deployment reads them.
    config_and_secrets = site_objects(tmp_path) + generated["environment.yaml"]
    for obj in [deployment, *config_and_secrets]:
        validators.kubernetes(obj)
    # The artifact would come from the S3 store (the artifact source); here the demo's, from the host:
    # the only change to the generated Deployment, as an overlay would make it.
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    (artifacts / "knn-artifact.tar").write_bytes(demo_artifact.read_bytes())
    for p in (tmp_path, artifacts, artifacts / "knn-artifact.tar"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    (slot,) = [v for v in volumes if v["name"] == "artifacts"]
    slot.pop("emptyDir")
    slot["hostPath"] = {"path": str(artifacts), "type": "Directory"}
    # podman 4.3 publishes a containerPort on the host at the same number unless told otherwise, and
    # another gateway may hold it: a free loopback port (a Pod's hostPort; the test does not use it).
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0] |= {"hostPort": free_port(),
                                                                          "hostIP": "127.0.0.1"}
    # podman runs every replica as a pod on this one host, each asking for that host port: one replica
    # (a cluster spreads them over nodes; the HPA and PDB are not run here).
    deployment["spec"]["replicas"] = 1
    kube = KubePlay(tmp_path)
    name = kube.container(facts.APP, facts.APP)
    port = facts.gateway(loaded.manifest).port
    client = CLIENT.replace("PORT", str(port)).replace("NAME", repr(SERVER_NAME))

    def call(method: str, path: str, body: dict | None = None) -> dict:
        out = kube.podman("exec", name, "python3", "-c", client, json.dumps([method, path, body]), check=False)
        if out.returncode != 0:
            return {"status": None, "error": out.stderr[-500:]}
        return json.loads(out.stdout)

    try:
        kube.play([*config_and_secrets, deployment])
        print(f"kube play: healthy over TLS {_wait_healthy(call, name):.1f} s after play")
        chat = call("POST", "/v1/chat/completions", {"model": "auto", "messages": [
            {"role": "user", "content": "Write a Python function that reverses a list"}]})
        assert chat["status"] == 200, chat
        assert chat["routed"] in {"demo-small", "demo-coder", "demo-large"}
        assert json.loads(chat["body"])["choices"][0]["message"]["content"].startswith(chat["routed"])
        assert call("GET", "/health/readiness")["status"] == 200
        metrics = call("GET", "/metrics/")
        assert metrics["status"] == 200 and facts.IN_FLIGHT_METRIC in metrics["body"], metrics["status"]
        # What the Deployment asked for, as podman ran it.
        write = kube.podman("exec", name, "python3", "-c", "open('/probe', 'w')", check=False).stderr
        assert "Read-only file system" in write
        assert kube.podman("exec", name, "id", "-u").stdout.strip() == "1000"
    finally:
        kube.down()
        podman("rmi", image, check=False)


def _wait_healthy(call, name: str) -> float:
    """Seconds until the gateway answered its liveliness over TLS; fails with its log if it stopped."""
    started, answer = time.monotonic(), {}
    while time.monotonic() - started < 180:
        answer = call("GET", "/health/liveliness")
        if answer["status"] == 200:
            return time.monotonic() - started
        state = podman("inspect", "--format", "{{.State.Status}}", name, check=False).stdout.strip()
        assert state == "running", f"{state}: {podman('logs', name, check=False).stderr[-3000:]}"
        time.sleep(2)
    raise AssertionError((answer, podman("logs", name, check=False).stderr[-3000:]))


@pytest.mark.images
def test_the_generated_compose_gateway_runs_with_podman_and_answers_a_routed_completion(
        image_archive: Path, demo_artifact: Path, tmp_path: Path):
    """The Compose file's gateway service (podman run of its translation, tests/supply_chain/compose_run.py);
    the services it reaches are left out: no image for them exists here, and the demo config needs none."""
    image = load_image(image_archive, "amd64")
    loaded = load(MANIFEST)
    project = yaml.safe_load(targets.documents("compose", loaded, facts.Options(image=image))["compose/compose.yaml"])
    validators.compose(project)
    service = project["services"][facts.APP]
    configmap, server_tls, client_tls = site_objects(tmp_path)
    site = tmp_path / "compose" / "site"
    for folder, secret in (("tls", server_tls), ("client-tls", client_tls)):
        (site / folder).mkdir(parents=True)
        for key, value in secret["data"].items():
            (site / folder / key).write_bytes(base64.b64decode(value))
    (site / "config.yaml").write_text(configmap["data"]["config.yaml"])
    (site / "llm_data.json").write_text(configmap["data"]["llm_data.json"])
    (site / "artifacts").mkdir()
    (site / "artifacts" / "knn-artifact.tar").write_bytes(demo_artifact.read_bytes())
    for p in [tmp_path, *tmp_path.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    # As for kube play: the artifact from the host instead of the S3 store, and llm_data.json beside the config.
    service["volumes"] += [f"./site/artifacts:{facts.ARTIFACT_DIR}:ro",
                           f"./site/llm_data.json:{facts.CONFIG_DIR}/llm_data.json:ro"]
    name = f"gw-compose-{uuid.uuid4().hex[:8]}"
    port = facts.gateway(loaded.manifest).port
    client = CLIENT.replace("PORT", str(port)).replace("NAME", repr(SERVER_NAME))

    def call(method: str, path: str, body: dict | None = None) -> dict:
        out = podman("exec", name, "python3", "-c", client, json.dumps([method, path, body]), check=False)
        return json.loads(out.stdout) if out.returncode == 0 else {"status": None, "error": out.stderr[-500:]}

    try:
        podman(*compose_run.run_args(service, tmp_path / "compose", name))
        print(f"compose (podman run): healthy over TLS {_wait_healthy(call, name):.1f} s after start")
        chat = call("POST", "/v1/chat/completions", {"model": "auto", "messages": [
            {"role": "user", "content": "Write a Python function that reverses a list"}]})
        assert chat["status"] == 200, chat
        assert chat["routed"] in {"demo-small", "demo-coder", "demo-large"}
        assert podman("healthcheck", "run", name, check=False).returncode == 0  # the file's own healthcheck
        assert podman("exec", name, "id", "-u").stdout.strip() == "1000"
    finally:
        podman("rm", "-f", "-t", "5", name, check=False)
        podman("rmi", image, check=False)
