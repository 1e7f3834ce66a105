"""What ECS Fargate and App Runner share: no mounted files, so the config and the client certificate come
from AWS Secrets Manager as environment variables, and a short start script writes them to files before
`gateway serve` starts (the image's Python, no extra tool). TLS from the users ends at the AWS load
balancer (ALB for ECS, App Runner's own), which also speaks HTTP/2 to them; the task serves HTTP/1.1.
"""

from __future__ import annotations

from gateway.appliance.targets import facts
from gateway.appliance.targets.facts import Options

RUN_DIR = "/tmp/gateway"  # the only writable place (read-only root on ECS; ephemeral on App Runner)
# Secrets Manager secret (name suffix) -> the variable it fills -> the file the start script writes.
SECRETS = {
    "config": ("GATEWAY_CONFIG_YAML", f"{RUN_DIR}/config.yaml"),
    "client-cert": ("GATEWAY_CLIENT_CERT_PEM", f"{RUN_DIR}/client-tls/tls.crt"),
    "client-key": ("GATEWAY_CLIENT_KEY_PEM", f"{RUN_DIR}/client-tls/tls.key"),
    "ca-bundle": ("GATEWAY_CA_BUNDLE_PEM", f"{RUN_DIR}/client-tls/ca.crt"),
}


def start_script(port: int) -> str:
    """Python that writes each secret variable to its file (0600) and execs `gateway serve` on HTTP."""
    files = {var: path for var, path in SECRETS.values()}
    return (
        "import os; "
        f"files = {files!r}; "
        "[(os.makedirs(os.path.dirname(p), exist_ok=True), "
        "os.write(fd := os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), os.environ.pop(v).encode()), "
        "os.close(fd)) for v, p in files.items() if v in os.environ]; "
        f"os.execvp('gateway', ['gateway', 'serve', '--config', '{RUN_DIR}/config.yaml', '--host', '0.0.0.0', "
        f"'--port', '{port}'])"
    )


def secret_arn(o: Options, site: str, suffix: str) -> str:
    return f"arn:aws:secretsmanager:{o.aws_region}:{o.aws_account_id}:secret:{site}/gateway/{suffix}"


def role_arn(o: Options, name: str) -> str:
    return f"arn:aws:iam::{o.aws_account_id}:role/{name}"


def environment(m) -> dict[str, str]:
    """The manifest's environment with the client certificate paths moved under RUN_DIR."""
    return {k: v.replace(facts.CLIENT_TLS_DIR, f"{RUN_DIR}/client-tls") for k, v in facts.environment(m).items()}


def image(o: Options) -> str:
    """ECR: a private registry in the account (skopeo copies the bundle's image there)."""
    tag = o.image.rsplit(":", 1)[1] if ":" in o.image.rsplit("/", 1)[-1] else "latest"
    return f"{o.aws_account_id}.dkr.ecr.{o.aws_region}.amazonaws.com/gateway:{tag}"
