"""The prune guard: rendering, and its behaviour against real borg and both borgmatic releases.

The real tests play a compromised client by switching the repository to append-only (what
the client's `borg serve --append-only` key does) and deleting through it, then check on
disk that the guard left every segment in place.

Binaries: `BORGKEEP_BORGMATIC17` (default /usr/bin/borgmatic) and `BORGKEEP_BORGMATIC2`
(default /opt/borgkeep-lab/borgmatic2/bin/borgmatic). A missing tool skips its tests,
except with CI=true, where it fails them.
"""

from __future__ import annotations

import fcntl
import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.real_tools import BORG, PASSPHRASE, Borgmatic, borgmatic_fixture, isolated_env, missing  # noqa: F401 (fixture)
from wizard.artefacts.borgmatic_server import render_server_prune_config
from wizard.artefacts.crontab import server_prune_cron_line
from wizard.artefacts.prune_guard import (
    EXIT_FAILED,
    EXIT_REFUSED,
    EXIT_USAGE,
    acknowledge_command,
    guard_lock_path,
    prune_guard_command,
    prune_guard_path,
    render_prune_guard,
)
from wizard.inventory.validation import FieldError

CLIENT = "client1"
ARCHIVES = [f"{CLIENT}-2026-01-0{day}T03:00:00" for day in range(1, 9)]
KEPT_BY_KEEP_DAILY_3 = ARCHIVES[-3:]

GUARD_PATHS = {
    "borg_path": "/usr/bin/borg",
    "borgmatic_path": "/opt/borgkeep-lab/borgmatic2/bin/borgmatic",
    "state_dir": "/home/borg/.config/borgkeep",
    "repo_root": "/srv/b@ckups+1",
}


# --- rendering ----------------------------------------------------------------------------------


def test_rendered_guard_holds_every_path_shell_quoted() -> None:
    script = render_prune_guard(**GUARD_PATHS)
    assert script.startswith("#!/bin/sh\n# Managed by borgkeep")
    for variable, key in (
        ("BORG", "borg_path"),
        ("BORGMATIC", "borgmatic_path"),
        ("STATE_DIR", "state_dir"),
        ("REPO_ROOT", "repo_root"),
    ):
        assert f"\n{variable}={shlex.quote(GUARD_PATHS[key])}\n" in script
    assert "@BORG" not in script and "@EXIT" not in script


@pytest.mark.parametrize("shell", ["sh", "dash"])
def test_rendered_guard_parses(shell: str, tmp_path: Path) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    guard = tmp_path / "prune-guard"
    guard.write_text(render_prune_guard(**GUARD_PATHS))
    result = subprocess.run([shell, "-n", str(guard)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("borg_path", "borg"),
        ("borgmatic_path", "/usr/bin/borg matic"),
        ("state_dir", "/home/borg/$(id)"),
        ("repo_root", "/srv/../etc"),
        ("repo_root", "/srv/backups'"),
    ],
)
def test_render_refuses_unsafe_paths(field: str, value: str) -> None:
    with pytest.raises(FieldError) as error:
        render_prune_guard(**{**GUARD_PATHS, field: value})
    assert error.value.field == field


def test_commands_run_the_guard_through_sh() -> None:
    guard = prune_guard_path("/home/borg/.config/borgkeep")
    assert guard == "/home/borg/.config/borgkeep/prune-guard"
    assert prune_guard_command(guard, "web-01.lan") == f"/bin/sh {guard} web-01.lan"
    assert acknowledge_command(guard, "db_2") == f"/bin/sh {guard} --acknowledge db_2"
    assert guard_lock_path("/home/borg/.config/borgkeep", "db_2").endswith("/borgkeep/db_2.lock")
    # The command is what the server's crontab block accepts.
    line = server_prune_cron_line("30 5 * * *", prune_guard_command(guard, "client1"))
    assert line == f"30 5 * * * /bin/sh {guard} client1"


@pytest.mark.parametrize("name", ["", "Client1", "-rf", "a b", "a;b", "a/b", "x" * 65, "é"])
@pytest.mark.parametrize("helper", [prune_guard_command, acknowledge_command])
def test_commands_refuse_bad_client_names(helper, name: str) -> None:
    with pytest.raises(FieldError) as error:
        helper("/home/borg/.config/borgkeep/prune-guard", name)
    assert error.value.field == "client_name"


@pytest.mark.parametrize("helper", [prune_guard_command, acknowledge_command])
def test_commands_refuse_a_relative_guard_path(helper) -> None:
    with pytest.raises(FieldError):
        helper("~borg/.config/borgkeep/prune-guard", "client1")


@pytest.mark.parametrize(
    "args",
    [[], ["Client1"], ["../etc"], ["a b"], ["-x"], ["x" * 65], ["--acknowledge"], ["a", "b"]],
    ids=repr,
)
def test_guard_refuses_bad_arguments_before_touching_anything(
    args: list[str], tmp_path: Path
) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    guard = state_dir / "prune-guard"
    guard.write_text(
        render_prune_guard(
            borg_path="/nonexistent/borg",
            borgmatic_path="/nonexistent/borgmatic",
            state_dir=str(state_dir),
            repo_root=str(tmp_path / "repos"),
        )
    )
    result = subprocess.run(["/bin/sh", str(guard), *args], capture_output=True, text=True)
    assert result.returncode == EXIT_USAGE, result.stderr
    assert result.stderr.startswith("borgkeep-guard: ")
    assert sorted(path.name for path in state_dir.iterdir()) == ["prune-guard"]


# --- behaviour against a real repository ----------------------------------------------------------


@dataclass
class Server:
    """The borg user's side: a state dir with the guard, a repo root, one client repo."""

    state_dir: Path
    repo: Path
    source: Path
    guard: Path
    env: dict[str, str]

    @property
    def state_file(self) -> Path:
        return self.state_dir / f"{CLIENT}.archives"

    def borg(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**self.env, "BORG_PASSCOMMAND": f"cat {self.state_dir / f'{CLIENT}.passphrase'}"}
        return subprocess.run([BORG, *args], capture_output=True, text=True, env=env, check=True)

    def archives(self) -> list[str]:
        return sorted(self.borg("list", "--short", str(self.repo)).stdout.splitlines())

    def recorded_archives(self) -> list[str]:
        lines = self.state_file.read_text().splitlines()
        return sorted(line.split(" ", 1)[1] for line in lines)

    def create(self, name: str) -> None:
        timestamp = name.removeprefix(f"{CLIENT}-")
        self.borg("create", "--timestamp", timestamp, f"{self.repo}::{name}", str(self.source))

    def as_compromised_client(self, *borg_args: str) -> None:
        """What a client's `borg serve --append-only` key allows, then back to server access."""
        self.borg("config", str(self.repo), "append_only", "1")
        try:
            self.borg(*borg_args)
        finally:
            self.borg("config", str(self.repo), "append_only", "0")

    def segments(self) -> dict[str, int]:
        return {
            str(path.relative_to(self.repo)): path.stat().st_size
            for path in self.repo.glob("data/*/*")
        }

    def run_guard(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = ["/bin/sh", str(self.guard), *args]
        return subprocess.run(command, capture_output=True, text=True, env=self.env)


def describe(result: subprocess.CompletedProcess[str]) -> str:
    return f"rc={result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


@pytest.fixture
def server(tmp_path: Path, borgmatic: Borgmatic) -> Server:
    """A repokey-blake2 repository with 8 daily archives, the prune config and the guard."""
    if not os.access(BORG, os.X_OK):
        missing(f"borg not found at {BORG}")
    env = isolated_env(tmp_path / "home")
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o700)
    repo_root = tmp_path / "repos"
    repo_root.mkdir(mode=0o700)
    source = tmp_path / "source"
    source.mkdir()
    (source / "file.txt").write_text("some data\n")
    passphrase_file = state_dir / f"{CLIENT}.passphrase"
    passphrase_file.write_text(PASSPHRASE + "\n")
    passphrase_file.chmod(0o600)
    (state_dir / f"prune-{CLIENT}.yaml").write_text(
        render_server_prune_config(
            borgmatic_version=borgmatic.version,
            client_name=CLIENT,
            repository_path=str(repo_root / CLIENT),
            passphrase_file=str(passphrase_file),
            retention={"keep_daily": 3},
        )
    )
    guard = Path(prune_guard_path(str(state_dir)))
    guard.write_text(
        render_prune_guard(
            borg_path=BORG,
            borgmatic_path=borgmatic.path,
            state_dir=str(state_dir),
            repo_root=str(repo_root),
        )
    )
    guard.chmod(0o700)
    server = Server(state_dir, repo_root / CLIENT, source, guard, env)
    server.borg("init", "--encryption", "repokey-blake2", str(server.repo))
    for name in ARCHIVES:
        server.create(name)
    return server


def test_guard_refuses_to_prune_after_a_client_deleted_archives(server: Server) -> None:
    first = server.run_guard(CLIENT)
    assert first.returncode == 0, describe(first)
    assert "first run" in first.stdout
    assert server.archives() == KEPT_BY_KEEP_DAILY_3
    assert server.recorded_archives() == KEPT_BY_KEEP_DAILY_3
    assert oct(server.state_file.stat().st_mode & 0o777) == "0o600"

    deleted = KEPT_BY_KEEP_DAILY_3[1]
    server.as_compromised_client("delete", f"{server.repo}::{deleted}")
    assert deleted not in server.archives()  # Borg "succeeded"
    segments_before = server.segments()
    state_before = server.state_file.read_text()

    refused = server.run_guard(CLIENT)
    assert refused.returncode == EXIT_REFUSED, describe(refused)
    assert refused.stdout == ""
    (line,) = refused.stderr.splitlines()
    assert line.startswith(f"borgkeep-guard: {CLIENT}: REFUSING to prune {server.repo}: ")
    assert f"deleted outside the server's prune: {deleted} — " in line
    assert f"/bin/sh {server.guard} --acknowledge {CLIENT}" in line
    segments_after = server.segments()
    assert {path: segments_after.get(path) for path in segments_before} == segments_before
    assert server.state_file.read_text() == state_before

    acknowledged = server.run_guard("--acknowledge", CLIENT)
    assert acknowledged.returncode == 0, describe(acknowledged)
    assert deleted in acknowledged.stdout
    assert server.recorded_archives() == [n for n in KEPT_BY_KEEP_DAILY_3 if n != deleted]
    assert server.segments() == segments_after  # acknowledging prunes and compacts nothing

    added = f"{CLIENT}-2026-01-09T03:00:00"
    server.as_compromised_client("create", "--timestamp", "2026-01-09T03:00:00",
                                 f"{server.repo}::{added}", str(server.source))  # fmt: skip
    normal = server.run_guard(CLIENT)
    assert normal.returncode == 0, describe(normal)
    assert normal.stdout == normal.stderr == ""
    expected = sorted([*(n for n in KEPT_BY_KEEP_DAILY_3 if n != deleted), added])
    assert server.archives() == expected
    assert server.recorded_archives() == expected
    # This time compact ran: segments holding the deleted archive are gone.
    assert not set(segments_before) <= set(server.segments())


def test_guard_sees_an_archive_replaced_under_the_same_name(server: Server) -> None:
    assert server.run_guard(CLIENT).returncode == 0
    replaced = KEPT_BY_KEEP_DAILY_3[-1]
    server.as_compromised_client("delete", f"{server.repo}::{replaced}")
    empty = server.source / "empty"
    empty.mkdir()
    server.as_compromised_client("create", f"{server.repo}::{replaced}", str(empty))
    assert server.archives() == KEPT_BY_KEEP_DAILY_3  # the names alone look untouched

    refused = server.run_guard(CLIENT)
    assert refused.returncode == EXIT_REFUSED, describe(refused)
    assert f"prune: {replaced} — " in refused.stderr


def test_guard_refuses_after_every_archive_was_deleted(server: Server) -> None:
    assert server.run_guard(CLIENT).returncode == 0
    for name in KEPT_BY_KEEP_DAILY_3:
        server.as_compromised_client("delete", f"{server.repo}::{name}")
    assert server.archives() == []
    segments_before = server.segments()

    refused = server.run_guard(CLIENT)
    assert refused.returncode == EXIT_REFUSED, describe(refused)
    assert f"prune: {' '.join(KEPT_BY_KEEP_DAILY_3)} — " in refused.stderr
    assert server.segments() == segments_before


def test_a_second_run_while_one_holds_the_lock_exits_1(server: Server) -> None:
    with open(guard_lock_path(str(server.state_dir), CLIENT), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        blocked = server.run_guard(CLIENT)
        fcntl.flock(lock, fcntl.LOCK_UN)
    assert blocked.returncode == EXIT_FAILED, describe(blocked)
    assert "another prune is running" in blocked.stderr
    assert not server.state_file.exists()
    assert server.archives() == ARCHIVES

    unblocked = server.run_guard(CLIENT)
    assert unblocked.returncode == 0, describe(unblocked)
    assert server.archives() == KEPT_BY_KEEP_DAILY_3


def test_guard_fails_when_borg_cannot_open_the_repository(server: Server) -> None:
    (server.state_dir / f"{CLIENT}.passphrase").write_text("wrong passphrase\n")
    result = server.run_guard(CLIENT)
    assert result.returncode == EXIT_FAILED, describe(result)
    assert "could not list the archives" in result.stderr
    assert not server.state_file.exists()
