"""A real Redis 7 with mTLS (the layout of `tests.appliance.servers.redis`) that a test can stop and
start again on the same port, plus a redis-py client holding the gateway's client certificate."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import redis as redis_client

from tests.appliance.servers import _stop, free_port, wait_port


def redis_env(pki, port: int) -> dict[str, str]:
    """LiteLLM passes every REDIS_* variable to each Redis client it builds (cache and router)."""
    return {"REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(port), "REDIS_SSL": "True",
            "REDIS_SSL_CA_CERTS": str(pki.ca), "REDIS_SSL_CERTFILE": str(pki.client_cert),
            "REDIS_SSL_KEYFILE": str(pki.client_key)}


def client(pki, port: int) -> redis_client.Redis:
    return redis_client.Redis(host="127.0.0.1", port=port, ssl=True, ssl_ca_certs=str(pki.ca),
                              ssl_certfile=str(pki.client_cert), ssl_keyfile=str(pki.client_key),
                              socket_timeout=5)


class RedisServer:
    """`redis-server` on a fixed loopback TLS port; `stop()` and `start()` keep port and config."""

    def __init__(self, pki_dir: Path, server: str = "loopback"):
        exe = shutil.which("redis-server")
        if exe is None:
            pytest.fail("redis-server not found: apt-get install redis-server")
        self.exe = exe
        self.base = Path(tempfile.mkdtemp(prefix="ha-redis-"))
        self.port = free_port()
        self.conf = self.base / "redis.conf"
        self.conf.write_text(
            f'port 0\ntls-port {self.port}\nbind 127.0.0.1\ndir {self.base}\nsave ""\nappendonly no\n'
            f"tls-cert-file {pki_dir}/servers/{server}.chain.pem\ntls-key-file {pki_dir}/servers/{server}.key\n"
            f"tls-ca-cert-file {pki_dir}/ca-bundle.pem\ntls-auth-clients yes\n"
        )
        self.log = self.base / "redis.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> RedisServer:
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen([self.exe, str(self.conf)], stdout=log, stderr=subprocess.STDOUT)
        wait_port(self.port, self.proc, 20, self.log)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc, grace=10)
            self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)
