"""A client's two fact rounds run as one when its login is what the operator's cache
remembers; a wrong guess (a changed login, a tampered cache) costs a round, never a fact."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

from wizard.pipeline.gather import gather_client_facts
from wizard.pipeline.login_cache import LoginCache
from wizard.remote.transport import CommandResult

READ_ROUND = "kind() {"


class FakeKey:
    def get_name(self) -> str:
        return "ssh-ed25519"

    def get_base64(self) -> str:
        return "AAAAthisclient"


class LocalConnection:
    """This machine as the client, its login root; records every command."""

    host_key = FakeKey()

    def __init__(self, home: Path) -> None:
        self.home = home
        self.commands: list[str] = []

    def run(
        self, command, stdin=None, sudo=False, timeout=None, check=False, **_: object
    ) -> CommandResult:
        self.commands.append(command)
        env = {"PATH": "/usr/bin:/bin", "HOME": str(self.home)}
        done = subprocess.run(["sh", "-c", command], capture_output=True, env=env)
        return CommandResult(done.returncode, done.stdout, done.stderr)

    @property
    def rounds(self) -> int:
        """Remote processes that read facts (a tool-version round is not one of them)."""
        return sum("--version" not in command for command in self.commands)


def _home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "borgkeep_ed25519.pub").write_text("ssh-ed25519 AAAAkey c1\n")
    (home / ".ssh" / "borgkeep_ed25519").write_text("private\n")
    return home


def test_the_second_gather_is_one_round_with_the_same_facts(tmp_path: Path):
    home, logins = _home(tmp_path), LoginCache(tmp_path / "cache" / "logins.json")
    first = LocalConnection(home)
    facts = gather_client_facts(first, "c1", logins)
    assert first.rounds == 2 and READ_ROUND not in first.commands[0]
    assert facts.client_public_key == "ssh-ed25519 AAAAkey"
    again = LocalConnection(home)
    facts_again = gather_client_facts(again, "c1", logins)
    assert again.rounds == 1 and READ_ROUND in again.commands[0]
    assert replace(facts_again, tool_identities={}) == replace(facts, tool_identities={})


def test_a_wrong_guess_is_read_again(tmp_path: Path):
    home, logins = _home(tmp_path), LoginCache(tmp_path / "cache" / "logins.json")
    gather_client_facts(LocalConnection(home), "c1", logins)
    data = json.loads(logins.path.read_text())
    entry = data["hosts"]["ssh-ed25519 AAAAthisclient"]["c1"]
    data["hosts"]["ssh-ed25519 AAAAthisclient"]["c1"] = [entry[0], entry[1], "/elsewhere"]
    logins.path.write_text(json.dumps(data))
    conn = LocalConnection(home)
    facts = gather_client_facts(conn, "c1", logins)
    assert conn.rounds == 2 and "/elsewhere" in conn.commands[0]
    assert facts.home == str(home) and facts.client_public_key == "ssh-ed25519 AAAAkey"
    assert logins.get("ssh-ed25519 AAAAthisclient", "c1").home == str(home)
