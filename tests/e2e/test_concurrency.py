"""Two applies against one server at once never lose an authorized_keys or crontab line;
a held lock makes a second apply wait, then give up with a clear message."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest
import yaml

from wizard.artefacts.authorized_keys import parse_authorized_keys_block
from wizard.engine import FleetSession
from wizard.inventory import parse_inventory

pytestmark = pytest.mark.lab


def _env(tmp_path, name: str, lab) -> dict[str, str]:
    return {
        **os.environ,
        **lab.env(),
        "XDG_CONFIG_HOME": str(tmp_path / name / "config"),
        "XDG_DATA_HOME": str(tmp_path / name / "data"),
        "BORGKEEP_SECRETS": "file",
    }


def _inventory(lab, tmp_path, name: str, clients: list[str]):
    path = tmp_path / f"{name}.yaml"
    path.write_text(lab.inventory_yaml(clients=clients))
    return path


def _cli(env, inventory, *args, timeout=600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wizard.cli", "--inventory", str(inventory), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_two_applies_at_once_lose_no_line(lab, tmp_path):
    lab.add_client("client3", login="root", borgmatic="1.7")
    env = _env(tmp_path, "shared", lab)
    first = _inventory(lab, tmp_path, "base", ["client1"])
    assert _cli(env, first, "apply", "--yes", "--no-verify").returncode == 0

    inventories = {
        "with-client2": _inventory(lab, tmp_path, "with-client2", ["client1", "client2"]),
        "with-client3": _inventory(lab, tmp_path, "with-client3", ["client1", "client3"]),
    }
    results: dict[str, subprocess.CompletedProcess[str]] = {}

    def run(name: str) -> None:
        results[name] = _cli(env, inventories[name], "apply", "--yes", "--no-verify")

    threads = [threading.Thread(target=run, args=(name,)) for name in inventories]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for name, result in results.items():
        assert result.returncode == 0, f"{name}: {result.stdout}\n{result.stderr}"

    authorized = lab.read_file("nas", "/home/borg/.ssh/authorized_keys").decode()
    assert sorted(parse_authorized_keys_block(authorized)) == ["client1", "client2", "client3"]
    crontab = lab.run("nas", ["crontab", "-l", "-u", "borg"], check=True).stdout.decode()
    for client in ("client1", "client2", "client3"):
        assert f"prune-{client}.yaml" in crontab or crontab.rstrip().count(client), crontab
        assert lab.read_file("nas", f"/home/borg/.config/borgkeep/prune-{client}.yaml")


def test_held_lock_makes_apply_wait_then_refuse(lab, tmp_path):
    env = _env(tmp_path, "op", lab)
    inventory = _inventory(lab, tmp_path, "inv", ["client1"])
    holder = FleetSession(parse_inventory(inventory.read_text()))
    try:
        with holder.locked(timeout=5):
            result = _cli({**env, "BORGKEEP_LOCK_TIMEOUT": "2"}, inventory, "apply", "--yes")
    finally:
        holder.close()
    assert result.returncode == 1
    assert "another borgkeep apply is running" in result.stderr
    assert lab.read_file("client1", "/etc/borgmatic.d/borgkeep-client1.yaml") is None
    after = _cli(env, inventory, "apply", "--yes", "--no-verify")
    assert after.returncode == 0, after.stdout + after.stderr
    assert yaml.safe_load(lab.read_file("client1", "/etc/borgmatic.d/borgkeep-client1.yaml"))
