"""Rough edges a newcomer hit on the command line (issue 26): each one pinned here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.planning import server_facts
from wizard.hostside.guard_health import judge_client
from wizard.inventory.parse import parse_inventory
from wizard.lab.demo import protection_wanted
from wizard.pipeline import day_two
from wizard.pipeline.apply_outcome import ApplyResult, ApplyStepError, HostOutcome
from wizard.pipeline.status import StatusError
from wizard.remote.lifecycle_scripts import restore_script
from wizard.reports import apply_result_lines, event_line, interrupted_lines, step_error_text
from wizard.safe_text import one_line
from wizard.session import FleetSession

INVENTORY = """\
version: 1
server: {name: nas, ssh: root@nas.lan, repo_root: /srv/backups}
retention: {keep_daily: 7}
clients:
  - {name: client1, ssh: root@client1.lan, source_directories: [/srv/data]}
"""


def test_a_resumed_demo_never_asks_to_see_the_protection_work():
    asked = []

    def ask(question: str) -> bool:
        asked.append(question)
        return True

    assert protection_wanted(None, False, ask) is False  # resumed (no receiver) or exit 1
    assert protection_wanted(True, False, ask) is False
    assert asked == []
    assert protection_wanted(None, True, ask) is True
    assert asked == ["See the protection work now?"]
    assert protection_wanted(False, True, ask) is False and len(asked) == 1


def test_a_failed_step_names_its_host_and_step_once():
    error = ApplyStepError("client1", "run restore", "borg extract failed: never matched")
    assert event_line("client1", "error", str(error)) == (
        "✗ client1: run restore: borg extract failed: never matched"
    )
    result = ApplyResult({"client1": HostOutcome("client1", error=error)})
    assert apply_result_lines(result) == [
        "✗ client1: failed at run restore: borg extract failed: never matched"
    ]
    assert "  ✗ client1: failed: run restore: borg extract failed: never matched" in (
        interrupted_lines(result, "run it again")
    )


def test_a_json_error_is_one_line(tmp_path):
    assert one_line("invalid inventory:\nclients[0]: bad\nserver: worse") == (
        "invalid inventory: clients[0]: bad; server: worse"
    )
    # a lifecycle command's per-host "error" (borg's output may have several lines)
    error = ApplyStepError("client1", "run restore", "borg extract failed: one\ntwo")
    assert one_line(step_error_text(error)) == "borg extract failed: one; two"
    inventory = tmp_path / "inv.yaml"
    inventory.write_text(INVENTORY.replace("keep_daily: 7", "keep_daily: -1"))
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "screens.launcher", "--inventory", str(inventory), "plan", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 1
    error = json.loads(result.stdout)["error"]
    assert error.startswith("invalid inventory: ") and "\n" not in error


def test_status_of_a_server_never_applied_says_so_plainly(monkeypatch, tmp_path):
    """No raw `runuser: user borg does not exist…`: the server has no borg user yet."""
    sent = []

    class Connection:
        def run(self, script, **options):
            sent.append(script)
            raise AssertionError("nothing is run as a user that does not exist")

    monkeypatch.setenv("BORGKEEP_SSH_CONFIG", str(tmp_path / "none"))
    monkeypatch.setenv("BORGKEEP_KNOWN_HOSTS", str(tmp_path / "known_hosts"))
    monkeypatch.setattr(day_two, "gather_basic", lambda conn, host, users=(): server_facts())
    session = FleetSession(parse_inventory(INVENTORY))
    monkeypatch.setattr(session, "_connect", lambda name: Connection())
    with pytest.raises(StatusError) as raised:
        session.status()
    assert str(raised.value) == (
        "nas: nothing is set up there yet (no user borg; `borgkeep apply` creates it)"
    )
    assert sent == []


def test_a_refusal_names_its_archives_once():
    from tests.test_status import DAY, NOW, _archive, _state

    listing = [_archive("client1-2026-03-09", DAY / 2)]
    refused = {
        "status": "refused",
        "time": "2026-03-09T07:30:00+00:00",
        "message": "REFUSING to prune: 1 archive(s) deleted outside the server's prune "
        "(client1-2026-02-28)",
        "archives": ["client1-2026-02-28"],
    }
    health = judge_client("client1", listing, _state(listing, refused), DAY, NOW)
    [problem] = [p for p in health.problems if "refused" in p]
    assert problem.count("client1-2026-02-28") == 1
    assert "(archives:" not in problem
    refused["message"] = "REFUSING to prune: 3 archive(s) deleted (client1-a, … and 2 more)"
    refused["archives"] = ["client1-a", "client1-b", "client1-c"]
    health = judge_client("client1", listing, _state(listing, refused), DAY, NOW)
    [problem] = [p for p in health.problems if "refused" in p]
    assert problem.endswith("(archives: client1-b, client1-c)")  # the ones cut from it


def _fake_borg(tmp_path: Path, body: str) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    borg = bin_dir / "borg"
    borg.write_text(f"#!/bin/sh\n{body}\n")
    borg.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}


def _restore(tmp_path: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess, Path]:
    destination = tmp_path / "var-tmp" / "borgkeep-restore-client1-20260101T000000"
    script = restore_script(
        "ssh://borg@nas/srv/backups/client1",
        "client1-2026-01-01",
        "/srv/data/nope.txt",
        str(destination),
        True,
        "/k",
        "/kh",
        "/p",
    )
    run = subprocess.run(["sh", "-c", script], capture_output=True, text=True, env=env, timeout=30)
    return run, destination


def test_a_restore_of_a_missing_path_leaves_no_empty_directory(tmp_path):
    env = _fake_borg(
        tmp_path, "echo \"Include pattern 'srv/data/nope.txt' never matched.\" >&2; exit 1"
    )
    run, destination = _restore(tmp_path, env)
    assert run.returncode == 1
    assert "borg extract failed: Include pattern 'srv/data/nope.txt' never matched." in run.stderr
    assert not destination.exists() and destination.parent.is_dir()


def test_a_restore_that_extracted_keeps_its_directory(tmp_path):
    env = _fake_borg(tmp_path, "mkdir -p srv/data && echo hi > srv/data/nope.txt")
    run, destination = _restore(tmp_path, env)
    assert run.returncode == 0, run.stderr
    assert (destination / "srv/data/nope.txt").read_text() == "hi\n"
