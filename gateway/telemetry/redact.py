"""Prompt text and keys out of every log line, DEBUG included (issue 17).

At DEBUG (`LITELLM_LOG=DEBUG`, `litellm_settings.set_verbose`) LiteLLM logs whole request bodies, as
Python reprs or JSON ("receiving data: {'model': ..., 'messages': [{'role': 'user', 'content': ...}]}"),
and `set_verbose` also print()s them. The values of the fields that carry content or secrets are
replaced by `[REDACTED]` wherever such a line goes: the console, LiteLLM's own handler, OTLP, stdout.
The line keeps its shape, so debugging the request flow still works; the text itself is never logged.
"""

from __future__ import annotations

import io
import logging
import re

REDACTED = "[REDACTED]"
# Fields whose string (or list-of-strings) value is request or response content, or a secret.
CONTENT_KEYS = ("content", "text", "prompt", "input", "query", "instructions", "system", "reasoning_content",
                "arguments", "api_key", "master_key", "authorization", "x-api-key", "password", "token")
_STR = r"""(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")"""
_VALUE = rf"(?:{_STR}|\[\s*(?:{_STR}\s*,?\s*)*\])"
# 'key': value (repr), "key": value (JSON), key=value (keyword arguments in a logged call)
_FIELD = re.compile(
    rf"""(?P<key>(?P<q>['"])(?:{'|'.join(map(re.escape, CONTENT_KEYS))})(?P=q)\s*:\s*|"""
    rf"""\b(?:{'|'.join(k for k in CONTENT_KEYS if k.isidentifier())})=){_VALUE}""",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(?i)\b(bearer\s+)[^\s'\"]+")
_SK_KEY = re.compile(r"\bsk-[A-Za-z0-9_\-]{4,}")


def redact(text: str) -> str:
    """`text` with content and secret values replaced; unchanged when there are none."""
    if not text:
        return text
    text = _FIELD.sub(lambda m: m.group("key") + f"'{REDACTED}'", text)
    text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
    return _SK_KEY.sub(REDACTED, text)


class RedactFilter(logging.Filter):
    """Rewrites the record's message, redacted; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a bad format string: logging reports it itself later
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


class RedactingStream(io.TextIOBase):
    """A text stream (stdout) that redacts each write: LiteLLM's `set_verbose` print()s whole lines."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(redact(text))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def fileno(self) -> int:
        return self.stream.fileno()

    def isatty(self) -> bool:
        return self.stream.isatty()


def install(logger_names: tuple[str, ...], root: logging.Logger | None = None) -> None:
    """The filter on the root logger's handlers and on `logger_names` (LiteLLM's loggers carry their own
    handler, which records logged to them reach before the root's); idempotent."""
    root = root or logging.getLogger()
    targets = [*root.handlers, *(logging.getLogger(name) for name in logger_names)]
    for target in targets:
        if not any(isinstance(f, RedactFilter) for f in target.filters):
            target.addFilter(RedactFilter())
