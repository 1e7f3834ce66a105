"""The gateway role's systemd units rendered with Jinja (as Ansible's template module renders them, trim_blocks
on): the venv install listens on gateway.socket, on the address `gateway serve` is told (it refuses another),
and the image install binds its own port, with no socket unit to hold it."""

from __future__ import annotations

import re

import jinja2
import pytest

from tests.ansible.playbook import REPO

TEMPLATES = REPO / "ansible/roles/gateway/templates"


def render(name: str, method: str = "venv", address: str = "127.0.0.1") -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), trim_blocks=True,
                             undefined=jinja2.StrictUndefined)
    service = {"value": {"bind_addresses": [address], "bind_port": 4100}, "key": "gw1"}
    return env.get_template(name).render(
        ansible_managed="managed", appliance={"site": "t"}, gateway_home="/opt/gateway", gateway_user="gateway",
        gateway_uid=990, gateway_config_dir="/etc/gateway", gateway_state_dir="/var/lib/gateway",
        gateway_install_method=method, gateway_venv="/opt/gateway/venv", gateway_log_level="INFO",
        gateway_num_workers=1, gateway_image="localhost/gateway:1", __gateway_service=service)


def serve_address(unit: str) -> str:
    host, port = re.search(r"--host (\S+) --port (\d+)", unit).groups()
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_the_venv_gateway_serves_on_its_socket_units_listener(address):
    service, socket = render("gateway.service.j2", address=address), render("gateway.socket.j2", address=address)
    assert "Requires=gateway.socket\nAfter=gateway.socket\n" in service
    (listen,) = re.findall(r"^ListenStream=(.+)$", socket, re.M)
    assert listen == serve_address(service) == ("[::1]:4100" if address == "::1" else "127.0.0.1:4100")
    assert "Service=gateway.service" in socket and "WantedBy=sockets.target" in socket
    assert "\n\n\n" not in service and "{%" not in service


def test_the_image_gateway_binds_its_own_port():
    service = render("gateway.service.j2", method="image")
    assert "Requires=gateway.socket" not in service and "After=gateway.socket" not in service
    assert "podman run" in service and serve_address(service) == "127.0.0.1:4100"
