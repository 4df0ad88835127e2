"""The guard's `init` (the baseline `borgkeep apply` records for a repository it creates),
with the rendered program, real borg and a repository made through the client's forced
append-only command.

A repository whose log stores nothing but the manifest has no archive to list, so its
baseline is recorded without starting borg (proven by pointing the guard at a borg that
does not exist); anything else is listed by borg as before. Several clients are one run,
one outcome line each.
"""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess

import pytest

from tests.guard_lab import CLIENT, SYSTEM_PYTHON, GuardLab, describe
from tests.real_tools import BORG, BORGMATIC_BINARIES, PASSPHRASE, missing
from wizard.hostside.guard_segments import empty_log_boundary, last_committed_segment
from wizard.pipeline.apply import Executor
from wizard.pipeline.desired.items import PHASE_SERVER_PRUNE
from wizard.pipeline.identity import HostIdentity
from wizard.pipeline.plan import Change, Plan
from wizard.remote.identity import RunAs
from wizard.remote.transport import CommandResult
from wizard.secrets_store import SecretStore

NO_BORG = "/nonexistent/borg"
OTHER = "host2"


@pytest.fixture
def lab(tmp_path) -> GuardLab:
    if not os.access(BORG, os.X_OK) or not os.access(SYSTEM_PYTHON, os.X_OK):
        missing(f"borg ({BORG}) and {SYSTEM_PYTHON} are needed")
    variable, default = BORGMATIC_BINARIES["2"]
    borgmatic = os.environ.get(variable, default)
    if not os.access(borgmatic, os.X_OK):
        missing(f"borgmatic 2 not found at {borgmatic} (set {variable})")
    return GuardLab(tmp_path, borgmatic, "2.1.10")


def _clients(lab: GuardLab) -> dict:
    """The lab's own client and a second one, with its own passphrase file."""
    clients = lab.config()["clients"]
    other = dict(clients[CLIENT], prefix=f"{OTHER}-")
    other["passphrase_file"] = str(lab.state_dir / f"{OTHER}.passphrase")
    (lab.state_dir / f"{OTHER}.passphrase").write_text(PASSPHRASE + "\n")
    return {**clients, OTHER: other}


def _two_clients(lab: GuardLab, **overrides) -> None:
    lab.render(clients=_clients(lab), **overrides)


def test_a_new_repository_is_recorded_without_borg_and_its_first_backup_passes(lab: GuardLab):
    lab.client_borg("init", "--encryption", "repokey-blake2", "REPO")
    boundary = last_committed_segment(str(lab.repo))
    assert boundary is not None and empty_log_boundary(str(lab.repo)) == boundary

    lab.render(borg=NO_BORG)
    result = lab.run_guard("init", CLIENT)
    assert result.returncode == 0, describe(result)
    copy = lab.state_dir / f"{CLIENT}.repokey"
    assert result.stdout == (
        f"borgkeep-guard: {CLIENT}: recorded a baseline of 0 archive(s) in {lab.repo} and "
        f"kept a copy of its key in {copy}; from now on prune refuses if any of them is "
        "deleted or changed outside the guard\n"
    )
    exported = lab.server_borg("key", "export", str(lab.repo), "-").stdout
    assert copy.read_text() == exported and copy.stat().st_mode & 0o777 == 0o600
    state = lab.state()
    assert state["archives"] == {} and state["committed_segment"] == boundary

    source = lab.root / "source"
    source.mkdir()
    (source / "notes.txt").write_text("first backup\n")
    lab.client_borg("create", f"REPO::{CLIENT}-first", str(source))
    assert empty_log_boundary(str(lab.repo)) is None  # now it stores more than the manifest
    lab.render()
    check = lab.run_guard("check", CLIENT)
    assert check.returncode == 0, describe(check)
    assert f"borgkeep-guard: {CLIENT}: " in check.stdout and check.stderr == ""


def test_a_repository_with_archives_is_still_listed_by_borg(lab: GuardLab):
    lab.client_borg("init", "--encryption", "repokey-blake2", "REPO")
    source = lab.root / "source"
    source.mkdir()
    (source / "notes.txt").write_text("data\n")
    lab.client_borg("create", f"REPO::{CLIENT}-one", str(source))

    lab.render(borg=NO_BORG)
    without = lab.run_guard("init", CLIENT)
    assert without.returncode == 1, describe(without)
    assert not lab.state_file.exists()

    lab.render()
    listed = lab.run_guard("init", CLIENT)
    assert listed.returncode == 0, describe(listed)
    assert "recorded a baseline of 1 archive(s)" in listed.stdout
    assert [entry["name"] for entry in lab.state()["archives"].values()] == [f"{CLIENT}-one"]


def test_a_log_borg_could_not_have_written_is_left_to_borg(lab: GuardLab):
    lab.client_borg("init", "--encryption", "repokey-blake2", "REPO")
    boundary = last_committed_segment(str(lab.repo))
    segment = next(p for p in sorted(lab.repo.glob("data/*/*")) if p.stat().st_size > 17)
    segment.write_bytes(segment.read_bytes()[:8] + b"\xff" * 9 + segment.read_bytes()[17:])
    assert last_committed_segment(str(lab.repo)) == boundary
    assert empty_log_boundary(str(lab.repo)) is None


def test_several_clients_are_one_run_with_a_line_each(lab: GuardLab):
    lab.client_borg("init", "--encryption", "repokey-blake2", "REPO")
    other = lab.repo_root / OTHER
    shutil.copytree(lab.repo, other)  # another new repository (same ID: a copy)
    _two_clients(lab, borg=NO_BORG)

    first = lab.run_guard("init", CLIENT, OTHER)
    assert first.returncode == 0, describe(first)
    lines = first.stdout.splitlines()
    assert [line.split(": ")[1] for line in lines] == [CLIENT, OTHER]
    assert all("recorded a baseline of 0 archive(s)" in line for line in lines)
    assert (lab.state_dir / f"{OTHER}.guard.json").exists() and lab.state_file.exists()

    again = lab.run_guard("init", OTHER, CLIENT)
    assert again.returncode == 2, describe(again)
    assert again.stdout == ""
    assert [line.split(": ")[1] for line in again.stderr.splitlines()] == [OTHER, CLIENT]
    assert all("a baseline is already recorded" in line for line in again.stderr.splitlines())

    unknown = lab.run_guard("init", CLIENT, "ghost")
    assert unknown.returncode == 2 and "unknown client 'ghost'" in unknown.stderr
    assert unknown.stdout == ""


class LocalServer:
    """This machine as the server, its login the borg user itself; runs each command with
    the real `sh` and records it."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env, self.commands = env, []

    def run(
        self, command, stdin=None, sudo=False, timeout=None, check=False, **_: object
    ) -> CommandResult:
        self.commands.append(command)
        done = subprocess.run(["sh", "-c", command], input=stdin, capture_output=True, env=self.env)
        return CommandResult(done.returncode, done.stdout, done.stderr)


def test_apply_runs_the_baselines_as_one_guard_run_and_reports_each_client(lab: GuardLab):
    """Three `init-guard` steps: one remote command; the two new repositories are done, the
    missing one fails with its own line, and nothing else is reported for it."""
    lab.client_borg("init", "--encryption", "repokey-blake2", "REPO")
    shutil.copytree(lab.repo, lab.repo_root / OTHER)
    clients = _clients(lab)
    lab.render(borg=NO_BORG, clients={**clients, "ghost": dict(clients[CLIENT], prefix="ghost-")})
    user = getpass.getuser()
    changes = [
        Change(
            "nas",
            PHASE_SERVER_PRUNE,
            "command",
            "init-guard",
            None,
            f"baseline of {client}",
            args={"client": client, "python": SYSTEM_PYTHON, "guard": str(lab.guard), "user": user},
        )
        for client in (CLIENT, "ghost", OTHER)
    ]
    login = RunAs(user, str(lab.root))
    identity = HostIdentity("nas", login, login, {user: login}, {})
    server = LocalServer(lab.server_env)
    events: list[tuple[str, str]] = []
    result = Executor(
        Plan(changes, [], {}, ["nas"]),
        {"nas": server},
        "nas",
        store=SecretStore(),
        passphrases={},
        identities={"nas": identity},
        on_event=lambda host, level, message: events.append((level, message)),
    ).run()

    assert len(server.commands) == 1
    assert server.commands[0].endswith(f"init {CLIENT} ghost {OTHER}")
    outcome = result.outcomes["nas"]
    assert outcome.done == ["run init-guard", "run init-guard"]
    assert outcome.error is not None
    assert "borgkeep-guard: ghost: " in str(outcome.error)
    assert "does not exist" in str(outcome.error)
    assert [level for level, _ in events].count("done") == 2
    assert [level for level, _ in events].count("error") == 1
    assert (lab.state_dir / f"{OTHER}.guard.json").exists() and lab.state_file.exists()
    assert not (lab.state_dir / "ghost.guard.json").exists()
