"""Two applies against one server at once never lose an authorized_keys or crontab line;
a held lock makes a second apply wait, then give up with a clear message."""

from __future__ import annotations

import threading

import pytest
import yaml

from tests.e2e.helpers import CliResult, make_operator
from wizard.artefacts.authorized_keys import parse_authorized_keys_block
from wizard.inventory.parse import parse_inventory
from wizard.session import FleetSession

pytestmark = pytest.mark.lab


def _inventory(lab, tmp_path, name: str, clients: list[str]):
    path = tmp_path / f"{name}.yaml"
    path.write_text(lab.inventory_yaml(clients=clients))
    return path


def test_two_applies_at_once_lose_no_line(lab, tmp_path):
    lab.add_client("client3", login="root", borgmatic="1.7")
    operator = make_operator(lab, tmp_path / "shared")
    first = _inventory(lab, tmp_path, "base", ["client1"])
    assert operator.run("apply", "--yes", "--no-verify", inventory=first).returncode == 0

    inventories = {
        "with-client2": _inventory(lab, tmp_path, "with-client2", ["client1", "client2"]),
        "with-client3": _inventory(lab, tmp_path, "with-client3", ["client1", "client3"]),
    }
    results: dict[str, CliResult] = {}

    def run(name: str) -> None:
        results[name] = operator.run("apply", "--yes", "--no-verify", inventory=inventories[name])

    threads = [threading.Thread(target=run, args=(name,)) for name in inventories]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for name, result in results.items():
        assert result.returncode == 0, f"{name}: {result.describe()}"

    authorized = lab.read_file("nas", "/home/borg/.ssh/authorized_keys").decode()
    assert sorted(parse_authorized_keys_block(authorized)) == ["client1", "client2", "client3"]
    crontab = lab.run("nas", ["crontab", "-l", "-u", "borg"], check=True).stdout.decode()
    for client in ("client1", "client2", "client3"):
        assert f"prune-{client}.yaml" in crontab or crontab.rstrip().count(client), crontab
        assert lab.read_file("nas", f"/home/borg/.config/borgkeep/prune-{client}.yaml")


def test_held_lock_makes_apply_wait_then_refuse(lab, tmp_path, monkeypatch):
    operator = make_operator(lab, tmp_path / "op")
    inventory = _inventory(lab, tmp_path, "inv", ["client1"])
    holder = FleetSession(parse_inventory(inventory.read_text()))
    try:
        with holder.locked(timeout=5):
            monkeypatch.setenv("BORGKEEP_LOCK_TIMEOUT", "2")
            result = operator.run("apply", "--yes", inventory=inventory)
            monkeypatch.delenv("BORGKEEP_LOCK_TIMEOUT")
    finally:
        holder.close()
    assert result.returncode == 1
    assert "another borgkeep apply is running" in result.stderr
    assert lab.read_file("client1", "/etc/borgkeep/borgkeep-client1.yaml") is None
    after = operator.run("apply", "--yes", "--no-verify", inventory=inventory)
    assert after.returncode == 0, after.describe()
    assert yaml.safe_load(lab.read_file("client1", "/etc/borgkeep/borgkeep-client1.yaml"))
