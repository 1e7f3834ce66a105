"""Kubernetes: the gateway as a Deployment behind a Service, scaled by an HPA (CPU, memory and
LiteLLM's in-flight requests per pod), kept available by a PDB, fenced by NetworkPolicies from the
manifest's flows (netpol.py), with a kustomization that builds the config and certificate objects
from files the operator places beside it (secrets never enter generated files)."""

from __future__ import annotations

import base64

from gateway.appliance.loader import Loaded
from gateway.appliance.targets import facts, netpol
from gateway.appliance.targets.facts import APP, Options
from gateway.appliance.targets.render import yaml_documents

# Objects the kustomization builds from the operator's files (kustomization.yaml, *Generator).
CONFIG_MAP = "gateway-config"
SERVER_TLS = "gateway-tls"
CLIENT_TLS = "gateway-client-tls"
ENVIRONMENT = "gateway-environment"
RESOURCES = {"requests": {"cpu": "500m", "memory": "768Mi"}, "limits": {"cpu": "2", "memory": "2Gi"}}


def _meta(name: str, o: Options, **extra) -> dict:
    return {"name": name, "namespace": o.namespace, "labels": facts.labels(), **extra}


def service_account(o: Options) -> dict:
    annotations = {"eks.amazonaws.com/role-arn": o.irsa_role_arn} if o.irsa_role_arn else {}
    meta = _meta(APP, o, **({"annotations": annotations} if annotations else {}))
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta, "automountServiceAccountToken": False}


def _probe(path: str, port: int, period: int, failures: int) -> dict:
    return {"httpGet": {"path": path, "port": port, "scheme": "HTTPS"}, "periodSeconds": period,
            "timeoutSeconds": 4, "failureThreshold": failures}


def _volumes() -> tuple[list[dict], list[dict]]:
    # Secret volumes say `optional: false` explicitly: podman 4.3's kube play dereferences it.
    volumes = [
        {"name": "config", "configMap": {"name": CONFIG_MAP}},
        {"name": "tls", "secret": {"secretName": SERVER_TLS, "defaultMode": 0o440, "optional": False}},
        {"name": "client-tls", "secret": {"secretName": CLIENT_TLS, "defaultMode": 0o440, "optional": False}},
        # Read-only root: LiteLLM writes its derived config to /tmp, artifacts are fetched into the cache.
        {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
        {"name": "home", "emptyDir": {"sizeLimit": "256Mi"}},
        {"name": "artifacts", "emptyDir": {"sizeLimit": "2Gi"}},
    ]
    mounts = [
        {"name": "config", "mountPath": facts.CONFIG_DIR, "readOnly": True},
        {"name": "tls", "mountPath": facts.SERVER_TLS_DIR, "readOnly": True},
        {"name": "client-tls", "mountPath": facts.CLIENT_TLS_DIR, "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},
        {"name": "home", "mountPath": "/var/lib/gateway"},
        {"name": "artifacts", "mountPath": facts.ARTIFACT_DIR},
    ]
    return volumes, mounts


def deployment(gw: facts.Gateway, o: Options, has_environment: bool) -> dict:
    volumes, mounts = _volumes()
    container = {
        "name": APP,
        "image": o.image,
        "imagePullPolicy": "IfNotPresent",
        "args": facts.command(gw.port),
        "ports": [{"name": "https", "containerPort": gw.port, "protocol": "TCP"}],
        **({"envFrom": [{"configMapRef": {"name": ENVIRONMENT}}]} if has_environment else {}),
        # LiteLLM imports for 10-15 s before it answers: the startup probe covers that, then liveness
        # restarts a hung process and readiness takes a pod out of the Service while it cannot serve.
        "startupProbe": _probe("/health/liveliness", gw.port, 3, 40),
        "livenessProbe": _probe("/health/liveliness", gw.port, 10, 3),
        "readinessProbe": _probe("/health/readiness", gw.port, 5, 2),
        "resources": RESOURCES,
        "securityContext": {"runAsNonRoot": True, "runAsUser": facts.UID, "runAsGroup": facts.UID,
                            "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}},
        "volumeMounts": mounts,
    }
    spec = {
        "serviceAccountName": APP,
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "runAsUser": facts.UID, "runAsGroup": facts.UID,
                            "fsGroup": facts.UID},
        # Streams may run for minutes; uvicorn finishes what it has after SIGTERM.
        "terminationGracePeriodSeconds": 60,
        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                       "whenUnsatisfiable": "ScheduleAnyway",
                                       "labelSelector": {"matchLabels": facts.labels()}}],
        "containers": [container],
        "volumes": volumes,
    }
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(APP, o),
            "spec": {"replicas": max(gw.replicas, o.min_replicas), "selector": {"matchLabels": facts.labels()},
                     "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
                     "template": {"metadata": {"labels": facts.labels()}, "spec": spec}}}


def service(gw: facts.Gateway, o: Options) -> dict:
    # LoadBalancer with the client's address kept (Local), so the NetworkPolicies can admit the
    # manifest's user networks by CIDR; TLS passes through to the pods.
    return {"apiVersion": "v1", "kind": "Service", "metadata": _meta(APP, o),
            "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local", "selector": facts.labels(),
                     "ports": [{"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP"}]}}


def hpa(o: Options) -> dict:
    def resource(name: str, percent: int) -> dict:
        return {"type": "Resource", "resource": {"name": name, "target": {"type": "Utilization",
                                                                         "averageUtilization": percent}}}
    # The custom metric comes from the pods' /metrics through prometheus-adapter (docs/orchestrators.md).
    in_flight = {"type": "Pods", "pods": {"metric": {"name": facts.IN_FLIGHT_METRIC},
                                          "target": {"type": "AverageValue",
                                                     "averageValue": str(o.in_flight_per_pod)}}}
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": _meta(APP, o),
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": APP},
                     "minReplicas": o.min_replicas, "maxReplicas": o.max_replicas,
                     "metrics": [resource("cpu", o.cpu_percent), resource("memory", o.memory_percent), in_flight],
                     # Scale down slowly: a stream outlives a short lull.
                     "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300,
                                                "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}}}}


def pdb(o: Options) -> dict:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": _meta(APP, o),
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": facts.labels()}}}


def environment_map(env: dict[str, str], o: Options) -> dict:
    """The artifact source (S3) and telemetry endpoints the manifest names; no credentials."""
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(ENVIRONMENT, o), "data": env}


def kustomization(files: list[str], o: Options) -> dict:
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": o.namespace,
        "resources": files,
        # The operator places these beside this file (docs/orchestrators.md); a change rolls the pods.
        "configMapGenerator": [{"name": CONFIG_MAP, "files": ["config.yaml=site/config.yaml"]}],
        "secretGenerator": [
            {"name": SERVER_TLS, "files": ["tls.crt=site/gateway.chain.pem", "tls.key=site/gateway.key",
                                           "ca.crt=site/ca-bundle.pem"]},
            {"name": CLIENT_TLS, "files": ["tls.crt=site/client-gateway.chain.pem",
                                           "tls.key=site/client-gateway.key", "ca.crt=site/ca-bundle.pem"]},
        ],
    }


def objects(loaded: Loaded, o: Options) -> dict[str, list[dict]]:
    """File name -> the objects it holds (the kustomization lists the files)."""
    m = loaded.manifest
    gw, env = facts.gateway(m), facts.environment(m)
    out = {
        "serviceaccount.yaml": [service_account(o)],
        "deployment.yaml": [deployment(gw, o, bool(env))],
        "service.yaml": [service(gw, o)],
        "hpa.yaml": [hpa(o)],
        "pdb.yaml": [pdb(o)],
        "networkpolicies.yaml": netpol.policies(gw, o),
    }
    if env:
        out["environment.yaml"] = [environment_map(env, o)]
    return out


def documents(loaded: Loaded, o: Options) -> dict[str, str]:
    name, sha = loaded.path.name, loaded.sha256
    objs = objects(loaded, o)
    out = {f"kubernetes/{f}": yaml_documents(docs, name, sha) for f, docs in objs.items()}
    out["kubernetes/kustomization.yaml"] = yaml_documents([kustomization(sorted(objs), o)], name, sha)
    return out


def site_objects(config_yaml: str, server_tls: dict[str, bytes], client_tls: dict[str, bytes],
                 o: Options) -> list[dict]:
    """The ConfigMap and Secrets the kustomization's generators build from ./site, as plain objects (for
    a cluster without kustomize, and for `podman kube play`); never written by `generate`."""

    def secret(name: str, files: dict[str, bytes]) -> dict:
        return {"apiVersion": "v1", "kind": "Secret", "metadata": _meta(name, o), "type": "Opaque",
                "data": {k: base64.b64encode(v).decode() for k, v in files.items()}}
    return [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(CONFIG_MAP, o),
             "data": {"config.yaml": config_yaml}},
            secret(SERVER_TLS, server_tls), secret(CLIENT_TLS, client_tls)]
