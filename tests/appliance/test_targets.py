"""Orchestrator targets: every object validates offline against its platform's own schema or model, the
policies follow the manifest's flows, and the committed example never drifts from the manifest."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate.utils as kv
import pytest
import yaml

from gateway.appliance import targets
from gateway.appliance.loader import load, parse
from gateway.appliance.targets import aws, facts, kubernetes
from tests.appliance import validators
from tests.appliance.conftest import EXAMPLE_NAMES, EXAMPLES, REPO

COMMITTED = REPO / "examples" / "targets"
FIX = "run `gateway appliance generate examples/appliance/ha/appliance.yaml --target kubernetes --target compose " \
      "--target ecs --target apprunner --out examples/targets/ha`"


def _objects(loaded, options: facts.Options) -> list[dict]:
    return [o for objs in kubernetes.objects(loaded, options).values() for o in objs]


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_every_kubernetes_object_validates_against_the_schemas_of_a_current_release(name):
    loaded = load(EXAMPLES / name / "appliance.yaml")
    objs = _objects(loaded, facts.Options(irsa_role_arn="arn:aws:iam::111122223333:role/gw"))
    objs += kubernetes.site_objects("model_list: []\n", {"tls.crt": b"c", "tls.key": b"k", "ca.crt": b"a"},
                                    {"tls.crt": b"c", "tls.key": b"k", "ca.crt": b"a"}, facts.Options())
    assert {o["kind"] for o in objs} >= {"Deployment", "Service", "HorizontalPodAutoscaler",
                                         "PodDisruptionBudget", "NetworkPolicy", "ConfigMap", "Secret",
                                         "ServiceAccount"}
    for obj in objs:
        assert validators.kubernetes(obj) == ".".join(validators.KUBERNETES.split(".")[:2]), obj["kind"]


def test_the_kubernetes_validator_refuses_a_misspelt_field(example):
    (deploy,) = kubernetes.objects(example("ha"), facts.Options())["deployment.yaml"]
    deploy["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesytem"] = True
    with pytest.raises(kv.ValidationError, match="readOnlyRootFilesytem"):
        validators.kubernetes(deploy)


def test_the_deployment_is_non_root_read_only_probed_and_bounded(example):
    (deploy,) = kubernetes.objects(example("ha"), facts.Options())["deployment.yaml"]
    (c,) = deploy["spec"]["template"]["spec"]["containers"]
    assert c["securityContext"]["runAsUser"] == 1000 and c["securityContext"]["runAsNonRoot"]
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert c["livenessProbe"]["httpGet"]["path"] == "/health/liveliness"
    assert c["readinessProbe"]["httpGet"]["path"] == "/health/readiness"
    assert c["resources"]["requests"] and c["resources"]["limits"]
    assert deploy["spec"]["replicas"] == 2  # two gateway hosts in the manifest
    assert c["args"][c["args"].index("--port") + 1] == "4000"


def test_the_hpa_scales_on_cpu_memory_and_litellms_in_flight_gauge(example):
    (hpa,) = kubernetes.objects(example("ha"), facts.Options())["hpa.yaml"]
    kinds = [(m["type"], m.get("resource", m.get("pods", {})).get("name") or m["pods"]["metric"]["name"])
             for m in hpa["spec"]["metrics"]]
    assert kinds == [("Resource", "cpu"), ("Resource", "memory"), ("Pods", facts.IN_FLIGHT_METRIC)]
    # The gauge is LiteLLM's own (read from its source, not imported: the proxy takes seconds to import).
    spec = importlib.util.find_spec("litellm")
    middleware = Path(spec.origin).parent / "proxy" / "middleware" / "in_flight_requests_middleware.py"
    assert f'"{facts.IN_FLIGHT_METRIC}"' in middleware.read_text()


def _policies(loaded) -> dict[str, dict]:
    objs = kubernetes.objects(loaded, facts.Options())["networkpolicies.yaml"]
    return {p["metadata"]["name"]: p["spec"] for p in objs}


def test_network_policies_deny_by_default_and_admit_exactly_the_flows(example):
    policies = _policies(example("ha"))
    assert policies["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    ingress = policies["gateway-from-users"]["ingress"]
    assert ingress == [{"from": [{"ipBlock": {"cidr": "198.19.20.0/24"}}],
                        "ports": [{"protocol": "TCP", "port": 4000}]}]
    egress = {name: p["egress"][0]["to"][0]["ipBlock"]["cidr"] + f":{p['egress'][0]['ports'][0]['port']}"
              for name, p in policies.items() if name.startswith("gateway-to-") and name != "gateway-to-dns"}
    assert egress == {"gateway-to-postgresql": "198.18.1.20/32:5432", "gateway-to-redis": "198.18.1.21/32:6379",
                      "gateway-to-s3": "198.18.1.22/32:9000", "gateway-to-otelcol-grpc": "198.18.1.23/32:4317",
                      "gateway-to-llm-upstream": "198.18.50.0/28:8443"}
    # Only lb1 sends to otelcol-http; SSH flows do not concern a pod; lb1 is replaced by the Service.
    assert not any("ssh" in n or "otelcol-http" in n or "lb1" in n for n in policies)


def test_a_new_flow_in_the_manifest_becomes_a_policy(example):
    text = (EXAMPLES / "ha" / "appliance.yaml").read_text().replace(
        "user_networks:\n", "user_networks:\n  - {name: lab, cidr: 198.19.30.0/24}\n").replace(
        "flows:\n", "flows:\n  - {from: lab, to: loadbalancer, purpose: Lab clients., approver: CAB-1}\n")
    m = parse(text)
    loaded = type("L", (), {"manifest": m, "path": Path("appliance.yaml"), "sha256": "0" * 64})()
    assert _policies(loaded)["gateway-from-lab"]["ingress"][0]["from"] == [{"ipBlock": {"cidr": "198.19.30.0/24"}}]


def test_single_node_loopback_services_become_egress_to_the_host(example):
    policies = _policies(example("single-node"))
    assert policies["gateway-to-redis"]["egress"][0]["to"] == [{"ipBlock": {"cidr": "198.18.0.10/32"}}]


def test_irsa_annotates_the_service_account_only_when_asked(example):
    sa = lambda o: kubernetes.objects(example("ha"), o)["serviceaccount.yaml"][0]["metadata"]  # noqa: E731
    assert "annotations" not in sa(facts.Options())
    arn = "arn:aws:iam::111122223333:role/gateway"
    assert sa(facts.Options(irsa_role_arn=arn))["annotations"] == {"eks.amazonaws.com/role-arn": arn}


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_the_compose_file_validates_against_the_compose_specification(name):
    loaded = load(EXAMPLES / name / "appliance.yaml")
    project = yaml.safe_load(targets.documents("compose", loaded)["compose/compose.yaml"])
    validators.compose(project)
    assert set(project["services"]) >= {"gateway", "postgresql", "redis", "s3", "otelcol-grpc"}
    assert project["services"]["gateway"]["read_only"] is True
    project["services"]["gateway"]["readonly"] = True  # misspelt: the specification has read_only
    with pytest.raises(jsonschema.ValidationError, match="readonly"):
        validators.compose(project)


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_ecs_and_app_runner_inputs_validate_against_the_aws_service_models(name):
    loaded = load(EXAMPLES / name / "appliance.yaml")
    docs = {**targets.documents("ecs", loaded), **targets.documents("apprunner", loaded)}
    scaling = json.loads(docs["ecs/scaling.json"])
    calls = [("ecs", "RegisterTaskDefinition", json.loads(docs["ecs/task-definition.json"])),
             ("ecs", "CreateService", json.loads(docs["ecs/service.json"])),
             ("application-autoscaling", "RegisterScalableTarget", scaling["RegisterScalableTarget"]),
             *(("application-autoscaling", "PutScalingPolicy", p) for p in scaling["PutScalingPolicy"]),
             ("apprunner", "CreateService", json.loads(docs["apprunner/service.json"])),
             ("apprunner", "CreateAutoScalingConfiguration", json.loads(docs["apprunner/autoscaling.json"]))]
    for service, operation, params in calls:
        assert validators.aws(service, operation, params) == "", (service, operation)
    task = calls[0][2]
    task["containerDefinitions"][0]["readOnlyRootFilesystem"] = True  # the API spells it readonlyRootFilesystem
    assert "readOnlyRootFilesystem" in validators.aws("ecs", "RegisterTaskDefinition", task)


def test_the_aws_start_script_writes_the_secrets_0600_and_execs_the_gateway(tmp_path):
    stub = tmp_path / "bin" / "gateway"
    stub.parent.mkdir()
    stub.write_text(f"#!{sys.executable}\nimport sys, json; print(json.dumps(sys.argv[1:]))\n")
    stub.chmod(0o755)
    script = aws.start_script(4000).replace(aws.RUN_DIR, str(tmp_path / "run"))
    env = {"PATH": f"{stub.parent}:{os.environ['PATH']}", "GATEWAY_CONFIG_YAML": "model_list: []\n",
           "GATEWAY_CLIENT_KEY_PEM": "KEY"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout)[:3] == ["serve", "--config", str(tmp_path / "run" / "config.yaml")]
    key = tmp_path / "run" / "client-tls" / "tls.key"
    assert key.read_text() == "KEY" and key.stat().st_mode & 0o777 == 0o600
    assert not (tmp_path / "run" / "client-tls" / "tls.crt").exists()  # not given, not written


def test_committed_targets_match_the_manifest(example):
    loaded = example("ha")
    want = {rel: text for t in targets.TARGETS for rel, text in targets.documents(t, loaded).items()}
    have = {p.relative_to(COMMITTED / "ha").as_posix(): p.read_text()
            for p in (COMMITTED / "ha").rglob("*") if p.is_file()}
    assert sorted(have) == sorted(want), FIX
    for rel in want:
        assert have[rel] == want[rel], f"{rel} drifted from the manifest; {FIX}"


def test_generate_target_writes_its_files_and_removes_only_its_stale_ones(tmp_path):
    site = tmp_path / "kubernetes" / "site"
    site.mkdir(parents=True)
    (site / "config.yaml").write_text("operator's\n")
    (tmp_path / "kubernetes" / "old.yaml").write_text("stale\n")
    cmd = [sys.executable, "-m", "gateway", "appliance", "generate", str(EXAMPLES / "ha" / "appliance.yaml"),
           "--target", "kubernetes", "--out", str(tmp_path), "--image", "registry.site/gateway:1"]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert "removed kubernetes/old.yaml" in out.stdout
    assert (site / "config.yaml").read_text() == "operator's\n"
    assert "image: registry.site/gateway:1" in (tmp_path / "kubernetes" / "deployment.yaml").read_text()
    kustomization = yaml.safe_load((tmp_path / "kubernetes" / "kustomization.yaml").read_text())
    assert all((tmp_path / "kubernetes" / f).exists() for f in kustomization["resources"])
