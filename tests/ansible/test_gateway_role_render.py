"""The gateway role's config and environment as Ansible renders them, without a node (seconds): with a
collector in the manifest, telemetry is on (LiteLLM's OTel v2 and the `otel` callback) and capture follows
`gateway_capture`; the operator's variables land in the environment quoted; the appliance's keys merge
into an operator config that `gateway check`'s loader accepts."""

from __future__ import annotations

import os
import subprocess

import pytest
import yaml

from gateway.config.loader import load_config
from gateway.config.operator import merge_files
from gateway.errors import ConfigError
from tests.ansible.container import ansible_bin
from tests.ansible.playbook import REPO

pytestmark = [pytest.mark.ansible]
ROLE = REPO / "ansible/roles/gateway"
SERVICES = {
    "redis": {"kind": "redis", "fqdn": "redis.site", "port": 6379},
    "s3": {"kind": "s3", "fqdn": "s3.site", "port": 8333},
    "otelcol-grpc": {"kind": "otelcol", "fqdn": "otelcol-grpc.site", "port": 4317},
    "otelcol-http": {"kind": "otelcol", "fqdn": "otelcol-http.site", "port": 4318},
}


def render(tmp_path, **overrides) -> tuple[str, dict]:
    """gateway.env and the appliance's keys (owned.yaml), rendered by ansible-playbook on this machine."""
    variables = {"appliance": {"site": "t", "services": SERVICES}, "appliance_host": "node1",
                 "appliance_my_services": {}, "appliance_bundle_dir": str(REPO),
                 "appliance_secrets_dir": str(tmp_path / "secrets"), "otelcol_enabled": True, **overrides}
    (tmp_path / "secrets").mkdir(exist_ok=True)
    (tmp_path / "vars.yml").write_text(yaml.safe_dump(variables))
    play = [{"hosts": "localhost", "gather_facts": False,
             "vars_files": [str(ROLE / "defaults/main.yml"), str(ROLE / "vars/main.yml"), str(tmp_path / "vars.yml")],
             "tasks": [
                 {"ansible.builtin.template": {"src": str(ROLE / "templates/gateway.env.j2"),
                                               "dest": str(tmp_path / "gateway.env"), "mode": "0600"},
                  "no_log": True},
                 {"ansible.builtin.template": {"src": str(ROLE / "templates/yaml.j2"),
                                               "dest": str(tmp_path / "owned.yaml"), "mode": "0600"},
                  "vars": {"__gateway_yaml": "{{ __gateway_owned }}"}},
                 {"ansible.builtin.template": {"src": str(ROLE / "templates/yaml.j2"),
                                               "dest": str(tmp_path / "operator.yaml"), "mode": "0600"},
                  "vars": {"__gateway_yaml": "{{ gateway_litellm_config }}"}},
             ]}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    out = subprocess.run([str(ansible_bin("ansible-playbook")), "-i", "localhost,", "-c", "local",
                          "-e", "ansible_python_interpreter=/usr/bin/python3", str(tmp_path / "play.yml")],
                         capture_output=True, text=True, timeout=300,
                         env={"PATH": f"{ansible_bin('ansible-playbook').parent}:/usr/bin:/bin",
                              "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8", "ANSIBLE_NOCOLOR": "1"})
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    return (tmp_path / "gateway.env").read_text(), yaml.safe_load((tmp_path / "owned.yaml").read_text())


def env_lines(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))


def test_with_a_collector_telemetry_is_on_and_capture_off_by_default(tmp_path):
    env, owned = render(tmp_path)
    values = env_lines(env)
    assert values["LITELLM_OTEL_V2"] == "true"
    assert values["OTEL_EXPORTER_OTLP_ENDPOINT"] == "https://otelcol-grpc.site:4317"
    assert values["OTEL_EXPORTER_OTLP_PROTOCOL"] == "grpc"
    assert values["OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"].endswith("/tls/client.chain.pem")
    assert "GATEWAY_CAPTURE" not in values
    assert owned["litellm_settings"]["callbacks"] == ["otel"]
    assert owned["router_settings"]["routing_strategy_args"]["model_s3_key"] == "llmrouter-knn/current.tar"


def test_capture_and_the_operators_variables_are_written_quoted(tmp_path):
    env, _ = render(tmp_path, gateway_capture="all", gateway_environment={"UPSTREAM_KEY": 'a"b\\c', "N": 3})
    values = env_lines(env)
    assert values["GATEWAY_CAPTURE"] == "all"
    assert values["UPSTREAM_KEY"] == '"a\\"b\\\\c"' and values["N"] == '"3"'


def test_without_a_collector_or_with_telemetry_off_nothing_is_exported(tmp_path):
    env, owned = render(tmp_path, gateway_telemetry=False)
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in env and "LITELLM_OTEL_V2" not in env
    assert "callbacks" not in owned["litellm_settings"]
    env, _ = render(tmp_path, otelcol_enabled=False)
    assert "LITELLM_OTEL_V2" not in env


def test_the_default_operator_config_merges_into_a_config_the_gateway_loads(tmp_path, demo_artifact):
    render(tmp_path)
    owned = yaml.safe_load((tmp_path / "owned.yaml").read_text())
    owned["router_settings"]["routing_strategy_args"].update(model_path=str(demo_artifact),
                                                            llm_data_path=str(REPO / "examples/demo/llm_data.json"))
    (tmp_path / "owned.yaml").write_text(yaml.safe_dump(owned))
    merged = merge_files(tmp_path / "operator.yaml", tmp_path / "owned.yaml")
    assert merged["litellm_settings"]["callbacks"] == ["prometheus", "otel"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(merged))
    config = load_config(tmp_path / "config.yaml")
    assert config.strategy == "llmrouter-knn" and len(config.model_list) == 3
    assert config.raw["general_settings"]["master_key"] == "os.environ/LITELLM_MASTER_KEY"


def test_the_load_balancers_body_cap_is_the_gateways_owned_cap(tmp_path, demo_artifact):
    services = {**SERVICES, "lb": {"kind": "loadbalancer", "fqdn": "lb.site", "port": 443, "max_request_size_mb": 2.5}}
    _, owned = render(tmp_path, appliance={"site": "t", "services": services})
    assert owned["general_settings"] == {"master_key": "os.environ/LITELLM_MASTER_KEY", "max_request_size_mb": 2.5}
    owned["router_settings"]["routing_strategy_args"].update(model_path=str(demo_artifact),
                                                            llm_data_path=str(REPO / "examples/demo/llm_data.json"))
    (tmp_path / "owned.yaml").write_text(yaml.safe_dump(owned))
    merged = merge_files(tmp_path / "operator.yaml", tmp_path / "owned.yaml")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(merged))
    assert load_config(tmp_path / "config.yaml").max_request_size_bytes == int(2.5 * 1024 * 1024)
    # an operator's other value is refused, naming the key
    (tmp_path / "operator.yaml").write_text(yaml.safe_dump({"general_settings": {"max_request_size_mb": 32}}))
    with pytest.raises(ConfigError, match="general_settings.max_request_size_mb"):
        merge_files(tmp_path / "operator.yaml", tmp_path / "owned.yaml")
    _, owned = render(tmp_path)
    assert "max_request_size_mb" not in owned["general_settings"]


def test_with_the_otlp_sink_in_the_collectors_place_the_gateway_exports_over_otlp_http(tmp_path):
    """The sink serves no gRPC: the gateway must use the OTLP/HTTP service, or it exports nothing."""
    values = env_lines(render(tmp_path, otelcol_backend="sink", gateway_capture="all")[0])
    assert values["OTEL_EXPORTER_OTLP_ENDPOINT"] == "https://otelcol-http.site:4318"
    assert values["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
    assert values["GATEWAY_CAPTURE"] == "all"
