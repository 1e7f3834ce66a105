"""ServeSettings: read once from the config file, the options and the environment; a bad value stops
the start naming the variable (or option) and the value."""

from __future__ import annotations

import pytest

from gateway.config.settings import EnvironmentSettings, ServeSettings, s3_settings_from_env
from gateway.errors import ConfigError
from tests.helpers import write_config

CONFIG = {"model_list": [{"model_name": "a", "litellm_params": {"model": "openai/a"}}]}


def load(tmp_path, environ=None, **options):
    return ServeSettings.load(write_config(tmp_path, CONFIG), environ or {}, **options)


def test_defaults_with_an_empty_environment(tmp_path):
    settings = load(tmp_path)
    assert (settings.host, settings.port, settings.num_workers, settings.scheme) == ("127.0.0.1", 4000, 1, "http")
    env = settings.env
    assert env.s3 is None and env.otlp is None and env.litellm_log == ""
    assert (env.config_hot_reload, env.config_reload_interval, env.config_s3_bucket) == (False, 10.0, None)


def test_the_environment_is_read_into_typed_values(tmp_path):
    env = load(tmp_path, {"CONFIG_HOT_RELOAD": "TRUE", "CONFIG_RELOAD_INTERVAL": "0.5",
                          "CONFIG_S3_BUCKET": "configs", "CONFIG_S3_KEY": "gateway.yaml",
                          "GATEWAY_S3_ENDPOINT": "s3.site:9000", "GATEWAY_S3_SECURE": "false",
                          "GATEWAY_S3_CA_FILE": "/etc/ca.pem", "LITELLM_LOG": "INFO"}).env
    assert env.config_hot_reload is True and env.config_reload_interval == 0.5
    assert (env.config_s3_bucket, env.config_s3_key) == ("configs", "gateway.yaml")
    assert env.s3.endpoint == "s3.site:9000" and env.s3.secure is False and str(env.s3.ca_file) == "/etc/ca.pem"
    assert env.litellm_log == "INFO"


@pytest.mark.parametrize("name, value, problem", [
    ("CONFIG_HOT_RELOAD", "maybe", "'maybe' is not true or false"),
    ("CONFIG_RELOAD_INTERVAL", "soon", "'soon' is not a number of seconds greater than 0"),
    ("CONFIG_RELOAD_INTERVAL", "0", "'0' is not a number of seconds greater than 0"),
    ("CONFIG_RELOAD_INTERVAL", "-3", "'-3' is not a number of seconds greater than 0"),
    ("CONFIG_RELOAD_INTERVAL", "nan", "'nan' is not a number of seconds greater than 0"),
    ("GATEWAY_S3_SECURE", "yes please", "'yes please' is not true or false"),
    ("OTEL_METRIC_EXPORT_INTERVAL", "often", "'often' is not a positive number of milliseconds"),
])
def test_a_bad_environment_value_names_the_variable_and_the_value(tmp_path, name, value, problem):
    environ = {name: value}
    if name.startswith("GATEWAY_S3_"):
        environ["GATEWAY_S3_ENDPOINT"] = "s3.site:9000"
    if name.startswith("OTEL_"):
        environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:4318"
    with pytest.raises(ConfigError) as err:
        load(tmp_path, environ)
    assert (err.value.source, err.value.key) == ("environment", name)
    assert problem in str(err.value)


def test_half_of_the_config_sync_pair_names_the_missing_one(tmp_path):
    with pytest.raises(ConfigError) as err:
        load(tmp_path, {"CONFIG_S3_BUCKET": "configs"})
    assert err.value.key == "CONFIG_S3_KEY" and "CONFIG_S3_BUCKET is set" in str(err.value)


@pytest.mark.parametrize("options, key, problem", [
    ({"port": 0}, "--port", "0 is not a TCP port"),
    ({"port": 70000}, "--port", "70000 is not a TCP port"),
    ({"num_workers": 0}, "--num-workers", "0 is not a number of processes"),
    ({"ssl_certfile": "cert.pem"}, "--ssl-keyfile", "--ssl-certfile and --ssl-keyfile go together"),
    ({"host": ""}, "--host", "empty"),
])
def test_a_bad_option_names_the_option_and_the_value(tmp_path, options, key, problem):
    with pytest.raises(ConfigError) as err:
        load(tmp_path, **options)
    assert (err.value.source, err.value.key) == ("arguments", key)
    assert problem in str(err.value)


def test_the_config_file_is_checked_first(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        ServeSettings.load(tmp_path / "missing.yaml", {"CONFIG_HOT_RELOAD": "maybe"})


def test_settings_are_frozen(tmp_path):
    settings = load(tmp_path)
    with pytest.raises(AttributeError):
        settings.port = 1  # type: ignore[misc]


def test_no_s3_store_without_an_endpoint():
    assert s3_settings_from_env({"GATEWAY_S3_ACCESS_KEY": "k"}) is None
    assert s3_settings_from_env({"GATEWAY_S3_ENDPOINT": "s3:9000"}).secure is True


def test_environment_settings_read_the_process_environment(monkeypatch):
    monkeypatch.setenv("CONFIG_RELOAD_INTERVAL", "2.5")
    assert EnvironmentSettings.read().config_reload_interval == 2.5
