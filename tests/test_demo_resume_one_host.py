"""The demo's resume never lists one lab host twice in the inventory (issue 25, item 5): a
host the wizard added under its alias's name (`lab-client3`) is in the fleet, so `--resume
--cli` neither offers it as the spare host nor adds it again as `client3`. No lab needed."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import yaml

from wizard.inventory.parse import parse_inventory
from wizard.lab.demo import _add_to_inventory
from wizard.lab.host import LabHost
from wizard.lab.persist import ssh_config_text
from wizard.lab.resume import hosts_outside_the_fleet


def lab_host(name: str, port: int, tmp_path: Path) -> LabHost:
    return LabHost(
        name, "client", "root", "root", "1.7", port, 0, tmp_path / name, alias=f"lab-{name}"
    )


def fake_lab(tmp_path: Path) -> SimpleNamespace:
    hosts = {
        name: lab_host(name, port, tmp_path)
        for name, port in (("client1", 2201), ("client2", 2202), ("client3", 2203))
    }
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text(
        ssh_config_text(hosts.values(), tmp_path / "id_ed25519", tmp_path / "known_hosts")
    )
    return SimpleNamespace(hosts=hosts, clients=list(hosts.values()), ssh_config=ssh_config)


def inventory_with(tmp_path: Path, clients: list[dict]) -> Path:
    path = tmp_path / "inventory.yaml"
    data = {
        "version": 1,
        "server": {"name": "nas", "ssh": "lab-nas"},
        "retention": {"keep_daily": 7},
        "clients": clients,
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


WIZARD_RESUMED = [  # the wizard named the resumed host after its alias
    {"name": "client1", "ssh": "lab-client1", "source_directories": ["/srv"]},
    {"name": "client2", "ssh": "lab-client2", "source_directories": ["/srv"]},
    {"name": "lab-client3", "ssh": "lab-client3", "source_directories": ["/srv"]},
]


def test_a_host_the_wizard_named_after_its_alias_is_in_the_fleet(tmp_path):
    lab = fake_lab(tmp_path)
    assert hosts_outside_the_fleet(lab.clients, WIZARD_RESUMED, lab.ssh_config) == []
    by_address = [{"name": "c3", "ssh": "root@127.0.0.1:2203"}]
    assert hosts_outside_the_fleet(lab.clients, by_address, lab.ssh_config) == [
        "client1",
        "client2",
    ]


def test_the_cli_resume_never_adds_a_second_entry_for_one_host(tmp_path, monkeypatch):
    lab = fake_lab(tmp_path)
    monkeypatch.setenv("BORGKEEP_SSH_CONFIG", str(lab.ssh_config))
    inventory = inventory_with(tmp_path, WIZARD_RESUMED)
    _add_to_inventory(lab, str(inventory), ["client3"])
    clients = yaml.safe_load(inventory.read_text())["clients"]
    assert [c["name"] for c in clients] == ["client1", "client2", "lab-client3"]
    parse_inventory(inventory.read_text())  # still valid: one host, one client


def test_a_host_outside_the_fleet_is_added_once(tmp_path, monkeypatch):
    lab = fake_lab(tmp_path)
    monkeypatch.setenv("BORGKEEP_SSH_CONFIG", str(lab.ssh_config))
    inventory = inventory_with(tmp_path, WIZARD_RESUMED[:2])
    assert hosts_outside_the_fleet(lab.clients, WIZARD_RESUMED[:2], lab.ssh_config) == ["client3"]
    _add_to_inventory(lab, str(inventory), ["client3"])
    _add_to_inventory(lab, str(inventory), ["client3"])
    clients = yaml.safe_load(inventory.read_text())["clients"]
    assert [c["name"] for c in clients] == ["client1", "client2", "client3"]
    assert clients[-1]["ssh"] == "lab-client3"
