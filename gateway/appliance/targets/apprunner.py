"""App Runner: a CreateService input (an ECR image, HTTP on the gateway's port, secrets from Secrets
Manager, egress through a VPC connector to the site's services, private ingress) and a
CreateAutoScalingConfiguration input whose MaxConcurrency is the in-flight requests per instance the
Kubernetes HPA targets. App Runner terminates TLS and HTTP/2; the instance serves HTTP/1.1.
"""

from __future__ import annotations

from gateway.appliance.loader import Loaded
from gateway.appliance.targets import aws, facts
from gateway.appliance.targets.facts import Options
from gateway.appliance.targets.render import generated_note, json_document


def _tags(loaded: Loaded) -> list[dict]:
    return [{"Key": "gateway.appliance/generated", "Value": generated_note(loaded.path.name, loaded.sha256)[:256]}]


def service(loaded: Loaded, o: Options) -> dict:
    m, site = loaded.manifest, loaded.manifest.site.name
    port = facts.gateway(m).port
    arn = f"arn:aws:apprunner:{o.aws_region}:{o.aws_account_id}"
    return {
        "ServiceName": f"{site}-gateway",
        "SourceConfiguration": {
            "ImageRepository": {
                "ImageIdentifier": aws.image(o),
                "ImageRepositoryType": "ECR",
                "ImageConfiguration": {
                    "Port": str(port),
                    "RuntimeEnvironmentVariables": aws.environment(m),
                    "RuntimeEnvironmentSecrets": {var: aws.secret_arn(o, site, suffix)
                                                  for suffix, (var, _) in aws.SECRETS.items()},
                    # App Runner runs the image's entrypoint (tini --) with this command.
                    "StartCommand": f"python3 -c \"{aws.start_script(port)}\"",
                },
            },
            "AutoDeploymentsEnabled": False,
            "AuthenticationConfiguration": {"AccessRoleArn": aws.role_arn(o, f"{site}-apprunner-ecr")},
        },
        "InstanceConfiguration": {"Cpu": "1 vCPU", "Memory": "2 GB",
                                  "InstanceRoleArn": aws.role_arn(o, f"{site}-gateway-task")},
        "HealthCheckConfiguration": {"Protocol": "HTTP", "Path": "/health/readiness", "Interval": 10,
                                     "Timeout": 5, "HealthyThreshold": 1, "UnhealthyThreshold": 3},
        "AutoScalingConfigurationArn": f"{arn}:autoscalingconfiguration/{site}-gateway/1/0123456789abcdef",
        "NetworkConfiguration": {
            "EgressConfiguration": {"EgressType": "VPC",
                                    "VpcConnectorArn": f"{arn}:vpcconnector/{site}-gateway/1/0123456789abcdef"},
            "IngressConfiguration": {"IsPubliclyAccessible": False},
        },
        "Tags": _tags(loaded),
    }


def autoscaling(loaded: Loaded, o: Options) -> dict:
    return {"AutoScalingConfigurationName": f"{loaded.manifest.site.name}-gateway",
            "MaxConcurrency": o.in_flight_per_pod, "MinSize": o.min_replicas, "MaxSize": o.max_replicas,
            "Tags": _tags(loaded)}


def documents(loaded: Loaded, o: Options) -> dict[str, str]:
    return {"apprunner/service.json": json_document(service(loaded, o)),
            "apprunner/autoscaling.json": json_document(autoscaling(loaded, o))}
