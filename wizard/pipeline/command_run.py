"""What a command of the executor runs with, and what it leaves for the apply's result.

A command (`wizard.pipeline.commands`) gets a `CommandContext`: its change with the
arguments, the accounts of every host, a way to run a `HostRun` on its own host or the
server, the operator's secrets store, and the `CommandOutputs` it adds to (a generated key,
an exported repository key, the notes a script printed)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from wizard.pipeline.apply_outcome import ApplyStepError
from wizard.pipeline.identity import HostIdentity
from wizard.pipeline.plan_change import Change
from wizard.remote import scripts
from wizard.remote.identity import RunAs
from wizard.remote.step_timeouts import QUICK
from wizard.secrets_store import SecretStore


@dataclass(frozen=True)
class HostRun:
    """One remote process: the account it runs as, its script and stdin, and how long it
    may stay silent (`wizard.remote.step_timeouts`)."""

    run_as: RunAs
    script: str
    stdin: bytes | None = None
    kind: str = QUICK


@dataclass
class CommandOutputs:
    """What commands leave behind, added to from every host's thread."""

    generated_keys: dict[str, str] = field(default_factory=dict)
    """Host -> the public key (`ssh-ed25519 AAAA...`) generated on it."""
    exported_keys: dict[str, str] = field(default_factory=dict)
    """Client -> the secrets store's name of its exported repository key."""
    notes: list[str] = field(default_factory=list)
    """`host: line`: what a script reported (proofs, a rollback's copy, a restored path)."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def key_generated(self, host: str, public_key: str) -> None:
        with self._lock:
            self.generated_keys[host] = public_key

    def key_exported(self, client: str, name: str) -> None:
        with self._lock:
            self.exported_keys[client] = name

    def note(self, host: str, lines: list[str]) -> None:
        with self._lock:
            self.notes += [f"{host}: {line}" for line in lines]


def run_checked(connection: Any, change: Change, step: HostRun) -> Any:
    """Run `step` over `connection`; a non-zero exit fails `change` with the script's
    stderr (a refusal of a file changed since the plan is marked stale)."""
    result = connection.run(step.run_as.wrap(step.script), stdin=step.stdin, kind=step.kind)
    if result.rc != 0:
        message = result.stderr.decode("utf-8", "replace").strip() or f"exit code {result.rc}"
        raise ApplyStepError(
            change.host, change.title, message, stale=result.rc == scripts.STALE_EXIT
        )
    return result


@dataclass(frozen=True)
class CommandContext:
    """One command change and what running it may use."""

    change: Change
    connections: Mapping[str, Any]
    identities: Mapping[str, HostIdentity]
    server: str
    store: SecretStore
    outputs: CommandOutputs

    @property
    def args(self) -> dict:
        """The change's arguments, the secret ones included."""
        return {**self.change.args, **self.change.secret_args}

    @property
    def host(self) -> str:
        return self.change.host

    @property
    def identity(self) -> HostIdentity:
        """The accounts of the change's own host."""
        return self.identities[self.change.host]

    def run(self, step: HostRun, on: str | None = None) -> Any:
        """Run `step` on the change's host (or on `on`): `run_checked`."""
        return run_checked(self.connections[on or self.change.host], self.change, step)


Command = Callable[[CommandContext], None]
"""What the executor calls for a command change: runs it, or raises (`ApplyStepError`)."""
