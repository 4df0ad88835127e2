"""First backups: the job run is the one Borgkeep installed in the login's crontab, run the way
cron runs it; a crontab without it runs nothing."""

from __future__ import annotations

import os
import subprocess
import threading

import pytest

from tests.planning import fresh_fleet, plan_for
from wizard.artefacts.crontab import render_crontab
from wizard.artefacts.managed_block import BEGIN_MARKER
from wizard.pipeline.desired.items import DesiredCrontab
from wizard.pipeline.first_backup import (
    as_cron_runs_it,
    backup_job,
    first_backups,
    managed_jobs,
    run_first_backup,
)
from wizard.remote.transport import CommandResult


class FakeClient:
    """A client's connection: `crontab -l` answers `crontab`; the job exits `rc`."""

    def __init__(self, crontab: str | None, rc: int = 0, stderr: bytes = b"") -> None:
        self.crontab, self.rc, self.stderr = crontab, rc, stderr
        self.scripts: list[str] = []
        self.lock = threading.Lock()

    def run(self, script: str, **_: object) -> CommandResult:
        with self.lock:
            self.scripts.append(script)
        if script == "crontab -l":
            if self.crontab is None:
                return CommandResult(1, b"", b"no crontab for root\n")
            return CommandResult(0, self.crontab.encode(), b"")
        return CommandResult(self.rc, b"", self.stderr)


def _installed_crontabs():
    inventory, settings, facts, passphrases = fresh_fleet()
    desired, _ = plan_for(inventory, settings, facts, passphrases)
    crontabs = {
        entry.host: entry.item.content
        for entry in desired.items
        if isinstance(entry.item, DesiredCrontab) and entry.host != "nas"
    }
    return inventory, facts, crontabs


def test_the_job_is_the_one_apply_installs_for_each_client():
    inventory, facts, crontabs = _installed_crontabs()
    for spec in inventory.clients:
        job = backup_job(spec, facts[spec.name])
        assert managed_jobs(crontabs[spec.name]) == [job]
        assert job.endswith(" create check") and job.startswith(facts[spec.name].borgmatic_path)


def test_managed_jobs_skip_mailto_comments_and_foreign_lines():
    text = render_crontab(
        "MAILTO=root\n5 4 * * * /usr/local/bin/mine\n",
        ["0 3 * * * /usr/bin/borgmatic -c /x create"],
    )
    assert managed_jobs(text) == ["/usr/bin/borgmatic -c /x create"]
    with_mail = render_crontab(None, ["0 3 * * * /usr/bin/true"], mailto="ops@example.org")
    assert managed_jobs(with_mail) == ["/usr/bin/true"]
    assert managed_jobs(None) == [] and managed_jobs("5 4 * * * /usr/bin/x\n") == []


def test_the_job_runs_with_crons_bare_environment_from_the_home(tmp_path):
    script = as_cron_runs_it("pwd; env | sort")
    env = {"HOME": str(tmp_path), "SECRET_TOKEN": "x", "PATH": os.environ["PATH"]}
    output = subprocess.run(
        ["sh", "-c", script], env=env, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert output[0] == str(tmp_path)
    names = {line.split("=", 1)[0] for line in output[1:]}
    assert names - {"PWD", "SHLVL", "_"} == {"HOME", "LOGNAME", "PATH", "SHELL"}
    assert "PATH=/usr/bin:/bin" in output and "SHELL=/bin/sh" in output


def test_a_client_runs_exactly_its_installed_job():
    inventory, facts, crontabs = _installed_crontabs()
    spec = inventory.client("host1")
    conn = FakeClient(crontabs["host1"])
    outcome = run_first_backup(conn, spec, facts["host1"])
    assert outcome.ok and outcome.command == backup_job(spec, facts["host1"])
    assert conn.scripts[0] == "crontab -l"
    assert conn.scripts[1] == as_cron_runs_it(outcome.command)


def test_a_crontab_without_the_job_runs_nothing():
    inventory, facts, crontabs = _installed_crontabs()
    spec = inventory.client("host1")
    for crontab in (None, "0 3 * * * /usr/bin/borgmatic create\n", crontabs["host2"]):
        conn = FakeClient(crontab)
        outcome = run_first_backup(conn, spec, facts["host1"])
        assert not outcome.ok and "does not hold Borgkeep's backup job for host1" in outcome.detail
        assert conn.scripts == ["crontab -l"]
    broken = FakeClient(f"{BEGIN_MARKER}\n0 3 * * * /usr/bin/true\n")
    outcome = run_first_backup(broken, spec, facts["host1"])
    assert not outcome.ok and "block is broken" in outcome.detail


def test_a_failing_backup_says_borgmatics_last_line():
    inventory, facts, crontabs = _installed_crontabs()
    conn = FakeClient(crontabs["host2"], rc=1, stderr=b"warning\nRepository does not exist\n\n")
    outcome = run_first_backup(conn, inventory.client("host2"), facts["host2"])
    assert not outcome.ok and outcome.detail == "exit 1: Repository does not exist"


@pytest.mark.parametrize("parallel", [1, 4])
def test_every_client_in_parallel_with_events_and_unreachable_ones_named(parallel):
    inventory, facts, crontabs = _installed_crontabs()
    conns = {name: FakeClient(text) for name, text in crontabs.items()}
    events: list[tuple[str, str, str]] = []
    reachable = {"host1": facts["host1"]}
    outcomes = first_backups(
        inventory,
        reachable,
        {"host2": "cannot reach host2.lan:22"},
        conns.__getitem__,
        ["host1", "host2"],
        lambda *e: events.append(e),
        parallel,
    )
    assert list(outcomes) == ["host1", "host2"]
    assert outcomes["host1"].ok
    assert outcomes["host2"].detail == "not reachable: cannot reach host2.lan:22"
    assert conns["host2"].scripts == []
    assert ("host1", "step", "backing up (its cron job, run now)") in events
    assert ("host1", "done", "archive made") in events
    assert ("host2", "error", "not reachable: cannot reach host2.lan:22") in events


def test_the_session_backs_up_every_client_not_left_out(monkeypatch):
    from wizard.session import FleetSession

    inventory, facts, crontabs = _installed_crontabs()
    session = FleetSession(inventory)
    session.facts = dict(facts)
    session.left_out = {"host2"}
    conns = {name: FakeClient(text) for name, text in crontabs.items()}
    monkeypatch.setattr(session, "_connect", conns.__getitem__)
    outcomes = session.first_backups()
    assert list(outcomes) == ["host1"] and outcomes["host1"].ok
    assert conns["host2"].scripts == []
    assert session.first_backups(["host2"])["host2"].ok
