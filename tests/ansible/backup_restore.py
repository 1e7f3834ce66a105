"""Backup, destroy, restore on the site test's installed node (called from tests/ansible/test_site.py, so
the node booted and installed there is reused rather than a second one booted).

What "the same" means here: the PostgreSQL rows, the Redis key, every S3 object (ETag and sha256), the
site's CA certificates (same bytes, and the host's server chain still verifies against them), the
gateway's applied artifact token and a routed answer; a tampered archive and a wrong passphrase are
refused before any host is touched; the archive holds no private key in clear.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from gateway.sums import verify_sums
from tests.ansible.outside import master_key, user_https
from tests.ansible.playbook import REPO, run_playbook

MANIFEST = REPO / "examples/appliance/single-node/appliance.yaml"
PSQL = ["psql", "-h", "/var/run/postgresql", "-U", "postgres", "-d", "litellm", "-Atc"]
# Host Python in the node's network namespace (psycopg, redis, minio are in the test venv).
_S3 = (
    "import hashlib, json, sys\n"
    "from gateway.config.models import S3Settings\nfrom gateway.reload.s3 import make_client\n"
    "a = sys.argv[1:]\n"
    "c = make_client(S3Settings(endpoint='127.0.0.1:8333', tls_server_name='s3.appliance.internal', ca_file=a[0],"
    " cert_file=a[1], key_file=a[2], access_key=a[3], secret_key=a[4]))\n"
    "out = {}\n"
    "for b in ('routing-artifacts', 'gateway-config'):\n"
    " for o in c.list_objects(b, recursive=True):\n"
    "  data = c.get_object(b, o.object_name).read()\n"
    "  out[f'{b}/{o.object_name}'] = [o.etag, hashlib.sha256(data).hexdigest()]\n"
    "print(json.dumps(out, sort_keys=True))\n")
_REDIS = (
    "import sys, redis\n"
    "r = redis.Redis(host='127.0.0.1', port=6379, ssl=True, ssl_ca_certs=sys.argv[1], ssl_certfile=sys.argv[2],"
    " ssl_keyfile=sys.argv[3], ssl_check_hostname=False, username='gateway', password=sys.argv[4], socket_timeout=5)\n"
    "if len(sys.argv) > 5: r.set('day-two:backup', sys.argv[5])\n"
    "print(r.get('day-two:backup'))\n")


def _secret(site: Path, name: str) -> str:
    return (site / "secrets" / name).read_text().split()[0]


def _client_tls(site: Path) -> list[str]:
    pki = site / "pki"
    return [str(pki / "ca-bundle.pem"), str(pki / "clients/gateway.chain.pem"), str(pki / "clients/gateway.key")]


def _host_python(node, code: str, *args: str) -> str:
    out = node.node_net([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip()


def s3_objects(node, site: Path) -> dict[str, list[str]]:
    return json.loads(_host_python(node, _S3, *_client_tls(site), _secret(site, "s3-gateway-access-key"),
                                   _secret(site, "s3-gateway-secret-key")))


def redis_value(node, site: Path, set_to: str | None = None) -> str:
    return _host_python(node, _REDIS, *_client_tls(site), _secret(site, "redis-gateway"),
                        *([set_to] if set_to else []))


def psql(node, sql: str) -> str:
    out = node.exec([*PSQL, sql], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def snapshot(node, site: Path) -> dict:
    """What a restore must bring back, read from outside the playbooks."""
    status = user_https(node, site, "/hot-reload/status", key=master_key(site))
    assert status["status"] == 200, status
    return {
        "rows": psql(node, "SELECT id, note FROM day_two ORDER BY id"),
        "redis": redis_value(node, site),
        "s3": s3_objects(node, site),
        "ca": {n: (site / "pki" / n).read_bytes() for n in ("root-ca.crt", "intermediate-ca.crt", "ca-bundle.pem")},
        "token": status["json"]["model_groups"]["auto"]["applied_token"],
    }


def backup_args(tmp: Path) -> list[str]:
    passphrase = tmp / "passphrase"
    if not passphrase.exists():
        passphrase.write_text("correct horse battery staple\n")
        passphrase.chmod(0o600)
    return ["-e", f"backup_passphrase_file={passphrase}", "-e", f"backup_dir={tmp / 'backups'}"]


def check_archive(archive: Path, tmp: Path) -> None:
    """One tar: SHA256SUMS (gateway/sums.py's format) covers every file; no private key in clear."""
    assert archive.stat().st_mode & 0o777 == 0o600
    out = tmp / "unpacked"
    out.mkdir()
    subprocess.run(["tar", "-xf", str(archive), "-C", str(out)], check=True)
    [top] = list(out.iterdir())
    assert verify_sums(top) == []
    names = {p.relative_to(top).as_posix() for p in top.rglob("*") if p.is_file()}
    assert {"BACKUP-INFO", "SHA256SUMS", "manifest.yaml", "site.tar.vault", "hosts/node1/postgresql-litellm.dump",
            "hosts/node1/redis.tar", "hosts/node1/s3.tar"} <= names, names
    assert (top / "site.tar.vault").read_bytes().startswith(b"$ANSIBLE_VAULT;1.1;AES256")
    assert b"PRIVATE KEY" not in archive.read_bytes()  # the CA and service keys travel encrypted only


def destroy(node, site: Path) -> None:
    """The data on the host and the controller's site tree (PKI, secrets) are gone."""
    for unit, data in (("redis-server", "/var/lib/redis"), ("seaweedfs", "/var/lib/seaweedfs")):
        out = node.exec(["sh", "-c", f"systemctl stop {unit} && find {data} -mindepth 1 -delete && "
                                     f"systemctl start {unit}"], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
    node.exec(["dropdb", "--force", "-h", "/var/run/postgresql", "-U", "postgres", "litellm"], check=True)
    shutil.rmtree(site / "pki")
    shutil.rmtree(site / "secrets")


def tampered(archive: Path, tmp: Path) -> Path:
    """The same archive with one byte of the Redis data changed (its SHA256SUMS unchanged)."""
    out = tmp / "tampered" / archive.name
    out.parent.mkdir()
    with tarfile.open(archive) as src, tarfile.open(out, "w") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read() if member.isfile() else None
            if member.name.endswith("hosts/node1/redis.tar"):
                data = data[:-1] + bytes([data[-1] ^ 1])
            dst.addfile(member, None if data is None else io.BytesIO(data))
    return out


def wait_for_routing(node, site: Path, seconds: float = 180) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        answer = user_https(node, site, "/v1/chat/completions",
                             {"model": "auto", "messages": [{"role": "user", "content": "write a python function"}]},
                             key=master_key(site))
        if answer["status"] == 200 or time.monotonic() > deadline:
            return answer
        time.sleep(3)


def backup_destroy_restore(node, site: Path, tmp: Path) -> dict[str, float]:
    """The whole round trip; returns the playbooks' wall times."""
    psql(node, "CREATE TABLE IF NOT EXISTS day_two (id int PRIMARY KEY, note text); "
               "INSERT INTO day_two VALUES (1, 'before the backup'), (2, 'é ✓') ON CONFLICT DO NOTHING")
    redis_value(node, site, set_to="kept across restore")
    before = snapshot(node, site)
    assert before["s3"] and before["redis"] == "b'kept across restore'" and before["token"], before
    times = {}

    t0 = time.monotonic()
    done = run_playbook(site, node, *backup_args(tmp), "-e", f"backup_manifest={MANIFEST}", playbook="backup.yml")
    times["backup"] = time.monotonic() - t0
    assert done.returncode == 0, done.tail()
    [archive] = list((tmp / "backups").glob("*.tar"))
    check_archive(archive, tmp)
    assert snapshot(node, site) == before  # the stop-and-copy of Redis and S3 lost nothing

    ca_key = (site / "pki/root-ca.key").read_bytes()
    destroy(node, site)
    refused = run_playbook(site, node, *backup_args(tmp), "-e", f"backup_archive={tampered(archive, tmp)}",
                           playbook="restore.yml")
    assert refused.returncode != 0 and "does not match its SHA256SUMS" in refused.stdout, refused.tail()
    (tmp / "wrong").write_text("not the passphrase\n")
    (tmp / "wrong").chmod(0o600)
    refused = run_playbook(site, node, *backup_args(tmp), "-e", f"backup_passphrase_file={tmp / 'wrong'}",
                           "-e", f"backup_archive={archive}", playbook="restore.yml")
    assert refused.returncode != 0 and "does not decrypt" in refused.stdout, refused.tail()
    assert not (site / "pki").exists()  # neither refused run changed anything

    t0 = time.monotonic()
    done = run_playbook(site, node, *backup_args(tmp), "-e", f"backup_archive={archive}", playbook="restore.yml")
    times["restore"] = time.monotonic() - t0
    assert done.returncode == 0, done.tail()
    assert (site / "pki/root-ca.key").read_bytes() == ca_key
    assert (site / "appliance.yaml").read_bytes() == MANIFEST.read_bytes()
    answer = wait_for_routing(node, site)
    assert answer["status"] == 200, answer
    assert answer["headers"].get("x-gateway-routed-model") in {"demo-small", "demo-coder", "demo-large"}
    after = snapshot(node, site)
    assert after == before, {k: (before[k], after[k]) for k in before if before[k] != after[k]}
    chain = node.exec(["cat", "/etc/gateway/pki/servers/gateway.chain.pem"], capture_output=True, check=True).stdout
    (tmp / "gateway.chain.pem").write_bytes(chain)
    verified = subprocess.run(["openssl", "verify", "-CAfile", str(site / "pki/ca-bundle.pem"), "-untrusted",
                               str(tmp / "gateway.chain.pem"), str(tmp / "gateway.chain.pem")],
                              capture_output=True, text=True)
    assert verified.returncode == 0, verified.stdout + verified.stderr

    t0 = time.monotonic()
    check = run_playbook(site, node, "--check")  # the restored site tree is the one deployed: no drift
    times["check after restore"] = time.monotonic() - t0
    assert check.returncode == 0 and check.recap["node1"]["changed"] == 0, check.changed_tasks() or check.tail()
    return times
