"""Saved plans on the lab: applied exactly; refused when stale, naming host and file, with
the host's file untouched; no secret in the plan file."""

from __future__ import annotations

import pytest
import yaml

from tests.e2e.helpers import make_operator

pytestmark = pytest.mark.lab

PRUNE_CONFIG = "/home/borg/.config/borgkeep/prune-client1.yaml"


def _with_retention(lab, keep_daily: int) -> str:
    data = yaml.safe_load(lab.inventory_yaml(clients=["client1"]))
    data["retention"] = {"keep_daily": keep_daily}
    return yaml.safe_dump(data, sort_keys=False)


def test_saved_plan_applies_exactly_and_stale_plan_is_refused(lab, tmp_path):
    operator = make_operator(lab, tmp_path)
    inventory = operator.inventory
    inventory.write_text(_with_retention(lab, 7))
    plan_file = tmp_path / "first.plan"
    planned = operator.run("plan", "--out", "first.plan")  # relative, from the workdir
    assert planned.returncode == 2, planned.stderr
    assert "<secret: new>" in planned.stdout
    # From another directory, without --inventory: the plan names its inventory.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    applied = operator.run(
        "apply", str(plan_file), "--no-verify", without_inventory=True, cwd=elsewhere
    )
    assert applied.returncode == 0, applied.describe()
    assert b"keep_daily: 7" in lab.read_file("nas", PRUNE_CONFIG)
    passphrase = operator.secrets()["passphrase:nas/client1"]
    stored = lab.read_file("client1", "/etc/borgkeep/client1.passphrase")
    assert stored == passphrase.encode() + b"\n"
    # A plan that has to touch the passphrase file (mode drift) holds no secret either.
    lab.run("client1", "chmod 0640 /etc/borgkeep/client1.passphrase", check=True)
    drift = tmp_path / "drift.plan"
    assert operator.run("plan", "--out", str(drift)).returncode == 2
    assert passphrase not in drift.read_text()
    assert "/etc/borgkeep/client1.passphrase" in drift.read_text()
    assert operator.run("apply", str(drift), "--no-verify").returncode == 0

    # A second plan for a retention change, then someone edits the file by hand.
    inventory.write_text(_with_retention(lab, 9))
    second = tmp_path / "second.plan"
    assert operator.run("plan", "--out", str(second)).returncode == 2
    hand_edit = lab.read_file("nas", PRUNE_CONFIG) + b"# edited by hand\n"
    lab.write_file("nas", PRUNE_CONFIG, hand_edit, mode=0o600)
    refused = operator.run("apply", str(second), "--no-verify")
    assert refused.returncode == 1
    assert "nas" in refused.stderr and PRUNE_CONFIG in refused.stderr
    assert "stale" in refused.stderr
    assert lab.read_file("nas", PRUNE_CONFIG) == hand_edit

    # A changed inventory makes a saved plan stale too.
    third = tmp_path / "third.plan"
    assert operator.run("plan", "--out", str(third)).returncode == 2
    inventory.write_text(_with_retention(lab, 11))
    refused = operator.run("apply", str(third), "--no-verify")
    assert refused.returncode == 1 and "inventory" in refused.stderr
    assert lab.read_file("nas", PRUNE_CONFIG) == hand_edit

    # A fresh plan of the same world applies.
    fresh = tmp_path / "fresh.plan"
    assert operator.run("plan", "--out", str(fresh)).returncode == 2
    applied = operator.run("apply", str(fresh), "--no-verify")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert b"keep_daily: 11" in lab.read_file("nas", PRUNE_CONFIG)
