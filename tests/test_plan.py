"""The planner: ordered changes, redacted diffs, no change when facts match, additions only
when a client is added."""

from __future__ import annotations

import json

from tests.planning import (
    INVENTORY,
    SECRET,
    applied_facts,
    client_facts,
    client_key,
    converge,
    fresh_fleet,
    plan_for,
)
from wizard.pipeline.desired.items import placeholder_public_key
from wizard.pipeline.facts import FileState
from wizard.pipeline.plan import SECRET_NEW
from wizard.reports import render_plan_text


def test_fresh_fleet_plan_has_every_step_in_phase_order():
    desired, plan = plan_for(*fresh_fleet())
    phases = [c.phase for c in plan.changes]
    assert phases == sorted(phases)
    ops = [(c.host, c.action) for c in plan.changes if c.kind == "command"]
    assert ("host1", "generate-key") in ops and ("host2", "generate-key") in ops
    assert ("nas", "create-user") in ops
    assert ("host1", "init-repo") in ops
    paths = {(c.host, c.path) for c in plan.changes}
    assert ("nas", "/home/borg/.ssh/authorized_keys") in paths
    assert ("host1", "/etc/borgkeep/borgkeep-host1.yaml") in paths
    assert ("host2", "/home/alice/.config/borgkeep/borgkeep-host2.yaml") in paths
    assert ("nas", "/home/borg/.config/borgkeep/prune-host2.yaml") in paths
    assert ("nas", "crontab:borg") in paths and ("host1", "crontab:root") in paths
    assert ("nas", "/backups") in paths


def test_authorized_keys_line_uses_placeholder_until_key_exists():
    desired, plan = plan_for(*fresh_fleet())
    ak = next(c for c in plan.changes if c.path and c.path.endswith("authorized_keys"))
    assert "<public key of host1: generated on host1 during apply>" in ak.diff
    assert (
        '+command="/usr/bin/borg serve --append-only --restrict-to-repository /backups/host1",restrict'
        in ak.diff
    )
    assert placeholder_public_key("host1").split()[1] in ak.new


def test_known_key_goes_into_authorized_keys():
    inventory, settings, facts, passphrases = fresh_fleet()
    facts["host1"] = client_facts("host1", client_public_key=client_key("host1"))
    _, plan = plan_for(inventory, settings, facts, passphrases)
    ak = next(c for c in plan.changes if c.path and c.path.endswith("authorized_keys"))
    assert client_key("host1").split()[1] + " borgkeep:host1" in ak.new
    assert ("host1", "generate-key") not in [(c.host, c.action) for c in plan.changes]


def test_secret_never_in_text_or_json_plan():
    _, plan = plan_for(*fresh_fleet())
    text = render_plan_text(plan)
    blob = plan.to_json()
    assert SECRET not in text and SECRET not in blob
    assert SECRET_NEW in text
    for change in plan.changes:
        assert SECRET not in json.dumps(change.public_dict())
        assert SECRET not in change.diff


def test_converged_fleet_plans_nothing():
    inventory, settings, facts, passphrases = fresh_fleet()
    facts = converge(inventory, settings, facts, passphrases)
    _, plan = plan_for(inventory, settings, facts, passphrases)
    assert plan.empty
    assert "Nothing to change" in render_plan_text(plan)


def test_adding_a_client_yields_only_additions():
    inventory, settings, facts, passphrases = fresh_fleet()
    facts = converge(inventory, settings, facts, passphrases)
    bigger = (
        INVENTORY + "  - name: host3\n    ssh: root@host3.lan\n    source_directories: [/srv]\n"
    )
    inventory3, settings3, _, passphrases3 = fresh_fleet(bigger)
    facts["host3"] = client_facts("host3")
    passphrases3 = {**passphrases, "host3": passphrases3["host3"]}
    _, plan = plan_for(inventory3, settings3, facts, passphrases3)
    assert {c.host for c in plan.changes} == {"nas", "host3"}
    for change in plan.changes:
        if change.host == "nas" and change.old is not None and not change.secret:
            body = [
                ln
                for ln in change.diff.splitlines()
                if ln[:1] in "+-" and ln[:3] not in ("+++", "---")
            ]
            assert body and all(ln.startswith("+") for ln in body), change.diff
            assert "host3" in change.diff


def test_foreign_authorized_keys_lines_survive_and_orphans_are_reported():
    inventory, settings, facts, passphrases = fresh_fleet()
    foreign = "ssh-rsa AAAAB3NzaC1yc2E admin@laptop\n# a comment\n\n"
    facts = converge(inventory, settings, facts, passphrases)
    ak_path = "/home/borg/.ssh/authorized_keys"
    current = facts["nas"].files[ak_path].text
    facts["nas"] = facts["nas"].__class__(
        **{
            **facts["nas"].__dict__,
            "files": {
                **facts["nas"].files,
                ak_path: FileState(ak_path, (foreign + current).encode(), 0o600, "borg"),
            },
        }
    )
    smaller = INVENTORY.split("  - name: host2")[0]
    inv2, settings2, _, _ = fresh_fleet(smaller)
    desired, plan = plan_for(inv2, settings2, facts, passphrases)
    assert desired.orphans == ["host2"]
    assert any("host2" in w and "not in the inventory" in w for w in plan.warnings)
    ak = [c for c in plan.changes if c.path == ak_path]
    assert not ak  # nothing to rewrite: the orphan line is kept, foreign lines untouched


def test_unmanaged_config_is_warned_about():
    inventory, settings, facts, passphrases = fresh_fleet()
    path = "/etc/borgkeep/borgkeep-host1.yaml"
    facts["host1"] = client_facts(
        "host1", files={path: FileState(path, b"location: {}\n", 0o644, "root")}
    )
    _, plan = plan_for(inventory, settings, facts, passphrases)
    change = next(c for c in plan.changes if c.path == path)
    assert change.action == "update"
    assert any("not managed by borgkeep" in w for w in change.warnings)


def test_mode_drift_is_a_permissions_change():
    inventory, settings, facts, passphrases = fresh_fleet()
    facts = converge(inventory, settings, facts, passphrases)
    path = "/etc/borgkeep/host1.passphrase"
    state = facts["host1"].files[path]
    facts["host1"] = facts["host1"].__class__(
        **{
            **facts["host1"].__dict__,
            "files": {**facts["host1"].files, path: FileState(path, state.content, 0o644, "root")},
        }
    )
    _, plan = plan_for(inventory, settings, facts, passphrases)
    (change,) = plan.changes
    assert change.action == "permissions" and "0644 -> 0600" in change.diff


def test_unreachable_client_left_out_with_warning():
    inventory, settings, facts, passphrases = fresh_fleet()
    del facts["host2"]
    from wizard.pipeline.desired import compute_desired_state
    from wizard.pipeline.plan import compute_plan

    desired = compute_desired_state(inventory, settings, facts, passphrases)
    plan = compute_plan(desired, facts, {"host2": "connection refused"})
    assert not plan.for_host("host2")
    assert any("host2: unreachable" in w for w in plan.warnings)


def test_json_shape_matches_contract():
    _, plan = plan_for(*fresh_fleet())
    data = json.loads(plan.to_json())
    assert set(data) >= {"changes"}
    for item in data["changes"]:
        assert set(item) >= {"host", "path", "action", "diff"}
        assert isinstance(item["diff"], str) and item["diff"]
    assert applied_facts  # imported helper is part of the public test kit


def test_unreachable_client_keeps_its_key_line_and_prune_job():
    inventory, settings, facts, passphrases = fresh_fleet()
    facts = converge(inventory, settings, facts, passphrases)
    del facts["host2"]
    passphrases = {k: v for k, v in passphrases.items() if k != "host2"}
    desired, plan = plan_for(inventory, settings, facts, passphrases)
    assert desired.orphans == []
    assert not [c for c in plan.changes if c.host == "nas" and c.kind in ("file", "crontab")]


def test_orphan_client_keeps_its_prune_job():
    inventory, settings, facts, passphrases = fresh_fleet()
    facts = converge(inventory, settings, facts, passphrases)
    before = facts["nas"].crontabs["borg"]
    smaller, settings2, _, _ = fresh_fleet(INVENTORY.split("  - name: host2")[0])
    desired, plan = plan_for(smaller, settings2, facts, passphrases)
    assert desired.orphans == ["host2"]
    assert not [c for c in plan.changes if c.path == "crontab:borg"]
    assert "guard.py prune host2" in before
