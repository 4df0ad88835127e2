"""The server's desired state: pinned key lines with the server's borg and each quota,
refusal of hostile client keys, the guard program, its baselines and its cron lines."""

from __future__ import annotations

import base64
import struct
from dataclasses import replace

import pytest

from tests.planning import (
    INVENTORY,
    applied_facts,
    client_key,
    converge,
    fresh_fleet,
    plan_for,
)
from wizard.artefacts.guard_program import guard_state_path, legacy_state_path
from wizard.inventory.model import ClientSpec, Inventory, ServerSpec
from wizard.inventory.settings import (
    client_backups_per_day,
    client_stale_after,
    daily_run_minutes,
    walked_busiest_day,
    walked_longest_gap,
)
from wizard.pipeline.desired.fleet import Fleet
from wizard.pipeline.desired.items import DesiredStateError
from wizard.pipeline.desired.server_prune import cron_line_client, guard_config
from wizard.pipeline.facts import FileState
from wizard.reports import render_plan_text

STATE_DIR = "/home/borg/.config/borgkeep"
AK = "/home/borg/.ssh/authorized_keys"


def _with_quota(text: str = INVENTORY) -> str:
    return text.replace(
        "    source_directories: [/etc, /home]\n",
        "    source_directories: [/etc, /home]\n    quota: 50G\n",
    )


def _change(plan, path):
    return next(c for c in plan.changes if c.path == path)


def test_forced_command_uses_the_servers_borg_and_the_clients_quota():
    inventory, settings, facts, passphrases = fresh_fleet(_with_quota())
    facts["nas"] = replace(facts["nas"], borg_path="/opt/borg-1.4/bin/borg")
    _, plan = plan_for(inventory, settings, facts, passphrases)
    ak = _change(plan, AK).new
    (host1,) = [line for line in ak.splitlines() if line.endswith("borgkeep:host1")]
    assert host1.startswith(
        'command="/opt/borg-1.4/bin/borg serve --append-only --restrict-to-repository '
        '/backups/host1 --storage-quota 50G",restrict ssh-ed25519 '
    )
    (host2,) = [line for line in ak.splitlines() if line.endswith("borgkeep:host2")]
    assert "--storage-quota" not in host2
    assert any("no storage quota for host2" in w for w in plan.warnings)


def _ecdsa_key() -> str:
    blob = struct.pack(">I", 19) + b"ecdsa-sha2-nistp256" + struct.pack(">I", 8) + b"nistp256"
    blob += struct.pack(">I", 65) + b"\x04" + b"x" * 64
    return "ecdsa-sha2-nistp256 " + base64.b64encode(blob).decode()


@pytest.mark.parametrize(
    ("key", "words"),
    [
        (_ecdsa_key(), "is not an ed25519 key"),
        ("ssh-ed25519 AAAA not-base64!", "is invalid"),
        (
            "ssh-ed25519 " + base64.b64encode(b"\x00\x00\x00\x0bssh-ed25519").decode(),
            "holds no key",
        ),
    ],
)
def test_a_client_key_that_is_not_a_sound_ed25519_key_is_refused(key: str, words: str):
    inventory, settings, facts, passphrases = fresh_fleet()
    facts["host1"] = replace(facts["host1"], client_public_key=key)
    with pytest.raises(DesiredStateError) as refused:
        plan_for(inventory, settings, facts, passphrases)
    assert refused.value.host == "host1" and words in str(refused.value)


def test_two_clients_with_one_key_are_both_named_and_nothing_is_planned():
    inventory, settings, facts, passphrases = fresh_fleet()
    for name in ("host1", "host2"):
        facts[name] = replace(facts[name], client_public_key=client_key("shared"))
    with pytest.raises(DesiredStateError) as refused:
        plan_for(inventory, settings, facts, passphrases)
    assert "host1" in str(refused.value) and "host2" in str(refused.value)


def test_a_new_key_already_on_a_hand_written_line_is_refused_naming_the_line():
    inventory, settings, facts, passphrases = fresh_fleet()
    foreign = f"# admins\n{client_key('host1')} ops@laptop\n"
    facts["nas"] = replace(
        facts["nas"], files={AK: FileState(AK, foreign.encode(), 0o600, "borg", "borg")}
    )
    facts["host1"] = replace(facts["host1"], client_public_key=client_key("host1"))
    with pytest.raises(DesiredStateError) as refused:
        plan_for(inventory, settings, facts, passphrases)
    assert "line 2" in str(refused.value) and "ops@laptop" in str(refused.value)


def test_a_pinned_key_copied_above_the_block_is_a_warning_naming_the_line():
    inventory, settings, facts, passphrases = fresh_fleet()
    facts = converge(inventory, settings, facts, passphrases)
    pinned = facts["nas"].files[AK]
    shadow = f"{client_key('host1')} host1-by-hand\n".encode()
    facts["nas"] = replace(
        facts["nas"],
        files={**facts["nas"].files, AK: replace(pinned, content=shadow + pinned.content)},
    )
    _, plan = plan_for(inventory, settings, facts, passphrases)
    assert [c for c in plan.changes if c.path == AK] == []
    text = render_plan_text(plan)
    assert "line 1 carries the key of client host1 with no forced command" in text


def test_new_repositories_get_a_guard_baseline_after_the_guard_is_written():
    desired, plan = plan_for(*fresh_fleet())
    server = [c for c in plan.changes if c.host == "nas"]
    guard = next(i for i, c in enumerate(server) if c.path == f"{STATE_DIR}/guard.py")
    inits = [i for i, c in enumerate(server) if c.action == "init-guard"]
    assert [server[i].args["client"] for i in inits] == ["host1", "host2"]
    assert all(i > guard for i in inits)
    assert server[inits[0]].args["user"] == "borg"


def test_borgkeeps_repository_without_a_baseline_gets_one_planned_again():
    """An apply stopped between `borg init` and the guard's baseline converges: the next
    plan records the baseline (and says why), it never leaves a warning to act on by hand."""
    inventory, settings, facts, passphrases = fresh_fleet()
    facts = converge(inventory, settings, facts, passphrases)
    state = guard_state_path(STATE_DIR, "host1")
    facts["nas"] = replace(facts["nas"], existing=facts["nas"].existing - {state})
    _, plan = plan_for(inventory, settings, facts, passphrases)
    (init,) = [c for c in plan.changes if c.action == "init-guard"]
    assert init.args["client"] == "host1" and "has none" in init.description
    assert not [w for w in plan.warnings if "no baseline" in w]


def test_the_old_shell_guards_state_counts_as_a_baseline():
    inventory, settings, facts, passphrases = fresh_fleet()
    facts = converge(inventory, settings, facts, passphrases)
    state = guard_state_path(STATE_DIR, "host1")
    legacy = legacy_state_path(STATE_DIR, "host1")
    facts["nas"] = replace(facts["nas"], existing=(facts["nas"].existing - {state}) | {legacy})
    _, plan = plan_for(inventory, settings, facts, passphrases)
    assert not [w for w in plan.warnings if "no baseline" in w]


def test_the_cron_line_runs_the_guard_with_the_python_borgmatic_runs_on():
    inventory, settings, facts, passphrases = fresh_fleet()
    facts["nas"] = replace(facts["nas"], python_path="/opt/bm/bin/python3")
    _, plan = plan_for(inventory, settings, facts, passphrases)
    cron = _change(plan, "crontab:borg").new
    assert f"30 7 * * * /opt/bm/bin/python3 -I {STATE_DIR}/guard.py prune host1 >/dev/null" in cron
    assert [cron_line_client(line) for line in cron.splitlines()[1:3]] == ["host1", "host2"]


def test_cron_lines_of_every_format_name_their_client():
    assert cron_line_client("30 7 * * * /bin/sh /h/.config/borgkeep/prune-guard web-1") == "web-1"
    assert cron_line_client("0 5 * * * /usr/bin/borgmatic -c /h/prune-db.yaml prune") == "db"
    assert cron_line_client("0 5 * * * /usr/bin/true") is None


def test_guard_config_carries_each_clients_policy():
    inventory, settings, facts, passphrases = fresh_fleet()
    fleet = Fleet.resolve(inventory, settings, facts, passphrases)
    config = guard_config(fleet, list(inventory.clients))
    host2 = config["clients"]["host2"]
    assert host2["retention"] == {"keep_daily": 30, "keep_weekly": 4}
    assert host2["prefix"] == "host2-" and host2["max_new_per_day"] == 5
    assert config["borg"] == "/usr/bin/borg" and config["repo_root"] == "/backups"


def test_backups_per_day_follow_the_schedule():
    hourly = ClientSpec("h", "h", ("/x",), schedule="0 * * * *")
    assert client_backups_per_day(hourly) == 24 + 4
    weekly = ClientSpec("h", "h", ("/x",), schedule="0 3 * * 1")
    assert client_backups_per_day(weekly) == 1 + 4


def test_a_converged_fleet_plans_nothing_more():
    inventory, settings, facts, passphrases = fresh_fleet(_with_quota())
    facts = converge(inventory, settings, facts, passphrases)
    desired, plan = plan_for(inventory, settings, facts, passphrases)
    assert plan.empty, render_plan_text(plan)
    assert applied_facts(desired, facts, settings) == facts


def test_an_unproven_version_is_a_plan_warning_naming_the_nearest_proven_release():
    inventory, settings, facts, passphrases = fresh_fleet()
    facts["host1"] = replace(facts["host1"], borgmatic_version="1.8.7")
    _, plan = plan_for(inventory, settings, facts, passphrases)
    text = render_plan_text(plan)
    (line,) = [ln for ln in text.splitlines() if "1.8.7" in ln]
    assert line.startswith("warning: borgmatic 1.8.7 on host1 has not been proven")
    assert "1.8.5" in line
    assert not [ln for ln in text.splitlines() if "on host2 has not been proven" in ln]


def test_a_borg_outside_crons_path_is_named_and_used_by_absolute_path():
    inventory, settings, facts, passphrases = fresh_fleet()
    venv_borg = "/opt/borg-1.4/bin/borg"
    facts["host1"] = replace(facts["host1"], borg_path=venv_borg, cron_borg_path=None)
    facts["nas"] = replace(facts["nas"], borg_path=venv_borg, cron_borg_path="/usr/bin/borg")
    _, plan = plan_for(inventory, settings, facts, passphrases)
    text = render_plan_text(plan)
    assert f"host1: cron's PATH (/usr/bin:/bin) finds no borg, the login finds {venv_borg}" in text
    assert (
        f"nas: cron's PATH (/usr/bin:/bin) finds /usr/bin/borg, the login finds {venv_borg}" in text
    )
    config = next(c for c in plan.changes if c.path == "/etc/borgkeep/borgkeep-host1.yaml")
    assert f"local_path: {venv_borg}" in config.new
    prune = next(c for c in plan.changes if c.path == f"{STATE_DIR}/prune-host2.yaml")
    assert f"local_path: {venv_borg}" in prune.new
    assert f'command="{venv_borg} serve --append-only' in _change(plan, AK).new
    assert f'"borg": "{venv_borg}"' in _change(plan, f"{STATE_DIR}/guard.py").new


def test_a_restore_drill_schedule_adds_one_cron_line_and_none_by_default():
    inventory, settings, facts, passphrases = fresh_fleet()
    _, plan = plan_for(inventory, settings, facts, passphrases)
    assert " drill " not in _change(plan, "crontab:borg").new
    text = INVENTORY.replace("  address: nas.lan:2222\n", "  address: nas.lan:2222\n"
                             "  drill_schedule: '15 13 * * 0'\n")  # fmt: skip
    inventory, settings, facts, passphrases = fresh_fleet(text)
    assert settings.drill_schedule == "15 13 * * 0"
    _, plan = plan_for(inventory, settings, facts, passphrases)
    cron = _change(plan, "crontab:borg").new
    assert f"15 13 * * 0 /usr/bin/python3 -I {STATE_DIR}/guard.py drill >/dev/null" in cron
    assert cron_line_client(next(ln for ln in cron.splitlines() if " drill " in ln)) is None


@pytest.mark.parametrize(
    "schedule",
    [
        "17 3 * * *",
        "0 0 * * *",
        "59 23 * * *",
        "0,30 1,13 * * *",
        "5 0,6,12,18 * * *",
        "07 02 * * *",
    ],
)
def test_daily_schedules_skip_the_walk_with_the_walks_answer(schedule):
    """Every day alike: the guard's limits are computed from one day, and equal what
    croniter's two- and five-week walks give (the walk still runs for other schedules)."""
    assert daily_run_minutes(schedule) is not None
    client = ClientSpec("h", "h", ("/x",), schedule=schedule)
    inventory = Inventory(ServerSpec("nas", "nas"), {}, (client,))
    assert client_backups_per_day(client) == walked_busiest_day(schedule) + 4
    assert client_stale_after(inventory, client) == 2 * walked_longest_gap(schedule)


@pytest.mark.parametrize("schedule", ["0 3 * * 1", "*/15 * * * *", "0 3 1 * *", "0 1-3 * * *"])
def test_schedules_that_differ_by_day_are_walked(schedule):
    assert daily_run_minutes(schedule) is None
