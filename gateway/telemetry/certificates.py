"""Days to expiry of the host's installed certificates and CRLs on `/metrics`, read at each scrape.

    gateway_certificate_expiry_days{name="/etc/gateway/pki/servers/gateway.chain.pem#0",kind="certificate",
                                    subject="gateway.lab.internal"} 212.4

An alert on `gateway_certificate_expiry_days < 30` gives a month to run the renewal (docs/moat-mode.md,
"Renew"). The files are re-read at every scrape (a few dozen PEM blocks, well under a millisecond
each), so a renewed certificate shows as soon as it is deployed, with no restart. A file that cannot be
read is counted in `gateway_certificate_scan_errors` instead of breaking `/metrics`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from prometheus_client.core import REGISTRY, GaugeMetricFamily

from gateway.appliance.errors import PkiError
from gateway.appliance.expiry import scan

log = logging.getLogger(__name__)
ENV = "GATEWAY_CERTIFICATE_DIRS"
# The pki role's directory and the gateway role's own TLS copies; missing ones are skipped.
DEFAULT_DIRS = "/etc/gateway/pki:/etc/gateway/tls"


def directories() -> list[Path]:
    return [Path(d) for d in os.environ.get(ENV, DEFAULT_DIRS).split(":") if d]


class CertificateExpiryCollector:
    """A prometheus_client custom collector; `dirs` are scanned when the registry is collected."""

    def __init__(self, dirs: list[Path]):
        self.dirs = dirs

    def collect(self):
        days = GaugeMetricFamily("gateway_certificate_expiry_days",
                                 "Days until an installed certificate's notAfter or a CRL's nextUpdate "
                                 "(negative: past)",
                                 labels=["name", "kind", "subject"])
        errors = 0
        for directory in self.dirs:
            if not directory.is_dir():
                continue
            try:
                for e in scan(directory):
                    days.add_metric([f"{directory}/{e.name}", e.kind, e.subject], round(e.days, 3))
            except PkiError as exc:
                log.warning("certificate expiry: %s", exc)
                errors += 1
        yield days
        yield GaugeMetricFamily("gateway_certificate_scan_errors",
                                "Certificate directories that could not be read at the last scrape", value=errors)


def install(registry=REGISTRY) -> None:
    """Register once per registry: the app set-up may run twice in one process (tests), and the
    registry refuses a second collector of the same metric names with ValueError."""
    try:
        registry.register(CertificateExpiryCollector(directories()))
    except ValueError as exc:
        if "Duplicated timeseries" not in str(exc):
            raise
