"""One HTTPS request from a chosen source address, verified against the site CA; prints JSON.

Run inside the client network namespace by the Ansible tests (the users' network of the manifest).
"""

from __future__ import annotations

import argparse
import http.client
import json
import ssl
import sys
from urllib.parse import urlsplit


class NamedHTTPSConnection(http.client.HTTPSConnection):
    """Connects to an address but verifies the certificate for the service's name (no DNS here)."""

    def __init__(self, *args, server_name: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.server_name = server_name

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self.server_name)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--source", required=True)
    p.add_argument("--server-name", required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--json")
    p.add_argument("--bearer")
    a = p.parse_args()
    url = urlsplit(a.url)
    ctx = ssl.create_default_context(cafile=a.ca)
    conn = NamedHTTPSConnection(url.hostname, url.port or 443, context=ctx, timeout=60,
                                source_address=(a.source, 0), server_name=a.server_name)
    headers = {"Host": a.server_name}
    if a.bearer:
        headers["Authorization"] = f"Bearer {a.bearer}"
    body = None
    if a.json is not None:
        body, headers["Content-Type"] = a.json.encode(), "application/json"
    conn.request("POST" if body is not None else "GET", url.path or "/", body=body, headers=headers)
    resp = conn.getresponse()
    raw = resp.read()
    try:
        data = json.loads(raw)
    except ValueError:
        data = raw.decode(errors="replace")
    headers_out = {k.lower(): v for k, v in resp.getheaders()}
    json.dump({"status": resp.status, "headers": headers_out, "json": data}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
