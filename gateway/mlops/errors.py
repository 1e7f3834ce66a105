"""Errors of the MLOps loop: one hierarchy under the gateway's, raised by library code, shown by the CLI."""

from __future__ import annotations

from gateway.errors import GatewayError


class MLOpsError(GatewayError):
    """A step of the training loop cannot go on; the message says which input and why."""


class TraceFormatError(MLOpsError):
    """A trace file is not in the format its reader expects (not a span with missing attributes)."""


class DatasetError(MLOpsError):
    """The training data cannot train a router (empty, one model, no quality labels)."""


class GateError(MLOpsError):
    """A trained model did not pass the evaluation gate: nothing is published."""
