"""Content and secret values are replaced in log lines of every shape LiteLLM writes at DEBUG."""

from __future__ import annotations

import io
import logging

import pytest

from gateway.telemetry.redact import RedactFilter, RedactingStream, install, redact


@pytest.mark.parametrize(
    "line, kept",
    [
        ("receiving data: {'model': 'auto', 'messages': [{'role': 'user', 'content': \"it's SECRET\"}]}",
         "receiving data: {'model': 'auto', 'messages': [{'role': 'user', 'content': '[REDACTED]'}]}"),
        ('{"model": "auto", "messages": [{"role": "user", "content": "SECRET \\"quoted\\""}]}',
         '{"model": "auto", "messages": [{"role": "user", "content": \'[REDACTED]\'}]}'),
        ("litellm.acompletion(api_key='sk-abcdef', messages=[{'content': [{'type': 'text', 'text': 'SECRET'}]}])",
         "litellm.acompletion(api_key='[REDACTED]', messages=[{'content': [{'type': 'text', 'text': '[REDACTED]'}]}])"),
        ("embedding input=['SECRET one', 'SECRET two'] dims=3", "embedding input='[REDACTED]' dims=3"),
        ("curl -H 'Authorization: Bearer sk-SECRET123' -d x", "curl -H 'Authorization: Bearer [REDACTED]' -d x"),
        ("'input_tokens': 5, max_input=3, 'model': 'demo-coder'",
         "'input_tokens': 5, max_input=3, 'model': 'demo-coder'"),
    ],
)
def test_values_are_replaced_and_the_shape_kept(line, kept):
    assert redact(line) == kept
    assert "SECRET" not in redact(line)


def test_the_filter_rewrites_formatted_records_and_the_stream_its_writes(caplog):
    logger = logging.getLogger("tests.redact")
    logger.addFilter(RedactFilter())
    try:
        with caplog.at_level(logging.DEBUG, logger="tests.redact"):
            logger.debug("data: %s", {"content": "SECRET"})
            logger.debug("no args, 'prompt': 'SECRET'")
    finally:
        logger.filters.clear()
    assert [r.getMessage() for r in caplog.records] == ["data: {'content': '[REDACTED]'}",
                                                       "no args, 'prompt': '[REDACTED]'"]
    out = io.StringIO()
    print("Params passed to completion() {'messages': [{'content': 'SECRET'}]}", file=RedactingStream(out))
    assert out.getvalue() == "Params passed to completion() {'messages': [{'content': '[REDACTED]'}]}\n"


def test_install_covers_root_handlers_and_named_loggers_once():
    root = logging.Logger("root-under-test")
    handler = logging.StreamHandler(io.StringIO())
    root.addHandler(handler)
    install(("tests.redact.named",), root)
    install(("tests.redact.named",), root)
    named = logging.getLogger("tests.redact.named")
    try:
        assert sum(isinstance(f, RedactFilter) for f in handler.filters) == 1
        assert sum(isinstance(f, RedactFilter) for f in named.filters) == 1
    finally:
        named.filters.clear()
