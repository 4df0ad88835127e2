"""Issue 21, discovery wired in: what a client already has (its borgmatic configs, cron
jobs, the repository on the server and the key line reaching it) is shown read-only in the
plan's text, its warnings and `plan --json` (`existing`), never with a passphrase; and
Borgkeep's own config and crontab block are never shown as found."""

from __future__ import annotations

import json
from dataclasses import replace

from tests.planning import client_key, converge, fresh_fleet
from wizard.pipeline.existing_setup import (
    client_jobs,
    client_ssh_resolver,
    discover_client_configs,
    existing_setups,
)
from wizard.pipeline.facts import FileState, server_layout
from wizard.reports import render_plan_text
from wizard.session import FleetSession

OLD_KEY = client_key("the old key of host1")
HOME_YAML = """\
location:
    source_directories: [/etc, /home]
    repositories:
        - ssh://borg@nas.lan:2222/data/backups/host1
storage:
    encryption_passphrase: SECRETVALUE
retention:
    keep_daily: 7
    keep_weekly: 4
"""
ABSENT = ("/etc/borgmatic/config.yaml", "/root/.config/borgmatic/config.yaml")


def with_existing_setup(facts, crontab: str = "0 3 * * * borgmatic\n", config: str = HOME_YAML):
    """host1 as an existing fleet leaves it: a config in /etc/borgmatic.d, a bare
    `borgmatic` in root's crontab, its old key read-write on the server."""
    host1 = facts["host1"]
    listing = tuple(
        sorted({"home.yaml", *host1.existing_setup_listings.get("/etc/borgmatic.d", ())})
    )
    facts["host1"] = replace(
        host1,
        crontabs={**host1.crontabs, "root": crontab + (host1.crontabs.get("root") or "")},
        existing_setup_files={
            "/etc/borgmatic.d/home.yaml": config.encode(),
            "/root/.ssh/id_ed25519.pub": f"{OLD_KEY} root@host1\n".encode(),
        },
        existing_setup_listings={"/etc/borgmatic.d": listing},
        existing_setup_missing={path: "absent" for path in ABSENT}
        | {"/root/.config/borgmatic.d": "absent"},
    )
    nas = facts["nas"]
    keys_path = server_layout(nas, settings_of()).authorized_keys
    old = nas.file(keys_path).text or ""
    line = f'command="borg serve --restrict-to-path /data/backups/host1",restrict {OLD_KEY}\n'
    facts["nas"] = replace(
        nas, files={**nas.files, keys_path: FileState(keys_path, (line + old).encode(), 0o600)}
    )
    return facts


def settings_of():
    return fresh_fleet()[1]


def plan_of(facts, inventory, settings, passphrases, beside: bool = True):
    """The plan; `beside`: host1's inventory entry starts a new repository at Borgkeep's
    default path beside the one found (without a choice the plan refuses: test_takeover_plan)."""
    if beside:
        host1 = inventory.client("host1")
        inventory = inventory.with_client(replace(host1, repository="/backups/host1"))
        settings = replace(settings, placed_repositories=(("host1", "/backups/host1"),))
    session = FleetSession(inventory)
    session.settings, session.facts, session.passphrases = settings, facts, passphrases
    return session.plan()


def test_the_existing_setup_is_shown_in_the_text_and_a_bare_job_gets_no_warning():
    """Borgkeep's config lives in its own directory (/etc/borgkeep), so the bare
    `borgmatic` job of the old setup does not load it: no warning about it."""
    inventory, settings, facts, passphrases = fresh_fleet()
    plan = plan_of(with_existing_setup(facts), inventory, settings, passphrases)
    text = render_plan_text(plan)
    assert "existing Borg setup found (read-only: this plan changes none of it):" in text
    (line,) = [line for line in text.splitlines() if line.startswith("  host1: ")]
    assert "existing Borg setup: repository nas:/data/backups/host1" in line
    assert "read-write key line" in line and "client-side prune" in line
    assert "config /etc/borgmatic.d/home.yaml (retention: keep_daily 7, keep_weekly 4)" in line
    assert "job crontab of root, line 1: 0 3 * * * as root: borgmatic" in line
    assert not [w for w in plan.warnings if "runs `borgmatic`" in w]
    (config,) = [c for c in plan.changes if c.host == "host1" and (c.path or "").endswith(".yaml")]
    assert config.path == "/etc/borgkeep/borgkeep-host1.yaml"
    assert "host2" not in plan.existing


def test_a_job_that_names_borgkeeps_directory_is_warned_about():
    inventory, settings, facts, passphrases = fresh_fleet()
    crontab = "0 3 * * * borgmatic -c /etc/borgkeep\n"
    plan = plan_of(with_existing_setup(facts, crontab), inventory, settings, passphrases)
    (warning,) = [w for w in plan.warnings if "runs `borgmatic`" in w]
    assert warning.startswith("host1: crontab of root, line 1 runs `borgmatic` (prune, compact")
    assert "/etc/borgkeep/borgkeep-host1.yaml" in warning
    assert "fails" in warning and "-c" in warning
    assert f"warning: {warning}" in render_plan_text(plan)


def test_plan_json_lists_what_was_found_under_existing():
    inventory, settings, facts, passphrases = fresh_fleet()
    plan = plan_of(with_existing_setup(facts), inventory, settings, passphrases)
    data = json.loads(plan.to_json())
    host1 = data["existing"]["host1"]
    assert host1["found"] is True
    assert host1["summary"].startswith("existing Borg setup: repository nas:/data/backups/host1")
    (config,) = host1["configs"]["configs"]
    assert config["path"] == "/etc/borgmatic.d/home.yaml"
    assert config["retention"] == {"keep_daily": 7, "keep_weekly": 4}
    assert [line["line"] for line in host1["key_lines"]] == [1]
    assert host1["client_side_prune"] and "host2" not in data["existing"]


def test_a_passphrase_in_a_config_never_shows_in_text_or_json():
    inventory, settings, facts, passphrases = fresh_fleet()
    plan = plan_of(with_existing_setup(facts), inventory, settings, passphrases)
    assert "existing" in plan.to_json() and "host1" in plan.existing
    for shown in (plan.to_json(), render_plan_text(plan), *plan.warnings):
        assert "SECRETVALUE" not in shown


def test_a_job_with_its_own_configs_gets_no_warning():
    inventory, settings, facts, passphrases = fresh_fleet()
    crontab = "0 3 * * * borgmatic -c /etc/borgmatic.d/home.yaml\n"
    plan = plan_of(with_existing_setup(facts, crontab), inventory, settings, passphrases)
    assert not [w for w in plan.warnings if "runs `borgmatic`" in w]
    assert "client-side prune" in plan.existing["host1"].describe()


def test_borgkeeps_own_config_and_crontab_block_are_not_found_as_existing():
    inventory, settings, facts, passphrases = fresh_fleet()
    facts = converge(inventory, settings, facts, passphrases)
    host1 = facts["host1"]
    assert "borgkeep" in (host1.crontabs["root"] or "")
    assert host1.file("/etc/borgkeep/borgkeep-host1.yaml").exists
    facts["host1"] = replace(
        host1,
        existing_setup_listings={"/etc/borgmatic.d": ()},
        existing_setup_missing={path: "absent" for path in ABSENT}
        | {"/root/.config/borgmatic.d": "absent"},
    )
    plan = plan_of(facts, inventory, settings, passphrases)
    assert plan.empty and plan.existing == {}
    assert "existing Borg setup" not in render_plan_text(plan)
    assert json.loads(plan.to_json())["existing"] == {}


def earlier_borgkeep(facts, host: str = "host1"):
    """host's facts as an earlier Borgkeep left them: its config in /etc/borgmatic.d
    (where any bare `borgmatic` run finds it) and its cron line running it from there."""
    old, new = "/etc/borgmatic.d/borgkeep-host1.yaml", "/etc/borgkeep/borgkeep-host1.yaml"
    facts = dict(facts)
    state = facts[host]
    config = state.files[new]
    files = {path: f for path, f in state.files.items() if path != new}
    files[old] = replace(config, path=old)
    crontab = (state.crontabs["root"] or "").replace(new, old)
    facts[host] = replace(
        state,
        files=files,
        crontabs={**state.crontabs, "root": crontab},
        existing_setup_files={old: config.content},
        existing_setup_listings={"/etc/borgmatic.d": ("borgkeep-host1.yaml",)},
        existing_setup_missing={path: "absent" for path in ABSENT}
        | {"/root/.config/borgmatic.d": "absent"},
    )
    return facts


def test_a_config_an_earlier_borgkeep_put_in_borgmatic_d_moves_to_borgkeeps_directory():
    inventory, settings, facts, passphrases = fresh_fleet()
    facts = earlier_borgkeep(converge(inventory, settings, facts, passphrases))
    plan = plan_of(facts, inventory, settings, passphrases)
    moves = {(c.host, c.action, c.path) for c in plan.changes}
    assert ("host1", "delete", "/etc/borgmatic.d/borgkeep-host1.yaml") in moves
    assert ("host1", "create", "/etc/borgkeep/borgkeep-host1.yaml") in moves
    (cron,) = [c for c in plan.changes if c.host == "host1" and c.path == "crontab:root"]
    assert "-c /etc/borgkeep/borgkeep-host1.yaml" in cron.diff
    assert "-c /etc/borgmatic.d/borgkeep-host1.yaml" in cron.diff  # the line it replaces
    assert plan.existing == {}  # the old place's file is Borgkeep's, not an existing setup
    assert {c.host for c in plan.changes} == {"host1"}


def test_a_foreign_file_at_the_old_place_is_left_alone():
    """A file named like Borgkeep's old config but without its header is the user's."""
    inventory, settings, facts, passphrases = fresh_fleet()
    facts = earlier_borgkeep(converge(inventory, settings, facts, passphrases))
    old = "/etc/borgmatic.d/borgkeep-host1.yaml"
    state = facts["host1"]
    foreign = replace(state.files[old], content=HOME_YAML.encode())
    facts["host1"] = replace(state, files={**state.files, old: foreign})
    plan = plan_of(facts, inventory, settings, passphrases)
    assert not [c for c in plan.changes if c.path == old]


def test_a_client_without_a_readable_borgmatic_version_is_left_to_the_plans_own_error():
    inventory, settings, facts, passphrases = fresh_fleet()
    facts = with_existing_setup(facts)
    for version in (None, "not a version"):
        odd = replace(facts["host1"], borgmatic_version=version)
        assert discover_client_configs(odd, "host1") is None
        assert client_jobs(odd)  # the crontab is still read, without version rules
        assert existing_setups({**facts, "host1": odd}, "nas", settings, ["host1"]) == {}


def test_an_alias_of_the_clients_ssh_config_reaches_the_server():
    inventory, settings, facts, passphrases = fresh_fleet()
    facts = with_existing_setup(
        facts, config=HOME_YAML.replace("ssh://borg@nas.lan:2222", "backup-box:")
    )
    host1 = facts["host1"]
    ssh_config = b"Host other\n  HostName elsewhere\nHost backup-*\n  HostName nas.lan\n  Port 2222\n  User borg\nHost *\n  Port 22\n"
    facts["host1"] = replace(
        host1,
        existing_setup_files={**host1.existing_setup_files, "/root/.ssh/config": ssh_config},
    )
    resolved = client_ssh_resolver(facts["host1"])("backup-box")
    assert (resolved.hostname, resolved.port, resolved.user) == ("nas.lan", 2222, "borg")
    summary = existing_setups(facts, "nas", settings, ["host1"])["host1"]
    assert summary.describe().startswith("existing Borg setup: repository nas:/data/backups/host1")


def test_the_key_line_of_the_key_a_configs_ssh_command_names_is_found():
    inventory, settings, facts, passphrases = fresh_fleet()
    config = HOME_YAML.replace(
        "storage:\n", "storage:\n    ssh_command: ssh -i /root/.ssh/id_backup\n"
    )
    facts = with_existing_setup(facts, config=config)
    host1 = facts["host1"]
    files = dict(host1.existing_setup_files)
    files["/root/.ssh/id_backup.pub"] = files.pop("/root/.ssh/id_ed25519.pub")
    facts["host1"] = replace(host1, existing_setup_files=files)
    summary = existing_setups(facts, "nas", settings, ["host1"])["host1"]
    assert "read-write key line" in summary.describe()
    assert summary.repositories[0].identity_source == "ssh_command"
