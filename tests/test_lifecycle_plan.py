"""Planning a client's later life on hand-made facts of an applied fleet: retiring it (every
other line byte for byte, deletions as diffs, purging only on request), rotating its key
(one line), recovering (the guard's report in, the right commands out) and restoring (a
new directory unless asked otherwise). No network: the session's facts are set by hand, and
planned from its snapshot with the readings a test gives."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from tests.planning import converge, fresh_fleet
from wizard.artefacts.authorized_keys import parse_authorized_keys_block, public_key_of_line
from wizard.artefacts.guard_program import (
    guard_program_path,
    guard_state_path,
    installed_guard_config,
)
from wizard.artefacts.managed_block import parse_managed_block
from wizard.inventory.validation import FieldError
from wizard.pipeline.desired.items import DesiredStateError
from wizard.pipeline.facts import FileState
from wizard.pipeline.lifecycle.actions import plan_request
from wizard.pipeline.lifecycle.request import (
    LifecycleReadings,
    LifecycleRefused,
    LifecycleRequest,
)
from wizard.pipeline.plan import SECRET_REMOVED
from wizard.pipeline.write_units import final_content
from wizard.reports import lifecycle_plan_text
from wizard.session import FleetSession

STATE_DIR = "/home/borg/.config/borgkeep"
AK = "/home/borg/.ssh/authorized_keys"
KEY = "/root/.ssh/borgkeep_ed25519"
STAMP = "20260102T030405"


class MemoryStore:
    location = "memory"
    warning = None

    def __init__(self, secrets: dict[str, str] | None = None) -> None:
        self.secrets = dict(secrets or {})

    def get(self, name: str) -> str | None:
        return self.secrets.get(name)

    def set(self, name: str, value: str) -> None:
        self.secrets[name] = value

    def delete(self, name: str) -> bool:
        return self.secrets.pop(name, None) is not None


def applied_session(store: MemoryStore | None = None) -> FleetSession:
    """A session whose facts are those of the hand-made fleet after its apply."""
    inventory, settings, facts, passphrases = fresh_fleet()
    facts = converge(inventory, settings, facts, passphrases)
    nas = facts["nas"]
    key_state = FileState(KEY, None, 0o600, "root", "root", "file", "ab" * 32)
    facts["host1"] = replace(facts["host1"], files={**facts["host1"].files, KEY: key_state})
    facts["nas"] = replace(nas, existing=nas.existing | {guard_state_path(STATE_DIR, "host1")})
    session = FleetSession(inventory, store=store or MemoryStore())
    session.settings, session.facts = settings, facts
    return session


def planned(
    session: FleetSession, request: LifecycleRequest, readings: LifecycleReadings | None = None
):
    """The plan of `request` on the session's facts (and the guard's or the client's
    readings), as `plan_lifecycle` makes it after its gather."""
    readings = readings or LifecycleReadings()
    return plan_request(session.snapshot(), readings, request.checked(STAMP), session.store)


def change(plan, host: str, path_or_action: str):
    return next(c for c in plan.changes if c.host == host and path_or_action in (c.path, c.action))


# --- remove -------------------------------------------------------------------------------


def test_removal_removes_one_key_line_one_cron_line_one_guard_entry_and_deletes_files():
    session = applied_session()
    before = session.facts["nas"].file(AK).text
    result = planned(session, LifecycleRequest("remove", "host1"))
    plan = result.plan
    keys = change(plan, "nas", AK)
    removed = [
        line for line in keys.diff.splitlines() if line.startswith("-") and "borgkeep:" in line
    ]
    assert len(removed) == 1 and removed[0].endswith("borgkeep:host1")
    assert not [line for line in keys.diff.splitlines() if line.startswith("+") and "ssh-" in line]
    kept = parse_managed_block(keys.new).block_lines
    assert [line for line in parse_managed_block(before).block_lines if "host2" in line] == kept
    cron = change(plan, "nas", "crontab:borg")
    assert [ln for ln in cron.diff.splitlines() if ln.startswith(("-", "+")) and "guard" in ln] == [
        next(ln for ln in cron.diff.splitlines() if ln.startswith("-") and "prune host1" in ln)
    ]
    assert "prune host2" in cron.new and "prune host1" not in cron.new
    guard = change(plan, "nas", guard_program_path(STATE_DIR))
    assert list(installed_guard_config(guard.new)["clients"]) == ["host2"]
    old = installed_guard_config(session.facts["nas"].file(guard.path).text)
    assert installed_guard_config(guard.new)["clients"]["host2"] == old["clients"]["host2"]
    passphrase = change(plan, "nas", f"{STATE_DIR}/host1.passphrase")
    assert passphrase.action == "delete" and SECRET_REMOVED in passphrase.diff
    assert "correct-horse" not in plan.to_json()
    prune = change(plan, "nas", f"{STATE_DIR}/prune-host1.yaml")
    assert prune.diff.startswith("--- a/nas:") and "+++ /dev/null" in prune.diff
    assert all(line.startswith(("-", "@", "+++", "---")) for line in prune.diff.splitlines())
    client = {c.path or c.action: c for c in plan.for_host("host1")}
    assert client[KEY].action == "delete" and client[KEY].old is None
    assert SECRET_REMOVED in client[KEY].diff and client[KEY].old_sha256 == "ab" * 32
    assert "/etc/borgkeep/borgkeep-host1.yaml" in client
    assert "crontab:root" in client and client["crontab:root"].new == ""
    assert not [c for c in plan.changes if c.kind == "command"], "nothing purged by default"
    assert any("KEPT" in note and "--purge-repository host1" in note for note in result.notes)
    assert not plan.for_host("host2")


def test_purging_deletes_the_repository_with_borg_and_the_guards_state():
    session = applied_session()
    nas = session.facts["nas"]
    state = guard_state_path(STATE_DIR, "host1")
    session.facts["nas"] = replace(
        nas, files={**nas.files, state: FileState(state, b"{}\n", 0o600, "borg", "borg", "file")}
    )
    plan = planned(session, LifecycleRequest("remove", "host1", purge=True)).plan
    purge = change(plan, "nas", "delete-repository")
    assert purge.args["repository"] == "/backups/host1" and purge.args["user"] == "borg"
    assert "stored_passphrase" not in purge.args
    assert change(plan, "nas", state).action == "delete"
    order = [c.path or c.action for c in plan.for_host("nas")]
    assert order.index("delete-repository") < order.index(f"{STATE_DIR}/host1.passphrase")


def test_a_purge_after_the_servers_passphrase_went_uses_the_secrets_store():
    session = applied_session(MemoryStore({"passphrase:nas/host1": "kept"}))
    nas = session.facts["nas"]
    files = {k: v for k, v in nas.files.items() if not k.endswith("host1.passphrase")}
    session.facts["nas"] = replace(nas, files=files)
    plan = planned(session, LifecycleRequest("remove", "host1", purge=True)).plan
    assert change(plan, "nas", "delete-repository").args["stored_passphrase"] == (
        "passphrase:nas/host1"
    )
    session.store = MemoryStore()
    with pytest.raises(DesiredStateError, match="no passphrase"):
        planned(session, LifecycleRequest("remove", "host1", purge=True))


def test_an_unreachable_client_keeps_its_files_and_says_so():
    session = applied_session()
    del session.facts["host1"]
    session.errors = {"host1": "cannot reach host1.lan:22: Connection refused"}
    result = planned(session, LifecycleRequest("remove", "host1"))
    assert not result.plan.for_host("host1")
    assert any("host1 is unreachable" in note for note in result.notes)
    assert result.plan.for_host("nas")


def test_a_removed_client_leaves_the_inventory_only_through_the_outcome():
    session = applied_session()
    assert [c.name for c in session.inventory.without_client("host1").clients] == ["host2"]
    assert [c.name for c in session.inventory.clients] == ["host1", "host2"]


# --- rotate -------------------------------------------------------------------------------


def test_rotation_changes_one_line_to_a_placeholder_and_keeps_the_old_key_on_failure():
    session = applied_session()
    old_text = session.facts["nas"].file(AK).text
    plan = planned(session, LifecycleRequest("rotate-key", "host1")).plan
    assert [c.action for c in plan.for_host("host1")] == ["generate-key", "switch-key"]
    keys = change(plan, "nas", AK)
    minus = [ln for ln in keys.diff.splitlines() if ln.startswith("-") and "ssh-" in ln]
    plus = [ln for ln in keys.diff.splitlines() if ln.startswith("+") and "ssh-" in ln]
    assert len(minus) == len(plus) == 1
    assert "<public key of host1: generated on host1 during apply>" in plus[0]
    ((blob, old),) = plan.kept_keys.items()
    assert plan.placeholders == {blob: "host1"} and old in old_text
    failed = final_content(keys, plan.placeholders, plan.kept_keys, {})
    assert failed == old_text  # generation failed: nothing changes
    generated = {"host1": "ssh-ed25519 AAAANEW"}
    assert "AAAANEW borgkeep:host1" in final_content(
        keys, plan.placeholders, plan.kept_keys, generated
    )
    switch = change(plan, "host1", "switch-key")
    assert switch.args["old_key"] == KEY and switch.args["new_key"] == KEY + ".rotating"


def test_rotation_refuses_when_the_server_pins_another_key():
    session = applied_session()
    host1 = session.facts["host1"]
    session.facts["host1"] = replace(host1, client_public_key="ssh-ed25519 " + "A" * 68)
    with pytest.raises(DesiredStateError, match="pins another key"):
        planned(session, LifecycleRequest("rotate-key", "host1"))


def test_a_rotation_interrupted_after_the_servers_line_only_switches():
    """The server already pins the `.rotating` key (the rotation stopped before the client's
    switch): running rotate-key again plans the switch alone, no new key."""
    session = applied_session()
    host1 = session.facts["host1"]
    pinned = public_key_of_line(
        parse_authorized_keys_block(session.facts["nas"].file(AK).text)["host1"]
    )
    rotating = KEY + ".rotating"
    files = {
        **host1.files,
        rotating + ".pub": FileState(
            rotating + ".pub", f"{pinned} borgkeep:host1\n".encode(), 0o644
        ),
        rotating: FileState(rotating, None, 0o600, digest="ab" * 32),
    }
    session.facts["host1"] = replace(
        host1, files=files, client_public_key="ssh-ed25519 " + "B" * 68
    )
    plan = planned(session, LifecycleRequest("rotate-key", "host1")).plan
    assert [(c.host, c.action) for c in plan.changes] == [("host1", "switch-key")]
    assert change(plan, "host1", "switch-key").args["new_key"] == rotating


# --- recover ------------------------------------------------------------------------------


def inspect_report(possible: bool = True) -> str:
    return json.dumps(
        {
            "client": "host1",
            "repository": "/backups/host1",
            "repository_id": "cd" * 32,
            "archives": 3,
            "baseline": {"last_run": "2026-01-02T05:30:00+00:00", "committed_segment": 9},
            "last_result": {"status": "refused", "time": "2026-01-03T05:30:00+00:00"},
            "vanished": [
                {
                    "id": "ef" * 32,
                    "name": "host1-2026-01-01T03:00:00",
                    "time": "2026-01-01T03:00:00+00:00",
                    "first_seen": "2026-01-01T05:30:00+00:00",
                }
            ],
            "touched_objects": 4,
            "rollback": {
                "possible": possible,
                "reason": None if possible else "transaction 20 ... compact ...",
                "transaction": 12,
                "time": "2026-01-02T03:00:01",
                "current": 20,
                "first_bad": 14,
                "segments_removed": 8,
                "archives_lost": ["host1-later"],
            },
        }
    )


def test_recover_shows_what_vanished_and_asks_for_a_choice():
    session = applied_session()
    readings = LifecycleReadings(inspect=inspect_report())
    result = planned(session, LifecycleRequest("recover", "host1"), readings)
    assert result.plan.empty and result.choice and "--rollback" in result.choice
    text = lifecycle_plan_text(result)
    assert "host1-2026-01-01T03:00:00" in text and "first seen 2026-01-01T05:30:00" in text
    assert "transaction 12" in text and "host1-later" in text
    assert result.details["recovery"]["vanished"][0]["name"] == "host1-2026-01-01T03:00:00"


def test_recover_by_rollback_runs_the_guard_then_forgets_the_clients_cache():
    session = applied_session()
    readings = LifecycleReadings(inspect=inspect_report())
    plan = planned(session, LifecycleRequest("recover", "host1", mode="rollback"), readings).plan
    rollback = change(plan, "nas", "guard-rollback")
    assert rollback.args["transaction"] == 12 and rollback.args["user"] == "borg"
    forget = change(plan, "host1", "forget-cache")
    assert forget.args["repository_id"] == "cd" * 32
    assert [c.host for c in plan.changes] == ["nas", "host1"]


def test_recover_refuses_a_rollback_the_guard_says_is_impossible():
    session = applied_session()
    readings = LifecycleReadings(inspect=inspect_report(possible=False))
    with pytest.raises(LifecycleRefused, match="compact"):
        planned(session, LifecycleRequest("recover", "host1", mode="rollback"), readings)
    plan = planned(session, LifecycleRequest("recover", "host1", mode="acknowledge"), readings).plan
    assert [c.action for c in plan.changes] == ["guard-acknowledge"]


# --- restore ------------------------------------------------------------------------------


LISTING = json.dumps(
    {
        "archives": [
            {"name": "host1-2026-01-02T03:00:00", "time": "2026-01-02T03:00:00.000000"},
            {"name": "host1-2026-01-01T03:00:00", "time": "2026-01-01T03:00:00.000000"},
        ]
    }
)


@pytest.mark.parametrize(
    ("path", "to", "overwrite", "field"),
    [
        ("etc/hosts", None, False, "PATH"),
        ("/etc/../shadow", None, False, "PATH"),
        ("/etc/hosts\n", None, False, "PATH"),
        ("/etc/hosts", "/", False, "--to"),
        ("/etc/hosts", "relative", True, "--to"),
    ],
)
def test_restore_requests_are_checked_before_anything(path, to, overwrite, field):
    with pytest.raises(FieldError) as raised:
        LifecycleRequest(
            "restore", "host1", path=path, destination=to, overwrite=overwrite
        ).checked(STAMP)
    assert raised.value.field == field


def test_restore_goes_into_a_new_directory_from_the_newest_archive():
    session = applied_session()
    readings = LifecycleReadings(listing=LISTING)
    plan = planned(session, LifecycleRequest("restore", "host1", path="/etc/hosts"), readings).plan
    (restore,) = plan.changes
    assert restore.args["archive"] == "host1-2026-01-02T03:00:00"
    assert restore.args["destination"] == f"/var/tmp/borgkeep-restore-host1-{STAMP}"
    assert restore.args["fresh"] is True and restore.args["path"] == "/etc/hosts"
    assert f"lands at /var/tmp/borgkeep-restore-host1-{STAMP}/etc/hosts" in restore.diff


def test_restore_refuses_an_unknown_archive_and_an_existing_directory():
    session = applied_session()
    readings = LifecycleReadings(listing=LISTING)
    with pytest.raises(LifecycleRefused, match="no archive 'nope'"):
        planned(
            session, LifecycleRequest("restore", "host1", path="/etc", archive="nope"), readings
        )
    host1 = session.facts["host1"]
    session.facts["host1"] = replace(host1, existing=host1.existing | {"/srv/restore"})
    request = LifecycleRequest("restore", "host1", path="/etc", destination="/srv/restore")
    with pytest.raises(LifecycleRefused, match="--overwrite"):
        planned(session, request, readings)
    plan = planned(session, replace(request, overwrite=True), readings).plan
    assert plan.changes[0].args["fresh"] is False and "REPLACING" in plan.changes[0].diff


def test_removing_a_name_nobody_knows_is_refused():
    session = applied_session()
    with pytest.raises(LifecycleRefused, match="a typo"):
        planned(session, LifecycleRequest("remove", "hots1"))
