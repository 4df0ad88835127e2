"""The repository's identity (issue 22): the guard's pure checks, the plan's verdicts on a
repository, and what the plan does with each (restore, baseline again, refuse)."""

from __future__ import annotations

import base64
import configparser
import subprocess
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.planning import (
    converge,
    fresh_fleet,
    plan_for,
    repository_config,
)
from wizard.artefacts.guard_program import guard_state_path
from wizard.hostside.guard_health import judge_client
from wizard.hostside.guard_identity import (
    IdentityError,
    export_text,
    identity_from_config,
    identity_from_export,
    identity_problem,
    nonce_problem,
    read_identity,
    rebuild_config,
)
from wizard.hostside.guard_state import GuardState, state_from_json, state_to_json
from wizard.pipeline.desired import compute_desired_state
from wizard.pipeline.desired.items import DesiredStateError, Passphrase
from wizard.pipeline.facts import FileState
from wizard.pipeline.plan import compute_plan
from wizard.pipeline.repository_key import (
    ABSENT,
    FOREIGN,
    OURS,
    REWRITTEN,
    UNEXPORTED,
    judge_repository,
    passphrase_opens,
)

STATE_DIR = "/home/borg/.config/borgkeep"
CONFIG = repository_config("host1")
EXPORT = export_text(CONFIG, "config")
OTHER_KEY = base64.b64encode(b"another key entirely" * 20).decode()


# --- the guard's identity -------------------------------------------------------------


def test_the_identity_holds_the_id_the_key_hash_and_borgs_own_settings():
    identity = identity_from_config(CONFIG + "last_segment_checked = 12\n", "config")
    assert identity["id"] == EXPORT.split()[1]
    assert len(identity["key_sha256"]) == 64
    assert identity["settings"]["append_only"] == "0"
    assert "last_segment_checked" not in identity["settings"]  # a partial check writes it
    assert identity_from_export(EXPORT) == {
        "id": identity["id"],
        "key_sha256": identity["key_sha256"],
    }


def test_a_folded_key_and_its_export_hash_alike():
    """The config folds the key over tab-indented lines; the export does not."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(CONFIG)
    assert "\n" in parser["repository"]["key"]
    assert (
        identity_from_config(CONFIG, "c")["key_sha256"]
        == identity_from_export(EXPORT)["key_sha256"]
    )


def test_a_rewritten_key_and_a_changed_id_are_named():
    recorded = identity_from_config(CONFIG, "c")
    assert identity_problem(recorded, None, recorded) is None
    rewritten = identity_from_config(repository_config("host1", key=OTHER_KEY), "c")
    assert identity_problem(recorded, None, rewritten) == (
        "the repository key in its config was rewritten"
    )
    other = identity_from_config(repository_config("host2"), "c")
    problem = identity_problem(recorded, None, other)
    assert "repository id changed" in problem and "key" in problem
    settings = dict(recorded, settings={**recorded["settings"], "append_only": "1"})
    assert "append_only changed ('1' → '0')" in identity_problem(settings, None, recorded)


def test_an_older_baseline_is_held_to_the_servers_copy():
    live = identity_from_config(repository_config("host1", key=OTHER_KEY), "c")
    assert identity_problem(None, None, live) is None  # nothing to compare with
    assert "rewritten" in identity_problem(None, identity_from_export(EXPORT), live)
    assert (
        identity_problem(None, identity_from_export(EXPORT), identity_from_config(CONFIG, "c"))
        is None
    )


def test_a_config_borg_cannot_read_is_a_refusal_not_a_crash(tmp_path: Path):
    repository = tmp_path / "repo"
    repository.mkdir()
    damaged = CONFIG.replace("\nkey = ", "\nkey = AAAA\rappend_only = 1\n\t", 1)
    (repository / "config").write_text(damaged, newline="")
    live = read_identity(str(repository))
    assert live["unreadable"]
    problem = identity_problem(identity_from_config(CONFIG, "c"), None, live)
    assert problem.startswith("its config was rewritten so that Borg cannot read it")
    (repository / "config").unlink()
    with pytest.raises(IdentityError, match="cannot read"):
        read_identity(str(repository))
    with pytest.raises(IdentityError, match="does not exist"):
        read_identity(str(tmp_path / "absent"))


def test_rebuilding_the_config_keeps_borgs_first_settings_and_takes_the_copys_key():
    planted = repository_config("host1", key="AAAA\rappend_only = 1\rstorage_quota = 5")
    planted += "append_only = 1\n"
    rebuilt = rebuild_config(planted, EXPORT)
    assert identity_from_config(rebuilt, "c") == identity_from_config(CONFIG, "c")
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(rebuilt)
    assert parser["repository"]["append_only"] == "0"
    with pytest.raises(IdentityError, match="another id"):
        rebuild_config(repository_config("host2"), EXPORT)


def _borg_repository(tmp_path: Path, passphrase: str) -> tuple[Path, dict[str, str]]:
    """A real repository made by `borg init`, and the environment that opens it."""
    env = {"BORG_PASSPHRASE": passphrase, "BORG_BASE_DIR": str(tmp_path / "base")}
    env["PATH"] = "/usr/bin:/bin"
    repository = tmp_path / "repo"
    init = ["borg", "init", "-e", "repokey-blake2", str(repository)]
    subprocess.run(init, env=env, check=True, capture_output=True)
    return repository, env


def test_a_rebuilt_config_is_what_borg_reads(tmp_path: Path):
    """Borg itself opens a rebuilt config and reads the key it holds."""
    repository, env = _borg_repository(tmp_path, "pass")
    original = (repository / "config").read_text()
    export = subprocess.run(
        ["borg", "key", "export", str(repository), "-"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert export_text(original, "c") == export
    (repository / "config").write_text(
        rebuild_config(original.replace("\nkey = ", "\nkey = X\r", 1), export)
    )
    listed = subprocess.run(
        ["borg", "list", str(repository)], env=env, capture_output=True, text=True
    )
    assert listed.returncode == 0, listed.stderr


def test_the_identity_survives_the_state_file_and_a_bad_one_is_refused():
    moment = datetime(2026, 1, 2, tzinfo=UTC)
    identity = identity_from_config(CONFIG, "c")
    state = GuardState("host1", "/backups/host1", moment, {}, identity=identity)
    again = state_from_json(state_to_json(state), "s")
    assert again.identity == identity
    broken = state_to_json(state).replace(identity["id"], "not-hex")
    with pytest.raises(Exception, match="identity"):
        state_from_json(broken, "s")


def test_status_says_refused_with_why():
    now = datetime(2026, 1, 2, tzinfo=UTC)
    state = GuardState("host1", "/backups/host1", now, {}, last_result={"status": "ok"})
    health = judge_client(
        "host1", None, state, timedelta(days=2), now, None, "the key was rewritten"
    )
    assert health.state == "refused"
    assert "the key was rewritten" in health.problems[0] and "borgkeep apply" in health.problems[0]


# --- the plan's verdict on a repository -------------------------------------------------


def test_verdicts():
    rewritten = repository_config("host1", key=OTHER_KEY)
    assert judge_repository(None, None, None, None, "c").kind == ABSENT
    assert judge_repository(CONFIG, EXPORT, None, None, "c").kind == OURS
    assert judge_repository(CONFIG, None, EXPORT, None, "c").kind == OURS
    verdict = judge_repository(rewritten, EXPORT, None, None, "c")
    assert verdict.kind == REWRITTEN and verdict.reference == EXPORT
    assert judge_repository(repository_config("host2"), EXPORT, None, None, "c").kind == FOREIGN
    assert judge_repository("not a config", EXPORT, None, None, "c").kind == REWRITTEN
    assert judge_repository("not a config", None, None, None, "c").kind == FOREIGN
    assert judge_repository(CONFIG, None, None, "any passphrase", "c").kind == FOREIGN


def test_a_passphrase_opens_only_its_own_key(tmp_path: Path):
    repository, _ = _borg_repository(tmp_path, "right one")
    config = (repository / "config").read_text()
    export = export_text(config, "c")
    assert passphrase_opens(export, "right one")
    assert not passphrase_opens(export, "wrong one")
    assert not passphrase_opens("BORG_KEY x\nnot base64!\n", "right one")
    verdict = judge_repository(config, None, None, "right one", "c")
    assert verdict.kind == UNEXPORTED and verdict.reference == export
    # the copy and the export are of another repository (the root moved away and back):
    # Borgkeep's passphrase still proves this one is Borgkeep's
    moved = judge_repository(config, EXPORT, EXPORT, "right one", "c")
    assert moved.kind == UNEXPORTED and moved.reference == export
    stranger = judge_repository(config, EXPORT, EXPORT, "wrong one", "c")
    assert stranger.kind == FOREIGN and "does not open it" in stranger.reason


# --- what the plan does with each -----------------------------------------------------


def _converged():
    inventory, settings, facts, passphrases = fresh_fleet()
    facts = converge(inventory, settings, facts, passphrases)
    return inventory, settings, facts, {k: Passphrase(v.value) for k, v in passphrases.items()}


def _with_config(facts, client: str, text: str):
    path = f"/backups/{client}/config"
    server = facts["nas"]
    return {
        **facts,
        "nas": replace(
            server, files={**server.files, path: FileState(path, text.encode(), 0o600, "borg")}
        ),
    }


def test_a_converged_fleet_keeps_a_copy_of_each_key_and_plans_nothing():
    inventory, settings, facts, passphrases = _converged()
    assert facts["nas"].file(f"{STATE_DIR}/host1.repokey").exists
    _, plan = plan_for(inventory, settings, facts, passphrases)
    assert plan.empty


def test_a_rewritten_key_is_a_planned_restoration_from_the_servers_copy():
    inventory, settings, facts, passphrases = _converged()
    facts = _with_config(facts, "host1", repository_config("host1", key=OTHER_KEY))
    _, plan = plan_for(inventory, settings, facts, passphrases)
    (change,) = plan.changes
    assert (change.host, change.action) == ("nas", "restore-repokey")
    assert change.description.startswith(
        "restore the repository key of host1, rewritten through its own key"
    )
    assert change.args == {
        "client": "host1",
        "python": change.args["python"],
        "guard": f"{STATE_DIR}/guard.py",
        "user": "borg",
    }
    assert EXPORT.split()[2] not in plan.to_json()


def test_a_lost_copy_is_written_again_from_the_operators_export_before_the_restoration():
    inventory, settings, facts, passphrases = _converged()
    copy = f"{STATE_DIR}/host1.repokey"
    server = facts["nas"]
    files = {k: v for k, v in server.files.items() if k != copy}
    facts = _with_config(
        {**facts, "nas": replace(server, files=files)},
        "host1",
        repository_config("host1", key=OTHER_KEY),
    )
    desired = compute_desired_state(inventory, settings, facts, passphrases, {"host1": EXPORT})
    plan = compute_plan(desired, facts)
    assert [(c.path or c.action) for c in plan.changes] == [copy, "restore-repokey"]
    assert plan.changes[0].secret and "BORG_KEY" not in plan.to_json()


def test_another_repository_where_a_new_one_would_be_created_is_refused_before_anything():
    inventory, settings, facts, passphrases = fresh_fleet()
    facts = _with_config(facts, "host1", repository_config("stranger"))
    with pytest.raises(DesiredStateError) as refused:
        plan_for(inventory, settings, facts, passphrases)
    message = str(refused.value)
    assert "host1: a Borg repository already exists at /backups/host1" in message
    assert "passphrase does not open it" in message and "Nothing was planned or written" in message


def test_a_repository_the_guard_is_pruning_is_not_absent():
    inventory, settings, facts, passphrases = fresh_fleet()
    hidden = "/backups/.host1.borgkeep-guard"
    facts = {**facts, "nas": replace(facts["nas"], existing=facts["nas"].existing | {hidden})}
    with pytest.raises(DesiredStateError, match="out of the client's reach"):
        plan_for(inventory, settings, facts, passphrases)


def test_a_missing_baseline_and_copy_are_planned_again_after_an_interrupted_apply():
    """Killed after `borg init` and its export, before the guard's init: the next plan
    records the baseline and writes the copy from the operator's export."""
    inventory, settings, facts, passphrases = _converged()
    state = guard_state_path(STATE_DIR, "host2")
    copy = f"{STATE_DIR}/host2.repokey"
    server = facts["nas"]
    facts["nas"] = replace(
        server,
        existing=server.existing - {state},
        files={k: v for k, v in server.files.items() if k != copy},
    )
    config = facts["nas"].file("/backups/host2/config").text
    desired = compute_desired_state(
        inventory, settings, facts, passphrases, {"host2": export_text(config, "c")}
    )
    plan = compute_plan(desired, facts)
    assert [(c.path or c.action) for c in plan.changes] == [copy, "init-guard"]
    assert "has none" in plan.changes[1].description


def test_a_key_the_operators_store_lacks_is_stored_before_apply():
    """The server's copy (or Borgkeep's passphrase) proves the repository is Borgkeep's:
    its key goes to the operator's store, whatever stopped the export before."""
    inventory, settings, facts, passphrases = _converged()
    desired = compute_desired_state(inventory, settings, facts, passphrases, {})
    assert set(desired.unexported_keys) == {"host1", "host2"}
    assert desired.unexported_keys["host1"].startswith("BORG_KEY ")
    stored = compute_desired_state(
        inventory, settings, facts, passphrases, dict(desired.unexported_keys)
    )
    assert stored.unexported_keys == {}


def test_a_nonce_set_out_of_range_is_named_and_planned_back():
    """A client can set the repository's nonce near 2**64 (commit_nonce_reservation):
    every encrypted write fails. The guard names it; the plan resets it."""
    assert nonce_problem(None) is None
    assert nonce_problem("0000000000001000") is None
    assert "near the end of its range" in nonce_problem("fffffffffffff000")
    assert nonce_problem("not hex") == "its nonce file holds no number"
    verdict = judge_repository(CONFIG, EXPORT, None, None, "c", "fffffffffffff000")
    assert verdict.kind == REWRITTEN and "nonce" in verdict.reason
    assert judge_repository(CONFIG, EXPORT, None, None, "c", "00000000000000ff").kind == OURS
    inventory, settings, facts, passphrases = _converged()
    path = "/backups/host1/nonce"
    server = facts["nas"]
    nonce = FileState(path, b"fffffffffffff000", 0o600, "borg")
    facts = {**facts, "nas": replace(server, files={**server.files, path: nonce})}
    _, plan = plan_for(inventory, settings, facts, passphrases)
    (change,) = plan.changes
    assert change.action == "restore-repokey"
    assert change.description.startswith("reset the nonce of host1's repository")
