"""Saved plans on the lab: applied exactly; refused when stale, naming host and file, with
the host's file untouched; no secret in the plan file."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

pytestmark = pytest.mark.lab

PRUNE_CONFIG = "/home/borg/.config/borgkeep/prune-client1.yaml"


def _cli(env, inventory, *args):
    return subprocess.run(
        [sys.executable, "-m", "wizard.cli", "--inventory", str(inventory), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _with_retention(lab, keep_daily: int) -> str:
    data = yaml.safe_load(lab.inventory_yaml(clients=["client1"]))
    data["retention"] = {"keep_daily": keep_daily}
    return yaml.safe_dump(data, sort_keys=False)


def test_saved_plan_applies_exactly_and_stale_plan_is_refused(lab, tmp_path):
    env = {
        **os.environ,
        **lab.env(),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "BORGKEEP_SECRETS": "file",
    }
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(_with_retention(lab, 7))
    plan_file = tmp_path / "first.plan"
    planned = _cli(env, inventory, "plan", "--out", str(plan_file))
    assert planned.returncode == 2, planned.stderr
    text = plan_file.read_text()
    secrets = (
        json.loads((tmp_path / "data" / "borgkeep" / "secrets.json").read_text())
        if (tmp_path / "data" / "borgkeep" / "secrets.json").exists()
        else {}
    )
    assert "passphrase" not in "".join(secrets)  # plan stores nothing: new secrets come at apply
    applied = _cli(env, inventory, "apply", str(plan_file), "--no-verify")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    secrets = json.loads((tmp_path / "data" / "borgkeep" / "secrets.json").read_text())
    for value in secrets.values():
        assert value.strip() not in text
    assert b"keep_daily: 7" in lab.read_file("nas", PRUNE_CONFIG)

    # A second plan for a retention change, then someone edits the file by hand.
    inventory.write_text(_with_retention(lab, 9))
    second = tmp_path / "second.plan"
    assert _cli(env, inventory, "plan", "--out", str(second)).returncode == 2
    hand_edit = lab.read_file("nas", PRUNE_CONFIG) + b"# edited by hand\n"
    lab.write_file("nas", PRUNE_CONFIG, hand_edit, mode=0o600)
    refused = _cli(env, inventory, "apply", str(second), "--no-verify")
    assert refused.returncode == 1
    assert "nas" in refused.stderr and PRUNE_CONFIG in refused.stderr
    assert "stale" in refused.stderr
    assert lab.read_file("nas", PRUNE_CONFIG) == hand_edit

    # A changed inventory makes a saved plan stale too.
    third = tmp_path / "third.plan"
    assert _cli(env, inventory, "plan", "--out", str(third)).returncode == 2
    inventory.write_text(_with_retention(lab, 11))
    refused = _cli(env, inventory, "apply", str(third), "--no-verify")
    assert refused.returncode == 1 and "inventory" in refused.stderr
    assert lab.read_file("nas", PRUNE_CONFIG) == hand_edit

    # A fresh plan of the same world applies.
    fresh = tmp_path / "fresh.plan"
    assert _cli(env, inventory, "plan", "--out", str(fresh)).returncode == 2
    applied = _cli(env, inventory, "apply", str(fresh), "--no-verify")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert b"keep_daily: 11" in lab.read_file("nas", PRUNE_CONFIG)
