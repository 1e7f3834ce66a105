"""ECS Fargate: a task definition (RegisterTaskDefinition), a service behind an ALB target group
(CreateService) and target-tracking scaling on CPU and on requests per task (Application Auto Scaling),
each file the input of that API call: `aws ecs register-task-definition --cli-input-json file://...`.

The task's root filesystem is read-only; the config and client certificate come from Secrets Manager
(aws.py). The ALB terminates TLS and HTTP/2 and speaks HTTP/1.1 to the tasks on the gateway's port.
"""

from __future__ import annotations

from gateway.appliance.loader import Loaded
from gateway.appliance.targets import aws, facts
from gateway.appliance.targets.facts import APP, Options
from gateway.appliance.targets.render import generated_note, json_document

CPU, MEMORY = "1024", "2048"  # 1 vCPU, 2 GiB: LiteLLM's ~350 MB at rest, imports, one worker


def _tags(loaded: Loaded) -> list[dict]:
    return [{"key": "gateway.appliance/generated", "value": generated_note(loaded.path.name, loaded.sha256)[:256]}]


def task_definition(loaded: Loaded, o: Options) -> dict:
    m, port, site = loaded.manifest, facts.gateway(loaded.manifest).port, loaded.manifest.site.name
    health = f"import urllib.request as u; u.urlopen('http://127.0.0.1:{port}/health/liveliness', timeout=4)"
    container = {
        "name": APP,
        "image": aws.image(o),
        "essential": True,
        "entryPoint": ["/usr/bin/tini", "--", "python3", "-c"],
        "command": [aws.start_script(port)],
        "user": f"{facts.UID}:{facts.UID}",
        "readonlyRootFilesystem": True,
        "portMappings": [{"name": "http", "containerPort": port, "protocol": "tcp", "appProtocol": "http"}],
        "environment": [{"name": k, "value": v} for k, v in aws.environment(m).items()],
        "secrets": [{"name": var, "valueFrom": aws.secret_arn(o, site, suffix)}
                    for suffix, (var, _) in aws.SECRETS.items()],
        "mountPoints": [{"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False},
                        {"sourceVolume": "home", "containerPath": "/var/lib/gateway", "readOnly": False}],
        "healthCheck": {"command": ["CMD", "python3", "-c", health], "interval": 30, "timeout": 5,
                        "retries": 3, "startPeriod": 90},
        "linuxParameters": {"capabilities": {"drop": ["ALL"]}, "initProcessEnabled": False},
        "stopTimeout": 60,
        "logConfiguration": {"logDriver": "awslogs", "options": {
            "awslogs-group": f"/{site}/gateway", "awslogs-region": o.aws_region, "awslogs-stream-prefix": APP}},
    }
    return {
        "family": f"{site}-gateway",
        "taskRoleArn": aws.role_arn(o, f"{site}-gateway-task"),  # Bedrock, S3: no static keys
        "executionRoleArn": aws.role_arn(o, f"{site}-gateway-execution"),  # ECR pull, the secrets
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": CPU,
        "memory": MEMORY,
        "runtimePlatform": {"cpuArchitecture": o.arch, "operatingSystemFamily": "LINUX"},
        "containerDefinitions": [container],
        "volumes": [{"name": "tmp"}, {"name": "home"}],
        "tags": _tags(loaded),
    }


def service(loaded: Loaded, o: Options) -> dict:
    site, gw = loaded.manifest.site.name, facts.gateway(loaded.manifest)
    return {
        "cluster": f"{site}-gateway",
        "serviceName": APP,
        "taskDefinition": f"{site}-gateway",
        "desiredCount": max(gw.replicas, o.min_replicas),
        "launchType": "FARGATE",
        "networkConfiguration": {"awsvpcConfiguration": {
            "subnets": ["subnet-0example0private0a", "subnet-0example0private0b"],
            "securityGroups": ["sg-0example0gateway"], "assignPublicIp": "DISABLED"}},
        "loadBalancers": [{"targetGroupArn": f"arn:aws:elasticloadbalancing:{o.aws_region}:{o.aws_account_id}:"
                                             f"targetgroup/{site}-gateway/0123456789abcdef",
                           "containerName": APP, "containerPort": gw.port}],
        "healthCheckGracePeriodSeconds": 90,
        "deploymentConfiguration": {"minimumHealthyPercent": 100, "maximumPercent": 200,
                                    "deploymentCircuitBreaker": {"enable": True, "rollback": True}},
        "enableExecuteCommand": False,
        "propagateTags": "TASK_DEFINITION",
        "tags": _tags(loaded),
    }


def scaling(loaded: Loaded, o: Options) -> dict:
    """RegisterScalableTarget and two PutScalingPolicy inputs: CPU, and ALB requests per task (the
    closest Fargate has to in-flight requests without a metrics pipeline)."""
    site = loaded.manifest.site.name
    resource = f"service/{site}-gateway/{APP}"
    target = {"ServiceNamespace": "ecs", "ResourceId": resource, "ScalableDimension": "ecs:service:DesiredCount",
              "MinCapacity": o.min_replicas, "MaxCapacity": o.max_replicas}

    def policy(name: str, metric: str, value: float, label: str | None = None) -> dict:
        spec = {"PredefinedMetricType": metric, **({"ResourceLabel": label} if label else {})}
        return {"PolicyName": f"{site}-gateway-{name}", "ServiceNamespace": "ecs", "ResourceId": resource,
                "ScalableDimension": "ecs:service:DesiredCount", "PolicyType": "TargetTrackingScaling",
                "TargetTrackingScalingPolicyConfiguration": {
                    "TargetValue": value, "PredefinedMetricSpecification": spec,
                    "ScaleInCooldown": 300, "ScaleOutCooldown": 60}}
    label = f"app/{site}-gateway/0123456789abcdef/targetgroup/{site}-gateway/0123456789abcdef"
    return {"RegisterScalableTarget": target, "PutScalingPolicy": [
        policy("cpu", "ECSServiceAverageCPUUtilization", float(o.cpu_percent)),
        policy("requests", "ALBRequestCountPerTarget", float(o.in_flight_per_pod * 60), label)]}


def documents(loaded: Loaded, o: Options) -> dict[str, str]:
    return {"ecs/task-definition.json": json_document(task_definition(loaded, o)),
            "ecs/service.json": json_document(service(loaded, o)),
            "ecs/scaling.json": json_document(scaling(loaded, o))}
