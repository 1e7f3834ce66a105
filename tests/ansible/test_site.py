"""`ansible-playbook site.yml` against a booted Debian 12 systemd container, offline, then checked from outside.

The node lives in its own network namespace with one veth to a client namespace (198.18.0.0/15 and the
manifest's user/admin networks); nothing else is reachable. Packages come from the local apt repository,
Python packages from the wheelhouse, SeaweedFS from vendor/. The collector's package cannot be had on this
machine, so the first runs set otelcol_enabled=false (docs/install.md says so); the operator's runs (#18)
put the OTLP sink in the collector's place (otelcol_backend=sink).
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.ansible.container import ansible_bin, booted_node
from tests.ansible.outside import NODE_ADDRESS, master_key, tcp_outcome, user_https
from tests.ansible.playbook import REPO, apply_twice, generate_site, run_playbook

pytestmark = [pytest.mark.ansible, pytest.mark.slow, pytest.mark.netns]



@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    return generate_site(tmp_path_factory.mktemp("site"), REPO / "examples/appliance/single-node/appliance.yaml")


@pytest.fixture(scope="module")
def installed(site):
    """One node, the playbook applied twice; yields (node, first run, second run)."""
    with booted_node("gwt-node1", address=f"{NODE_ADDRESS}/24") as node:
        yield node, *apply_twice(site, node)


def test_second_run_changes_nothing(installed):
    _, first, second = installed
    assert first.recap["node1"]["changed"] > 0
    assert second.recap["node1"]["changed"] == 0, second.changed_tasks()
    assert second.recap["node1"]["failed"] == 0


def test_check_mode_on_an_installed_node_reports_no_drift(installed, site):
    node, _, _ = installed
    check = run_playbook(site, node, "--check", "--diff")
    assert check.returncode == 0, check.tail()
    assert check.recap["node1"]["changed"] == 0, check.changed_tasks()


def test_check_mode_on_a_fresh_node_changes_nothing_and_does_not_fail(site):
    """`--check` before the first install: the base roles report what they would write, services are skipped."""
    with booted_node("gwt-fresh", address=f"{NODE_ADDRESS}/24") as node:
        check = run_playbook(site, node, "--check")
        assert check.returncode == 0, check.tail()
        assert check.recap["node1"]["changed"] > 0  # it would install: the base roles say what
        assert "has no installation yet" in check.stdout
        untouched = node.exec(["sh", "-c", "test ! -e /opt/appliance/apt.tar && test ! -e /etc/gateway/pki "
                               "&& ! grep -q appliance /etc/hosts && echo untouched"], capture_output=True, text=True)
        assert untouched.stdout.strip() == "untouched", untouched.stdout + untouched.stderr


def test_gateway_answers_a_routed_completion_over_tls_through_the_load_balancer(installed, site):
    node, _, _ = installed
    answer = user_https(node, site, "/v1/chat/completions",
                         {"model": "auto", "messages": [{"role": "user", "content": "write a python function"}]},
                         key=master_key(site))
    assert answer["status"] == 200, answer
    routed = answer["headers"].get("x-gateway-routed-model")
    assert routed in {"demo-small", "demo-coder", "demo-large"}, answer["headers"]
    assert answer["headers"].get("x-gateway-routing-strategy") == "llmrouter-knn"
    assert answer["json"]["choices"][0]["message"]["content"]


def test_gateway_refuses_a_request_without_the_key(installed, site):
    node, _, _ = installed
    answer = user_https(node, site, "/v1/chat/completions",
                         {"model": "auto", "messages": [{"role": "user", "content": "hi"}]})
    assert answer["status"] == 401


def test_ports_the_manifest_does_not_declare_are_dropped(installed):
    node, _, _ = installed
    assert tcp_outcome(node, NODE_ADDRESS, 443) == "open"
    for port in (5432, 6379, 8333, 4000, 14000, 80):
        assert tcp_outcome(node, NODE_ADDRESS, port) == "dropped", port
    ruleset = node.exec(["nft", "list", "table", "inet", "appliance"], capture_output=True, text=True)
    dropped = re.search(r"counter packets (\d+) bytes \d+ comment \"drop: not in the manifest\"", ruleset.stdout)
    assert dropped and int(dropped.group(1)) > 0, ruleset.stdout


def _node_python(node, code: str, *args: str) -> subprocess.CompletedProcess:
    """Host Python (with psycopg, redis, minio) inside the node's network namespace: its loopback services."""
    return node.node_net([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60)


def test_postgresql_refuses_connections_without_a_client_certificate(installed, site):
    node, _, _ = installed
    pki = site / "pki"
    code = (
        "import psycopg, sys\n"
        "base = dict(host='postgresql.appliance.internal', hostaddr='127.0.0.1', port=5432, dbname='litellm',"
        " user='gateway', sslmode='verify-full', sslrootcert=sys.argv[1], connect_timeout=5)\n"
        "try:\n psycopg.connect(**base).close(); print('no-cert: accepted')\n"
        "except psycopg.OperationalError as e:\n print('no-cert: refused')\n"
        "with psycopg.connect(**base, sslcert=sys.argv[2], sslkey=sys.argv[3]) as c:\n"
        " print('cert:', c.execute('select current_user').fetchone()[0])\n")
    out = _node_python(node, code, str(pki / "ca-bundle.pem"), str(pki / "clients/gateway.chain.pem"),
                       str(pki / "clients/gateway.key"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["no-cert: refused", "cert: gateway"], out.stdout


def test_redis_refuses_connections_without_a_client_certificate(installed, site):
    node, _, _ = installed
    pki = site / "pki"
    code = (
        "import redis, sys\n"
        "base = dict(host='127.0.0.1', port=6379, ssl=True, ssl_ca_certs=sys.argv[1], socket_timeout=5,"
        " ssl_check_hostname=False)\n"
        "try:\n redis.Redis(**base).ping(); print('no-cert: accepted')\n"
        "except redis.ConnectionError:\n print('no-cert: refused')\n"
        "r = redis.Redis(**base, ssl_certfile=sys.argv[2], ssl_keyfile=sys.argv[3], username='gateway',"
        " password=sys.argv[4])\n"
        "print('cert:', r.ping())\n")
    password = (site / "secrets/redis-gateway").read_text().split()[0]
    out = _node_python(node, code, str(pki / "ca-bundle.pem"), str(pki / "clients/gateway.chain.pem"),
                       str(pki / "clients/gateway.key"), password)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["no-cert: refused", "cert: True"], out.stdout


def test_s3_put_and_get_with_a_client_certificate_and_the_gateway_reloads_from_it(installed, site, tmp_path):
    """The gateway's artifact key in S3: a new object (new ETag) is swapped in, as /hot-reload/status shows."""
    node, _, _ = installed
    seeded = user_https(node, site, "/hot-reload/status", key=master_key(site))["json"]["model_groups"]["auto"]
    assert seeded["source"] == "s3://routing-artifacts/llmrouter-knn/current.tar", seeded
    assert seeded["applied_token"], seeded  # the role seeded S3 and the gateway serves that object
    pki = site / "pki"
    artifact, queries = tmp_path / "knn.tar", tmp_path / "queries.jsonl"
    # Not the seed's queries: a different artifact, so a different ETag.
    demo_queries = (REPO / "examples/demo/queries.jsonl").read_text().splitlines()
    queries.write_text("\n".join(demo_queries[: len(demo_queries) // 2]) + "\n")
    subprocess.run([str(Path(sys.executable).with_name("gateway")), "artifact", "build-demo", "--out", str(artifact),
                    "--queries", str(queries)], check=True, capture_output=True)
    code = (
        "import sys\nfrom pathlib import Path\n"
        "from gateway.config.models import S3Settings\nfrom gateway.reload.s3 import make_client\n"
        "s = S3Settings(endpoint='127.0.0.1:8333', tls_server_name='s3.appliance.internal', ca_file=sys.argv[1],"
        " cert_file=sys.argv[2], key_file=sys.argv[3], access_key=sys.argv[4], secret_key=sys.argv[5])\n"
        "c = make_client(s)\n"
        "c.fput_object('routing-artifacts', 'llmrouter-knn/current.tar', sys.argv[6])\n"
        "got = c.get_object('routing-artifacts', 'llmrouter-knn/current.tar').read()\n"
        "print('roundtrip', got == Path(sys.argv[6]).read_bytes())\n"
        "try:\n"
        " bare = make_client(S3Settings(endpoint='127.0.0.1:8333', tls_server_name='s3.appliance.internal',"
        " ca_file=sys.argv[1], access_key=sys.argv[4], secret_key=sys.argv[5]))\n"
        " bare.bucket_exists('routing-artifacts'); print('no-cert: accepted')\n"
        "except Exception:\n print('no-cert: refused')\n")
    secret = site / "secrets"
    out = _node_python(node, code, str(pki / "ca-bundle.pem"), str(pki / "clients/gateway.chain.pem"),
                       str(pki / "clients/gateway.key"), (secret / "s3-gateway-access-key").read_text().split()[0],
                       (secret / "s3-gateway-secret-key").read_text().split()[0], str(artifact))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["roundtrip True", "no-cert: refused"], out.stdout
    deadline = time.monotonic() + 120
    while True:
        status = user_https(node, site, "/hot-reload/status", key=master_key(site))
        assert status["status"] == 200, status
        group = status["json"]["model_groups"]["auto"]
        if group["applied_token"] != seeded["applied_token"] or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert group["source"] == "s3://routing-artifacts/llmrouter-knn/current.tar", group
    assert group["applied_token"] != seeded["applied_token"] and group["last_error"] is None, group


def test_services_run_as_their_own_users_with_keys_0600(installed):
    node, _, _ = installed
    out = node.exec(["sh", "-c", "ps -o user=,comm= -C python3,redis-server,postgres,weed | sort -u; "
                    "stat -c '%a %U %n' /etc/gateway/pki/servers/*.key /etc/gateway/tls/*.key"],
                    capture_output=True, text=True)
    users = {line.split()[0] for line in out.stdout.splitlines() if line and not line[0].isdigit()}
    assert "root" not in users, out.stdout
    modes = [line.split()[0] for line in out.stdout.splitlines() if line[:1].isdigit()]
    assert modes and set(modes) == {"600"}, out.stdout



def test_the_load_balancer_checks_the_gateway_over_mtls_and_follows_its_readiness(installed, site):
    """HAProxy (the haproxy role): its own root-only copy of the PKI; the gateway in the pool by an mTLS
    check through its front (which logs the `loadbalancer` identity); Redis stopped, the gateway leaves the
    pool and the load balancer fails open; Redis back, it returns; a graceful reload keeps the master and
    saves the servers' states."""
    node, _, _ = installed

    def sh(script: str) -> str:
        return node.exec(["sh", "-c", script], capture_output=True, text=True).stdout

    def states() -> dict[str, str]:
        out = sh("echo 'show stat' | socat stdio /run/haproxy/admin.sock").lstrip("# ")
        return {r["svname"]: r["status"] for r in csv.DictReader(io.StringIO(out))
                if r["pxname"] == "loadbalancer-gateways" and r["bck"] == "0"}

    def wait_for(condition, what: str, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            assert time.monotonic() < deadline, f"{what}; states {states()}"
            time.sleep(0.3)

    def journal() -> str:
        return sh("journalctl -u haproxy -o cat --no-pager")

    state = sh("systemctl is-active haproxy; "
               "stat -c '%a %U' /etc/haproxy/certs /etc/haproxy/certs/clients/loadbalancer.pem; "
               "ps -o user= -C haproxy | sort -u | tr '\\n' ' '")
    assert state.split() == ["active", "700", "root", "600", "root", "haproxy", "root"], state
    wait_for(lambda: states() == {"gateway": "UP"}, "the gateway is not in the pool")
    # The check went through the gateway's front with the load balancer's client certificate.
    assert re.search(r'gateway~ gateway/gateway .* cert=1 verify=0 subject="CN=loadbalancer,O=Example Site"',
                     journal()), journal()[-3000:]

    sh("systemctl stop redis-server")
    try:
        wait_for(lambda: states() == {"gateway": "DOWN"}, "the gateway did not leave the pool")
        assert "Server loadbalancer-gateways/gateway is DOWN, reason: Layer7 wrong status, code: 503" in journal()
        # Fail open: with no gateway ready the request still reaches one, which says what it lacks.
        answer = user_https(node, site, "/health/readiness/dependencies")
        assert answer["status"] == 503 and answer["json"]["unavailable"] == ["redis"], answer
    finally:
        sh("systemctl start redis-server")
    wait_for(lambda: states() == {"gateway": "UP"}, "the gateway did not come back")
    assert user_https(node, site, "/health/readiness/dependencies")["status"] == 200

    master = sh("systemctl show -p MainPID --value haproxy").strip()
    assert sh("systemctl reload haproxy; echo $?").strip() == "0"
    wait_for(lambda: journal().count("Loading success.") >= 2, "no reload")
    assert sh("systemctl show -p MainPID --value haproxy").strip() == master  # graceful: same master
    assert "loadbalancer-gateways" in sh("cat /var/lib/haproxy/server-state")  # saved by ExecReload
    wait_for(lambda: states() == {"gateway": "UP"}, "the gateway is not in the pool after the reload")
    assert user_https(node, site, "/health/readiness/dependencies")["status"] == 200


@pytest.fixture(scope="module")
def local_site(tmp_path_factory) -> Path:
    return generate_site(tmp_path_factory.mktemp("local"), REPO / "examples/appliance/single-node/appliance.yaml")


def test_unknown_inventory_host_stops_the_play_before_any_change(local_site, tmp_path):
    out = run_playbook(local_site, None, inventory_host="intruder")
    assert out.returncode != 0
    assert "inventory host intruder is not a host of the manifest" in out.stdout, out.tail()
    assert out.recap["intruder"]["changed"] == 0


def test_a_changed_vendored_artifact_stops_the_play_naming_the_file(local_site, tmp_path):
    vendor = tmp_path / "vendor"
    shutil.copytree(REPO / "vendor/dist", vendor)
    weed = next(vendor.glob("seaweedfs-*-linux-*/weed"))
    weed.write_bytes(weed.read_bytes() + b"tampered")
    out = run_playbook(local_site, None, extra=["-e", f"appliance_vendor_dir={vendor}"])
    assert out.returncode != 0
    assert f"{weed}" in out.stdout and "does not match the lock" in out.stdout, out.tail()
    assert out.recap["node1"]["changed"] == 0


def test_ansible_lint_production_profile_passes_offline():
    out = subprocess.run([str(ansible_bin("ansible-lint")), "--offline", "--profile", "production", "site.yml"],
                         cwd=REPO / "ansible", capture_output=True, text=True, timeout=600,
                         env={"PATH": f"{ansible_bin('ansible-lint').parent}:/usr/bin:/bin", "HOME": "/root",
                              "ANSIBLE_CONFIG": str(REPO / "ansible/ansible.cfg")})
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]


# Day two (#22), on the node installed above: the certificate metric, then backup, destroy, restore
# (tests/ansible/backup_restore.py). Before the operator's config below: the restore's `--check` compares
# the node with the default config; the operator tests then install theirs on the restored node.
def test_the_gateway_exports_days_to_expiry_of_the_installed_certificates(installed, site):
    node, _, _ = installed
    metrics = user_https(node, site, "/metrics/", key=master_key(site))
    assert metrics["status"] == 200, metrics
    from prometheus_client.parser import text_string_to_metric_families

    days = {s.labels["name"]: s.value for f in text_string_to_metric_families(metrics["json"])
            for s in f.samples if s.name == "gateway_certificate_expiry_days"}
    leaf = days.get("/etc/gateway/pki/servers/gateway.chain.pem#0")
    assert leaf is not None, sorted(days)
    assert 300 < leaf <= 366  # a leaf issued today for leaf_validity_days (365)
    assert days["/etc/gateway/pki/crl-bundle.pem#0"] > 30  # the CRLs count to their nextUpdate


def test_backup_destroy_and_restore_bring_back_the_same_data_certificates_and_routes(installed, site, tmp_path):
    from tests.ansible.backup_restore import backup_destroy_restore

    node, _, _ = installed
    times = backup_destroy_restore(node, site, tmp_path)
    print("day-two playbook times:", {k: f"{v:.0f} s" for k, v in times.items()})


def test_a_patch_bundle_upgrades_haproxy_under_load_and_the_previous_bundle_rolls_it_back(installed, site, tmp_path):
    """N+1 (HAProxy repacked at a higher version) then N again, with `--tags common` (tests/ansible/patch_bundle.py)."""
    from tests.ansible.patch_bundle import patch_and_roll_back

    node, _, _ = installed
    figures = patch_and_roll_back(node, site, tmp_path)
    print("patch bundle:", figures)


def test_a_patch_of_the_gateways_python_restarts_the_gateway_alone_and_rolls_back(installed, site, tmp_path):
    """N+1 with Debian's python3.11 bumped, then N, with `--tags common,gateway` (tests/ansible/patch_bundle.py)."""
    from tests.ansible.patch_bundle import patch_the_gateways_python

    node, _, _ = installed
    print("patch of the gateway's python:", patch_the_gateways_python(node, site, tmp_path))


def test_a_patch_of_the_gateway_wheel_moves_the_venv_and_wheelhouse_to_the_lock_and_back(installed, site, tmp_path):
    """N+1's wheelhouse (the gateway wheel bumped, one package added), N+1 again, then N, `--tags common,gateway`:
    the venv and the host's wheelhouse are exactly each bundle's (tests/ansible/patch_bundle.py)."""
    from tests.ansible.patch_bundle import patch_the_gateway_wheel

    node, _, _ = installed
    print("patch of the gateway wheel:", patch_the_gateway_wheel(node, site, tmp_path))


# -- The operator's own LiteLLM config (#18), on the same node: three more runs ---------------------------------

@pytest.fixture(scope="module")
def upstream(installed, tmp_path_factory):
    """The project's fake upstream (OpenAI-compatible, answers "answer from <model>") as the operator's
    self-hosted LLM: the manifest's external service llm-upstream, in a network namespace of its own
    behind the client namespace (tests/ansible/upstream_ns.py), also listening on a port no flow names."""
    from tests.ansible.operator_config import UNDECLARED_PORT, UPSTREAM_ADDRESS, UPSTREAM_CONFIG, UPSTREAM_PORT
    from tests.ansible.upstream_ns import upstream_namespace

    node, _, _ = installed
    folder = tmp_path_factory.mktemp("upstream")
    config = folder / "fake.json"
    config.write_text(json.dumps(UPSTREAM_CONFIG))
    started = time.monotonic()
    with upstream_namespace(node, UPSTREAM_ADDRESS, (UPSTREAM_PORT, UNDECLARED_PORT), config,
                            folder / "fake.log") as fake:
        print(f"upstream namespace up in {time.monotonic() - started:.1f} s")
        yield fake


def test_the_node_reaches_the_declared_upstream_and_its_egress_drops_another_port(upstream, installed):
    """The flow node1 -> llm-upstream opens exactly its port: the node's connection to another port of the
    same address (where the fake listens too, as the client namespace shows) times out, counted as a drop."""
    from tests.ansible.operator_config import UNDECLARED_PORT, UPSTREAM_ADDRESS, UPSTREAM_PORT
    from tests.ansible.outside import PEER_ADDRESS, tcp_outcome_from_node

    node, _, _ = installed

    def dropped() -> int:
        ruleset = node.exec(["nft", "list", "chain", "inet", "appliance", "output"], capture_output=True, text=True)
        found = re.search(r'counter packets (\d+) bytes \d+ comment "drop: not in the manifest"', ruleset.stdout)
        assert found, ruleset.stdout + ruleset.stderr
        return int(found.group(1))

    assert tcp_outcome(node, UPSTREAM_ADDRESS, UNDECLARED_PORT, source=PEER_ADDRESS) == "open"  # it listens
    before = dropped()
    assert tcp_outcome_from_node(node, UPSTREAM_ADDRESS, UPSTREAM_PORT) == "open"
    assert tcp_outcome_from_node(node, UPSTREAM_ADDRESS, UNDECLARED_PORT) == "dropped"
    assert dropped() > before


@pytest.fixture(scope="module")
def operator_site(installed, site, upstream):
    """site.yml with the operator's config (include, fallback, Vault secret), applied twice."""
    from tests.ansible.operator_config import operator_args

    node, _, _ = installed
    args = operator_args(site.parent / "operator")
    first = run_playbook(site, node, extra=args)
    assert first.returncode == 0, first.tail()
    second = run_playbook(site, node, extra=args)
    assert second.returncode == 0, second.tail()
    return node, first, second


def test_operator_config_serves_its_include_fallback_and_vault_secret(operator_site, site, upstream):
    from tests.ansible.operator_config import API_KEY, DEMO

    node, _, _ = operator_site
    # A prompt no earlier test sent: the site's Redis response cache would answer an earlier one.
    answer = user_https(node, site, "/v1/chat/completions",
                        {"model": "auto", "messages": [{"role": "user", "content": "write a python function for #18"}]},
                        key=master_key(site))
    assert answer["status"] == 200, answer
    routed = answer["headers"].get("x-gateway-routed-model")
    assert routed in DEMO, answer["headers"]
    assert answer["json"]["choices"][0]["message"]["content"] == f"answer from {routed}"  # the upstream answered
    assert answer["headers"].get("x-gateway-routing-strategy") == "llmrouter-knn"
    asked = [r for r in upstream.requests() if r["body"].get("messages", [{}])[-1].get("content", "")
             == "write a python function for #18"]
    assert asked and asked[-1]["headers"]["authorization"] == f"Bearer {API_KEY}"  # os.environ/ from Vault
    fallback = user_https(node, site, "/v1/chat/completions",
                          {"model": "flaky", "messages": [{"role": "user", "content": "hi"}]}, key=master_key(site))
    assert fallback["status"] == 200, fallback
    assert fallback["json"]["choices"][0]["message"]["content"] == "answer from backup"
    assert any(r["model"] == "flaky" and r["fail"] == "server_error" for r in upstream.requests())


def test_operator_config_second_run_changes_nothing_and_the_secret_is_never_printed(operator_site):
    from tests.ansible.operator_config import API_KEY

    node, first, second = operator_site
    assert first.recap["node1"]["changed"] > 0
    assert second.recap["node1"]["changed"] == 0, second.changed_tasks()
    assert API_KEY not in first.stdout + first.stderr + second.stdout + second.stderr
    env = node.exec(["sh", "-c", "stat -c '%a %U %G' /etc/gateway/gateway.env; grep -c '^OPERATOR_API_KEY=' "
                     "/etc/gateway/gateway.env"], capture_output=True, text=True)
    assert env.stdout.split() == ["640", "root", "gateway", "1"], env.stdout + env.stderr


def test_a_config_that_sets_an_owned_key_fails_the_play_naming_it_and_the_old_one_keeps_serving(operator_site, site):
    from tests.ansible.operator_config import OWN_MASTER_KEY, operator_args

    node, _, _ = operator_site
    refused = {"include": ["self-hosted.yaml"], "general_settings": {"master_key": OWN_MASTER_KEY}}
    out = run_playbook(site, node, extra=operator_args(site.parent / "operator", refused))
    assert out.returncode != 0
    printed = " ".join(out.stdout.split())  # the result's YAML may fold the error line
    assert "operator.yaml: general_settings.master_key: is owned by the appliance" in printed, out.tail()
    assert OWN_MASTER_KEY not in out.stdout
    live = node.exec(["grep", "-c", OWN_MASTER_KEY, "/etc/gateway/config.yaml"], capture_output=True, text=True)
    assert live.stdout.strip() == "0", live.stdout
    answer = user_https(node, site, "/v1/chat/completions",
                        {"model": "auto", "messages": [{"role": "user", "content": "still the operator's config?"}]},
                        key=master_key(site))
    assert answer["status"] == 200 and answer["json"]["choices"][0]["message"]["content"].startswith("answer from")


# -- The MLOps loop on the installed site (#18): the trainer host role, last (it switches the router) ------------
# Capture spans of real traffic reach the OTLP sink in the collector's place; labels come from a shadow
# replay of the captured queries through the load balancer, scored by reference answers, written into the
# directory the trainer's glob reads; its unit (what the timer starts) trains, gates and publishes.

DATA = "/var/lib/otelcol"
TRACES = f"{DATA}/traces.json"
LOOP_CLIENT = Path(__file__).with_name("loop_client.py")
#: which model answers each category right; first: the large model everywhere, then a specialist each
FIRST = {"general": "demo-large", "code": "demo-large", "reasoning": "demo-large"}
SECOND = {"general": "demo-small", "code": "demo-coder", "reasoning": "demo-large"}


def _demo_queries() -> list[dict]:
    return [json.loads(line) for line in (REPO / "examples/demo/queries.jsonl").read_text().splitlines() if line]


def _loop_client(node, site, folder: Path, command: str, *args: str) -> object:
    out = node.client([sys.executable, str(LOOP_CLIENT), command, "--ca", str(site / "pki/ca-bundle.pem"),
                       "--key", master_key(site), *args], capture_output=True, text=True, timeout=900, cwd=REPO)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


def _node_text(node, path: str) -> str:
    return node.exec(["sh", "-c", f"cat {path} 2>/dev/null || true"], capture_output=True, text=True).stdout


def _captured(node, run: str, queries: list[str], timeout: float = 60) -> list[dict]:
    """The sink's traces file's gateway.capture.call spans for `queries` (they come in batches)."""
    from gateway.mlops.extract import extract
    from gateway.mlops.readers import read_spans

    local = Path(f"/tmp/site-traces-{run}.json")
    deadline = time.monotonic() + timeout
    while True:
        local.write_text(_node_text(node, TRACES))
        calls = [c for c in extract(read_spans(local, "otlp")).calls if c.query in queries]
        if len({c.query for c in calls}) == len(queries) or time.monotonic() > deadline:
            return calls
        time.sleep(2)


def _capture_and_label(node, site, truth: dict, run: str) -> dict:
    """Traffic through the load balancer -> capture spans in the sink's file; a user's label through the
    feedback route; a shadow replay scored by `truth`'s references into the trainer's directory."""
    folder = site.parent / f"loop-{run}"
    folder.mkdir(exist_ok=True)
    rows = _demo_queries()
    queries = [f"{r['query']} ({run})" for r in rows]  # new prompts: the site's Redis cache would answer old ones
    (folder / "queries.json").write_text(json.dumps(queries))
    traffic = _loop_client(node, site, folder, "traffic", "--queries", str(folder / "queries.json"))
    assert {t["status"] for t in traffic} == {200}, [t for t in traffic if t["status"] != 200][:3]
    assert all(t["content"] == f"answer from {t['routed']}" for t in traffic), traffic[:3]

    calls = _captured(node, run, queries)
    assert {c.query for c in calls} == set(queries), f"{len(calls)} of {len(queries)} captured"
    assert {c.chosen for c in calls} <= {"demo-small", "demo-coder", "demo-large"}
    first = traffic[0]
    label = 1.0 if first["routed"] == truth[rows[0]["category"]] else 0.0
    fed = _loop_client(node, site, folder, "feedback", "--response-id", first["id"], "--score", str(label))
    assert fed["status"] == 200, fed

    references = {q: f"answer from {truth[r['category']]}" for q, r in zip(queries, rows, strict=True)}
    (folder / "references.json").write_text(json.dumps(references))
    shadow = folder / f"traces-shadow-{run}.json"
    counts = _loop_client(node, site, folder, "shadow", "--references", str(folder / "references.json"),
                          "--out", str(shadow))
    assert counts == {"replayed": 3 * len(queries), "scored": 3 * len(queries), "unscored": 0, "errors": 0}, counts
    # Into the directory the trainer reads, as the sink's own files are (group otelcol-contrib, 0640); the
    # previous run's shadow labels go: the references changed.
    wrote = node.exec(["sh", "-c", f"rm -f {DATA}/traces-shadow-*.json && cat > {DATA}/traces-shadow-{run}.json && "
                       f"chown otelcol-contrib:otelcol-contrib {DATA}/traces-shadow-{run}.json && "
                       f"chmod 0640 {DATA}/traces-shadow-{run}.json"],
                      input=shadow.read_text(), capture_output=True, text=True)
    assert wrote.returncode == 0, wrote.stderr
    return {"queries": queries, "traffic": traffic, "first_id": first["id"]}


def _train_on_the_node(node, run: str) -> float:
    """The trainer's unit (what its timer starts); returns the wall time at which it finished (it publishes last)."""
    since, started = int(time.time()) - 1, time.monotonic()  # the node shares this clock
    out = node.exec(["systemctl", "start", "gateway-trainer.service"], capture_output=True, text=True, timeout=1200)
    done = time.monotonic()
    journal = node.exec(["journalctl", "-u", "gateway-trainer.service", "--no-pager", "-o", "cat", "--since",
                         f"@{since}"], capture_output=True, text=True).stdout  # this run's lines only
    assert out.returncode == 0, out.stderr + journal
    assert re.search(r"^published: (?!no)\S+$", journal, re.M), journal  # the S3 ETag of this run's upload
    summary = next((line for line in journal.splitlines() if "captured calls" in line), "")
    print(f"trainer run {run}: {done - started:.1f} s; {summary}")
    return done


def _status(node, site) -> dict:
    status = user_https(node, site, "/hot-reload/status", key=master_key(site))
    assert status["status"] == 200, status
    return next(iter(status["json"]["model_groups"].values()))


def _ask_code(node, site, i: int) -> dict:
    # a new prompt each time: the site's Redis response cache would answer a repeated one
    prompt = f"Write a Python function that parses a date, #{i}"
    return user_https(node, site, "/v1/chat/completions", key=master_key(site),
                      body={"model": "auto", "messages": [{"role": "user", "content": prompt}]})


@pytest.fixture(scope="module")
def first_loop(operator_site, site):
    """Live traffic captured by the sink, labelled by a shadow replay (every reference: demo-large)."""
    node, _, _ = operator_site
    return _capture_and_label(node, site, FIRST, "first")


@pytest.fixture(scope="module")
def trained_site(first_loop, operator_site, site):
    """The trainer's first run publishes a quality router (every label says demo-large); site.yml then
    switches the operator's gateway to llmrouter-quality, which serves it from S3."""
    from tests.ansible.operator_config import operator_args

    node, _, _ = operator_site
    _train_on_the_node(node, "first")
    args = operator_args(site.parent / "operator") + ["-e", "gateway_routing_strategy=llmrouter-quality"]
    switched = run_playbook(site, node, extra=args)
    assert switched.returncode == 0, switched.tail()
    return node


def test_the_otlp_sink_stands_in_for_the_collector_and_the_gateway_exports_to_it_over_http(first_loop, operator_site):
    """The sink's own checks (venv, mTLS identities) are tests/ansible/test_otlp_sink_role.py's; here: the
    operator's run switched the installed site to it, and its files are the trainer's to read."""
    node, _, _ = operator_site  # after first_loop: the sink has written its traces file
    script = ("systemctl is-active otlp-sink; systemctl show -p User --value otlp-sink; "
              f"stat -c '%a %U %G' {DATA} {TRACES}; grep -c '^OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf$' "
              "/etc/gateway/gateway.env; systemctl show -p SupplementaryGroups --value gateway-trainer.service")
    out = node.exec(["sh", "-c", script], capture_output=True, text=True)
    assert out.stdout.split("\n")[:6] == ["active", "otelcol-contrib", "750 otelcol-contrib otelcol-contrib",
                                           "640 otelcol-contrib otelcol-contrib", "1", "otelcol-contrib"], out.stdout


def test_capture_spans_reach_the_sinks_file_and_no_prompt_text_reaches_a_log(first_loop, operator_site):
    node, _, _ = operator_site
    probe = first_loop["queries"][0]
    traces = _node_text(node, f"{DATA}/traces.json")
    assert "gateway.capture.call" in traces and probe in traces
    assert "gateway.feedback" in traces and first_loop["first_id"] in traces  # the user's label, via the route
    logs = _node_text(node, f"{DATA}/logs*.json") + _node_text(node, f"{DATA}/metrics*.json")
    assert logs, "the gateway's OTLP logs and metrics reached the sink"
    journal = node.exec(["journalctl", "--no-pager", "-o", "cat"], capture_output=True, text=True).stdout
    for query in first_loop["queries"][:10]:
        assert query not in logs and query not in journal, query


def test_the_trainer_is_installed_non_root_on_a_timer_with_its_own_identity(trained_site):
    node = trained_site
    script = ("systemctl is-enabled gateway-trainer.timer; systemctl is-active gateway-trainer.timer; "
              "systemctl show -p User --value gateway-trainer.service; "
              "stat -c '%a %U' /etc/gateway-trainer/tls/client.key /etc/gateway-trainer/trainer.env; "
              "/opt/trainer/venv/bin/python -c 'from cryptography import x509; print(x509.load_pem_x509_certificate("
              "open(\"/etc/gateway-trainer/tls/client.chain.pem\", \"rb\").read()).subject.rfc4514_string())'; "
              "/opt/trainer/venv/bin/python -c 'import importlib.util as u; print(u.find_spec(\"torch\"))'")
    out = node.exec(["sh", "-c", script], capture_output=True, text=True)
    lines = out.stdout.split("\n")
    assert lines[:5] == ["enabled", "active", "trainer", "600 trainer", "640 root"], out.stdout + out.stderr
    assert "CN=trainer" in lines[5].split(","), lines[5]
    assert lines[6] == "None", lines[6]  # no torch: the quality routers train in numpy


def test_a_trainer_run_publishes_and_the_gateway_hot_reloads_it_while_answers_keep_flowing(trained_site, site):
    node = trained_site
    before = _status(node, site)
    assert before["strategy"] == "llmrouter-quality", before
    first = _ask_code(node, site, 0)
    assert first["status"] == 200, first
    assert first["headers"].get("x-gateway-routed-model") == "demo-large", first["headers"]  # the first truth

    _capture_and_label(node, site, SECOND, "second")  # a code specialist now
    published = _train_on_the_node(node, "second")
    sha = node.exec(["sha256sum", "/var/lib/gateway-trainer/work/artifacts/quality.tar"],
                    capture_output=True, text=True).stdout.split()[0]
    answers, routed_new, i = [], None, 0
    while time.monotonic() - published < 120:
        i += 1
        answer = _ask_code(node, site, i)
        answers.append(answer["status"])
        if answer["headers"].get("x-gateway-routed-model") == "demo-coder":
            routed_new = time.monotonic()
            break
        time.sleep(0.2)
    assert routed_new is not None, f"no decision by the new router within 120 s; {_status(node, site)}"
    assert set(answers) == {200}, answers  # routed answers kept flowing through the reload
    after = _status(node, site)
    assert after["sha256"] == sha and after["sha256"] != before["sha256"], (before, after)
    print(f"publish -> first routed decision by the new artifact: {routed_new - published:.1f} s "
          f"({len(answers)} answers, all 200; reload interval 30 s)")
