"""Every role follows one pattern (the postgresql role's): meta with one licence and one minimum Ansible
version, argument specs whose defaults agree with defaults/main.yml, a README naming every variable,
assert tasks, internals named `__<role>_*`; site.yml tags each role; ansible/requirements.yml names every
collection the roles and the tests use, at the version the controller venv carries.

Reads files only (and, when `make ansible-env` has run, the controller venv's collection list)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.ansible.container import ansible_bin

REPO = Path(__file__).resolve().parents[2]
ANSIBLE = REPO / "ansible"
ROLES = sorted(p.name for p in (ANSIBLE / "roles").iterdir() if p.is_dir())
LICENSE = "MIT"  # pyproject.toml's
MIN_ANSIBLE = "2.17"
# Facts every later role reads, set once by the role that knows them (noqa'd there for ansible-lint).
SHARED_FACTS = {"appliance_check_fresh", "appliance_vendor"}


def _yaml(path: Path):
    return yaml.safe_load(path.read_text()) or {}


def _spec(role: str) -> dict:
    return _yaml(ANSIBLE / "roles" / role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]


def _defaults(role: str) -> dict:
    return _yaml(ANSIBLE / "roles" / role / "defaults" / "main.yml")


def _task_files(role: str) -> list[Path]:
    base = ANSIBLE / "roles" / role
    return sorted((base / "tasks").glob("*.yml")) + sorted((base / "handlers").glob("*.yml"))


def test_the_roles_are_the_ones_the_playbooks_run():
    """site.yml runs every role but backup, which backup.yml and restore.yml run."""
    used = {r["role"] for book in ("site.yml", "backup.yml", "restore.yml") for play in _yaml(ANSIBLE / book)
            for r in play.get("roles", [])}
    used |= {task["ansible.builtin.include_role"]["name"] for play in _yaml(ANSIBLE / "restore.yml")
             for task in play.get("tasks", []) if "ansible.builtin.include_role" in task}
    assert sorted(used) == ROLES


@pytest.mark.parametrize("role", ROLES)
def test_meta_has_one_licence_one_minimum_version_and_the_role_name(role):
    info = _yaml(ANSIBLE / "roles" / role / "meta" / "main.yml")["galaxy_info"]
    assert (info["role_name"], info["namespace"], info["license"], info["min_ansible_version"]) == (
        role, "appliance", LICENSE, MIN_ANSIBLE)
    assert info["platforms"] == [{"name": "Debian", "versions": ["bookworm"]}]


@pytest.mark.parametrize("role", ROLES)
def test_argument_spec_defaults_agree_with_defaults_main(role):
    spec, defaults = _spec(role), _defaults(role)
    spec_defaults = {name: o["default"] for name, o in spec.items() if "default" in o}
    assert sorted(spec_defaults) == sorted(defaults), f"{role}: variables with a default in one file only"
    for name, value in defaults.items():
        assert spec_defaults[name] == value, f"{role}: {name} is {value!r} in defaults/main.yml, " \
                                             f"{spec_defaults[name]!r} in meta/argument_specs.yml"
    for name, option in spec.items():
        assert option.get("description"), f"{role}: {name} has no description"
        assert name.startswith((f"{role}_", "appliance")) or name == "otelcol_enabled", name


@pytest.mark.parametrize("role", ROLES)
def test_readme_names_every_variable_of_the_role(role):
    readme = (ANSIBLE / "roles" / role / "README.md").read_text()
    assert readme.startswith(f"# Role `{role}`")
    missing = [name for name in _defaults(role) if f"`{name}`" not in readme]
    assert missing == [], f"{role}/README.md does not name {missing}"


@pytest.mark.parametrize("role", ROLES)
def test_the_role_checks_its_inputs_first(role):
    base = ANSIBLE / "roles" / role / "tasks"
    assert (base / "assert.yml").exists()
    assert "ansible.builtin.assert:" in (base / "assert.yml").read_text()
    assert "assert.yml" in (base / "main.yml").read_text()


@pytest.mark.parametrize("role", ROLES)
def test_internals_are_named_for_the_role_with_two_underscores(role):
    internal = f"__{role}_"
    vars_file = ANSIBLE / "roles" / role / "vars" / "main.yml"
    names = list(_yaml(vars_file)) if vars_file.exists() else []
    for path in _task_files(role):
        text = path.read_text()
        names += re.findall(r"^\s+register: (\w+)", text, re.M)
        names += re.findall(r"^\s+loop_var: (\w+)", text, re.M)
        for task in _yaml(path) or []:
            names += [k for k in (task.get("ansible.builtin.set_fact") or {}) if k != "cacheable"]
    wrong = sorted({n for n in names if not n.startswith(internal)} - SHARED_FACTS)
    assert wrong == [], f"{role}: internal names must start with {internal}: {wrong}"


def test_site_yml_tags_each_role_with_its_name():
    for play in _yaml(ANSIBLE / "site.yml"):
        for entry in play.get("roles", []):
            assert entry["role"] in entry.get("tags", []), f"play {play['name']!r}: role {entry['role']} untagged"


def _collections_used() -> set[str]:
    """namespace.collection of every FQCN module, connection or callback the roles and the tests name."""
    texts = [p.read_text() for p in ANSIBLE.rglob("*.yml")]
    texts += [p.read_text() for d in ("tests/ansible", "tests/bundle") for p in (REPO / d).glob("*.py")]
    found = set()
    for text in texts:
        found |= {m.group(1) for m in re.finditer(r"\b(ansible\.posix|community\.\w+|containers\.\w+)\.\w+", text)}
    return found


def _requirements() -> dict[str, str]:
    return {c["name"]: c["version"] for c in _yaml(ANSIBLE / "requirements.yml")["collections"]}


def test_requirements_yml_names_every_collection_used():
    assert sorted(_requirements()) == sorted(_collections_used())


def test_requirements_yml_pins_what_the_controller_venv_carries():
    """The collections come inside the `ansible` wheel (ansible-wheelhouse): the pins must match it."""
    try:
        galaxy = ansible_bin("ansible-galaxy")
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    out = subprocess.run([str(galaxy), "collection", "list", "--format", "json"], capture_output=True, text=True,
                         timeout=120, env={"PATH": f"{galaxy.parent}:/usr/bin:/bin", "HOME": "/nonexistent",
                                           "ANSIBLE_COLLECTIONS_PATH": "/nonexistent"})
    installed = {name: c["version"] for path in json.loads(out.stdout).values() for name, c in path.items()}
    assert {name: installed.get(name) for name in _requirements()} == _requirements()
