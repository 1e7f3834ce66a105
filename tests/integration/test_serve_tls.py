"""`gateway serve --ssl-certfile/--ssl-keyfile` serves HTTPS with a certificate from the site PKI
(what the appliance's revocation-checking TLS front connects to on loopback)."""

from __future__ import annotations

import json
import subprocess

from tests.helpers import knn_config, write_config
from tests.integration.gateway_process import GatewayProcess
from tests.reload.s3_store import DOMAIN, site_pki

NAME = f"gateway.{DOMAIN}"


def curl(pki_dir, port, path, *extra):
    return subprocess.run(
        ["curl", "-sS", "--max-time", "10", "--resolve", f"{NAME}:{port}:127.0.0.1",
         "--cacert", str(pki_dir / "root-ca.crt"), *extra, f"https://{NAME}:{port}{path}"],
        capture_output=True, text=True)


def test_https_with_the_site_certificate(tmp_path, demo_artifact):
    pki_dir = site_pki(tmp_path / "pki")
    config = write_config(tmp_path, knn_config(demo_artifact))
    gateway = GatewayProcess(config, tmp_path / "gateway.log", extra_args=[
        "--ssl-certfile", str(pki_dir / "servers" / "gateway.chain.pem"),
        "--ssl-keyfile", str(pki_dir / "servers" / "gateway.key")])
    try:
        gateway.wait_ready(probe=lambda: curl(pki_dir, gateway.port, "/health/liveliness").returncode == 0)
        body = json.dumps({"model": "auto", "messages": [{"role": "user", "content": "Write a Python class"}]})
        result = curl(pki_dir, gateway.port, "/v1/chat/completions", "-H", "Authorization: Bearer sk-test",
                      "-H", "Content-Type: application/json", "-d", body)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["model"] == "demo-coder"
        # plain HTTP is not served on that port, and a client without the site CA refuses the server
        assert subprocess.run(["curl", "-sS", "--max-time", "5", f"http://127.0.0.1:{gateway.port}/"],
                              capture_output=True).stdout in (b"",)
        untrusted = subprocess.run(["curl", "-sS", "--max-time", "5", "--resolve", f"{NAME}:{gateway.port}:127.0.0.1",
                                    f"https://{NAME}:{gateway.port}/health/liveliness"], capture_output=True, text=True)
        assert untrusted.returncode != 0 and "certificate" in untrusted.stderr
        assert f"listening on https://127.0.0.1:{gateway.port}" in gateway.log()
    finally:
        gateway.stop()
