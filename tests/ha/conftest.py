"""tests/ha uses the observability fixtures (loopback PKI, gateway starter)."""

from tests.observability.conftest import pki, receiver  # noqa: F401 - fixtures
