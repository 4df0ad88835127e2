"""A connection that answers like a healthy host and records what it was sent: for tests of
what the executor sends, where no host needs to run it."""

from __future__ import annotations

import re
import threading

from tests.planning import client_key
from wizard.pipeline.apply import ApplyResult, apply_plan
from wizard.pipeline.identity import HostIdentity, client_identity, server_identity
from wizard.remote import batch
from wizard.remote.transport import CommandResult
from wizard.secrets_store import SecretStore


def fleet_identities(facts: dict, settings) -> dict[str, HostIdentity]:
    """The planning fleet's identities: `nas` the server, every other host a client."""
    return {
        name: server_identity(f, settings) if name == "nas" else client_identity(f)
        for name, f in facts.items()
    }


def apply_ok(plan, connections: dict, passphrases: dict, identities: dict) -> ApplyResult:
    """The whole plan applied over `connections` (server `nas`); every host must succeed."""
    result = apply_plan(
        plan,
        connections,
        "nas",
        store=SecretStore(),
        passphrases=passphrases,
        identities=identities,
    )
    assert result.ok, {h: str(o.error) for h, o in result.outcomes.items()}
    return result


class RecordingConnection:
    """Answers like a healthy host and records every command line and stdin it was sent."""

    def __init__(self, host: str, user: str = "root") -> None:
        self.host, self.login_user, self.is_root = host, user, user == "root"
        self.commands: list[str] = []
        self.stdins: list[bytes] = []
        self._lock = threading.Lock()

    def run(
        self, command, stdin=None, sudo=False, timeout=None, check=False, **_: object
    ) -> CommandResult:
        steps = re.findall(
            r"^printf .*@@borgkeep-step \d+.*\n(?:head -c (\d+) \| \{ )?\($", command, re.MULTILINE
        )
        lengths = [int(n or 0) for n in steps]
        with self._lock:
            self.commands.append(command)
            if not lengths:
                self.stdins.append(stdin or b"")
        if lengths:  # a batch of steps: each reads its own share of stdin, as on a host
            data, ended = stdin or b"", []
            for number, length in enumerate(lengths):
                with self._lock:
                    self.stdins.append(data[:length])
                data = data[length:]
                ended.append(f"\n{batch.END} {number} 0\n")
            assert data == b"", "a batch's stdin is exactly its steps' shares"
            return CommandResult(0, "".join(ended).encode(), b"")
        if "ssh-keygen" in command:
            return CommandResult(0, client_key(self.host).encode() + b" borgkeep\n", b"")
        if "/config" in command and "cat --" in command:
            return CommandResult(0, b"[repository]\nid = 0123\nkey = a2V5\n", b"")
        return CommandResult(0, b"", b"")
