"""Debian's nginx as the load balancer in front of several gateway processes, on loopback.

The test writes the whole config into a temporary prefix and runs nginx in the foreground
(`daemon off`), so nothing under /etc/nginx or /var/log/nginx is read or written. The upstream
settings are those of the loadbalancer role (`ansible/roles/loadbalancer/templates/appliance-lb.conf.j2`)
with plain HTTP on the hop to the gateways.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.appliance.servers import _stop, free_port, wait_port

NGINX = "/usr/sbin/nginx"

CONFIG = """\
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 512; }}
http {{
    log_format ha '$msec "$request_method $uri" $status rt=$request_time upstream=$upstream_addr '
                  'ust=$upstream_status';
    access_log {prefix}/access.log ha;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;

    upstream gateways {{
{servers}
        keepalive 16;
        # below uvicorn's keep-alive (5 s): else nginx may send a POST on a connection the gateway
        # is closing as idle, and a POST already sent is not retried (a 502 for the client)
        keepalive_timeout 4s;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://gateways;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_connect_timeout 2s;
            proxy_read_timeout 60s;
            # A refused or reset connection, or a 502/503, is a failure of that gateway (max_fails)
            # and the request goes to the next one, unless a POST was already sent (not idempotent).
            proxy_next_upstream error timeout http_502 http_503;
        }}
    }}
}}
"""


def render(port: int, prefix: Path, gateway_ports: list[int], max_fails: int = 1, fail_timeout: str = "5s",
           upstreams_file: Path | None = None) -> str:
    """The server lines inline, or an `include` of the list appliance-lb-health keeps (as the role does)."""
    if upstreams_file is not None:
        servers = f"        include {upstreams_file};"
    else:
        servers = "\n".join(f"        server 127.0.0.1:{p} max_fails={max_fails} fail_timeout={fail_timeout};"
                            for p in gateway_ports)
    return CONFIG.format(prefix=prefix, port=port, servers=servers)


class Nginx:
    """`nginx -p <tmp> -c <tmp>/nginx.conf` in the foreground; `url` is its loopback address."""

    def __init__(self, gateway_ports: list[int], **upstream_options):
        if not Path(NGINX).exists():
            pytest.fail(f"{NGINX} not found: apt-get install nginx-light")
        self.prefix = Path(tempfile.mkdtemp(prefix="ha-nginx-"))
        os.chmod(self.prefix, 0o755)  # workers run as nobody when the master is root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.conf = self.prefix / "nginx.conf"
        self.conf.write_text(render(self.port, self.prefix, gateway_ports, **upstream_options))
        self.proc: subprocess.Popen | None = None

    def start(self) -> Nginx:
        check = subprocess.run([NGINX, "-t", "-p", str(self.prefix), "-c", str(self.conf), "-e", "stderr"],
                               capture_output=True, text=True, timeout=30)
        if check.returncode != 0:
            pytest.fail(f"nginx -t refused {self.conf}:\n{check.stderr}")
        with open(self.prefix / "stdout.log", "wb") as out:
            self.proc = subprocess.Popen([NGINX, "-p", str(self.prefix), "-c", str(self.conf), "-e",
                                          str(self.prefix / "error.log")], stdout=out, stderr=subprocess.STDOUT)
        wait_port(self.port, self.proc, 20, self.prefix / "error.log")
        return self

    @property
    def pid_file(self) -> Path:
        return self.prefix / "nginx.pid"

    def access_log(self) -> list[str]:
        path = self.prefix / "access.log"
        return path.read_text(errors="replace").splitlines() if path.exists() else []

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def close(self) -> None:
        if self.proc is not None:
            _stop(self.proc, grace=10)
            self.proc = None
        shutil.rmtree(self.prefix, ignore_errors=True)
