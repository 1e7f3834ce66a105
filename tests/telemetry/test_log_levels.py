"""LiteLLM's loggers under `gateway serve`: quiet by default, DEBUG with set_verbose, LITELLM_LOG respected."""

from __future__ import annotations

import logging

import pytest

from gateway.telemetry.setup import LITELLM_LOGGERS, apply_verbose


@pytest.fixture(autouse=True)
def restore_levels():
    names = (*LITELLM_LOGGERS, "gateway")
    saved = {name: logging.getLogger(name).level for name in names}
    yield
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


def test_litellm_info_records_are_dropped_by_default_while_the_gateways_pass(caplog):
    for name in LITELLM_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)  # as LiteLLM leaves them
    assert apply_verbose({}, environ={}) is False
    with caplog.at_level(logging.INFO):
        logging.getLogger("LiteLLM Router").info("per-request chatter")
        logging.getLogger("LiteLLM").warning("something worth seeing")
        logging.getLogger("gateway.serve").info("gateway line")
    assert [r.getMessage() for r in caplog.records] == ["something worth seeing", "gateway line"]


def test_litellm_log_in_the_environment_leaves_litellms_levels_alone():
    for name in LITELLM_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)
    apply_verbose({}, environ={"LITELLM_LOG": "INFO"})
    assert {logging.getLogger(name).level for name in LITELLM_LOGGERS} == {logging.NOTSET}


def test_set_verbose_puts_litellm_and_the_gateway_at_debug():
    assert apply_verbose({"set_verbose": True}, environ={}) is True
    assert {logging.getLogger(name).level for name in (*LITELLM_LOGGERS, "gateway")} == {logging.DEBUG}
