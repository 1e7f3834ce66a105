"""The manifest's `trainer` role: its host reads the collector's files, holds the `trainer` identity, and
S3 admits it; each missing piece is refused naming the key. The generators then give it its certificate,
S3 admission and documents like any client."""

from __future__ import annotations

import yaml

from gateway.appliance import admission
from gateway.appliance.generate import documents
from gateway.appliance.loader import load, parse
from tests.appliance.conftest import EXAMPLES
from tests.appliance.conftest import manifest_errors as _errors
from tests.appliance.conftest import single_node_data as _single


def _s3(data: dict) -> dict:
    return next(s for s in data["services"] if s["kind"] == "s3")


def test_the_single_node_example_has_a_trainer_that_s3_admits():
    loaded = load(EXAMPLES / "single-node" / "appliance.yaml")
    m = loaded.manifest
    assert "trainer" in m.host("node1").roles
    assert "trainer" in admission.identities(m, m.service("s3"))
    docs = documents(loaded, render=False)
    assert "trainer" in docs["network.md"]


def test_a_trainer_without_its_identity_is_refused_naming_the_host():
    data = _single()
    data["clients"] = [c for c in data["clients"] if c["name"] != "trainer"]
    _s3(data)["local_clients"] = ["gateway"]
    problems = _errors(data)
    assert any("hosts[0].roles" in p and "add a client 'trainer' held by it" in p for p in problems), problems


def test_a_trainer_that_s3_does_not_admit_is_refused():
    data = _single()
    _s3(data)["local_clients"] = ["gateway"]
    problems = _errors(data)
    assert any("add 'trainer' to local_clients of service 's3'" in p for p in problems), problems


def test_a_trainer_away_from_the_collector_is_refused():
    data = _single()
    data["hosts"][0]["roles"] = [r for r in data["hosts"][0]["roles"] if r != "otelcol"]
    data["services"] = [s for s in data["services"] if s["kind"] != "otelcol"]
    problems = _errors(data)
    assert any("has the role 'trainer' but not 'otelcol'" in p for p in problems), problems


def test_a_site_without_a_trainer_needs_none_of_it():
    data = _single()
    data["hosts"][0]["roles"].remove("trainer")
    data["clients"] = [c for c in data["clients"] if c["name"] != "trainer"]
    _s3(data)["local_clients"] = ["gateway"]
    parse(yaml.safe_dump(data, sort_keys=False), "appliance.yaml")
