"""The executor's one command registry, its named write units and batches: every command a
plan can name is registered (and nothing else), and commands and writes run for real with
the local `sh`, reported step by step."""

from __future__ import annotations

import ast
import getpass
import hashlib
import subprocess
import typing
from pathlib import Path

import wizard
from wizard.pipeline.apply import Executor
from wizard.pipeline.commands import COMMANDS
from wizard.pipeline.desired.items import PHASE_CLIENT_SETUP, Desired
from wizard.pipeline.identity import HostIdentity
from wizard.pipeline.plan import Change, Plan
from wizard.pipeline.plan_items import CHANGE_FOR
from wizard.pipeline.write_batches import batches
from wizard.pipeline.write_units import WriteUnit
from wizard.remote.identity import RunAs
from wizard.remote.transport import CommandResult

ENGINE = Path(wizard.__file__).parent


def planned_command_names() -> set[str]:
    """The names every `DesiredCommand(...)` in the engine gives its command."""
    names = set()
    for path in ENGINE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "DesiredCommand"
                and node.args
            ):
                assert isinstance(node.args[0], ast.Constant), f"{path}: a name from a variable"
                names.add(node.args[0].value)
    return names


def test_every_command_a_plan_can_name_is_registered_and_nothing_else():
    names = planned_command_names()
    assert {"generate-key", "init-guard", "edit-config", "retire-cron-lines"} <= names
    assert names == set(COMMANDS)


def test_every_kind_of_desired_item_has_its_planning_function():
    assert set(CHANGE_FOR) == set(typing.get_args(Desired))


class LocalShell:
    """This machine as the host: each command run by the real `sh`, and recorded."""

    def __init__(self) -> None:
        self.commands: list[str] = []

    def run(self, command, stdin=None, **_: object) -> CommandResult:
        self.commands.append(command)
        done = subprocess.run(["sh", "-c", command], input=stdin or b"", capture_output=True)
        return CommandResult(done.returncode, done.stdout, done.stderr)


class MemoryStore:
    location = "memory"

    def get(self, name: str) -> str | None:
        return None

    def set(self, name: str, value: str) -> None:
        raise AssertionError("nothing here stores a secret")


USER = getpass.getuser()


def run_changes(tmp_path: Path, changes: list[Change]):
    login = RunAs(USER, str(tmp_path))
    identity = HostIdentity("h", login, login, {USER: login}, {})
    shell, events = LocalShell(), []
    result = Executor(
        Plan(changes, [], {}, ["h"]),
        {"h": shell},
        "nas",
        store=MemoryStore(),
        passphrases={},
        identities={"h": identity},
        on_event=lambda host, level, message: events.append((level, message)),
    ).run()
    return result, result.outcomes["h"], shell, events


def write(path: Path, content: str, seen: str | None = None) -> Change:
    action = "create" if seen is None else "update"
    old_sha256 = None if seen is None else hashlib.sha256(seen.encode()).hexdigest()
    return Change(
        "h", PHASE_CLIENT_SETUP, "file", action, str(path), "", new=content, mode=0o600,
        owner=USER, old_sha256=old_sha256,
    )  # fmt: skip


def command(action: str, **args) -> Change:
    return Change("h", PHASE_CLIENT_SETUP, "command", action, None, action, args=args)


def test_writes_as_one_account_are_one_batch_and_a_stale_one_stops_the_host(tmp_path):
    (tmp_path / "c").write_text("changed since the plan\n")
    changes = [
        write(tmp_path / "a", "first\n"),
        write(tmp_path / "b", "second\n"),
        write(tmp_path / "c", "third\n", seen="what the plan saw\n"),
        write(tmp_path / "d", "never\n"),
    ]
    result, outcome, shell, events = run_changes(tmp_path, changes)
    assert len(shell.commands) == 1
    assert (tmp_path / "a").read_text() == "first\n" and (tmp_path / "b").read_text() == "second\n"
    assert (tmp_path / "c").read_text() == "changed since the plan\n"
    assert not (tmp_path / "d").exists()
    assert outcome.done == [changes[0].title, changes[1].title]
    assert outcome.error is not None and outcome.error.stale
    assert outcome.error.step == changes[2].title
    assert outcome.skipped == [changes[3].title] and not result.ok
    assert ("skip", f"skipped {changes[3].title} (an earlier step on this host failed)") in events


def test_a_lifecycle_commands_output_becomes_notes_without_the_guards_prefix(tmp_path):
    python = tmp_path / "python"
    python.write_text('#!/bin/sh\necho "borgkeep-guard: $4: $3 done"\necho\necho plain line\n')
    python.chmod(0o755)
    guard = {"python": str(python), "guard": "/srv/guard.py", "client": "c1", "user": USER}
    result, outcome, shell, _ = run_changes(tmp_path, [command("guard-acknowledge", **guard)])
    assert outcome.done == ["run guard-acknowledge"] and result.ok
    assert result.notes == ["h: c1: acknowledge done", "h: plain line"]
    assert shell.commands[0].endswith("acknowledge c1")


def test_an_unknown_command_fails_its_step_and_runs_nothing(tmp_path):
    changes = [command("no-such-command"), write(tmp_path / "a", "x\n")]
    result, outcome, shell, _ = run_changes(tmp_path, changes)
    assert str(outcome.error) == "h: run no-such-command: unknown command"
    assert outcome.skipped == [changes[1].title] and shell.commands == []
    assert not (tmp_path / "a").exists()


def test_batches_cut_where_the_account_changes_and_where_a_line_would_be_too_long():
    alice, bob = RunAs("alice", "/home/alice"), RunAs("bob", "/home/bob")
    change = write(Path("/x"), "")
    units = [
        WriteUnit(change, who, f"echo {n}") for n, who in enumerate([alice, alice, bob, alice])
    ]
    assert [[u.script for u in group] for group in batches(units)] == [
        ["echo 0", "echo 1"],
        ["echo 2"],
        ["echo 3"],
    ]
    long = [WriteUnit(change, alice, "x" * 30_000) for _ in range(3)]
    assert [len(group) for group in batches(long)] == [1, 1, 1]
