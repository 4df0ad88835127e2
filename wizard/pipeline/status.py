"""The fleet's health, read from the server alone: `borgkeep status` and the welcome screen.

One connection, to the server (it holds the repositories and their passphrases, and it is
up when a client is not, which is when status matters): the guard program's
`status --json`, run as the borg user, reads every repository and the guard's records.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from datetime import datetime

from wizard.artefacts.guard_program import fleet_command, guard_command, guard_program_path
from wizard.artefacts.layout import ServerPaths
from wizard.inventory.model import Inventory
from wizard.inventory.settings import ServerSettings
from wizard.pipeline.desired.server_prune import FALLBACK_PYTHON
from wizard.pipeline.facts import HostFacts, server_layout
from wizard.remote.identity import RUNUSER, SUDO, RunAs

ATTENTION_STATES = ("error", "refused", "never", "stale")
STATE_ORDER = {state: index for index, state in enumerate((*ATTENTION_STATES, "ok"))}


class StatusError(Exception):
    """The server could not tell (no guard installed yet, or it failed)."""


@dataclass(frozen=True)
class ClientStatus:
    name: str
    state: str
    newest_archive: dict | None = None
    archives: int = 0
    size: int | None = None
    quota: dict = field(default_factory=dict)
    guard: dict = field(default_factory=dict)
    problems: tuple[str, ...] = ()

    @property
    def last_drill(self) -> dict | None:
        """The server's last restore drill of this client: {time, archive, status, message}."""
        return (self.guard or {}).get("last_drill") or None

    @property
    def newest_time(self) -> datetime | None:
        newest = self.newest_archive or {}
        return datetime.fromisoformat(newest["time"]) if newest.get("time") else None

    def as_json(self) -> dict:
        return {
            "name": self.name,
            "state": self.state,
            "newest_archive": self.newest_archive,
            "archives": self.archives,
            "size": self.size,
            "quota": self.quota,
            "guard": self.guard,
            "problems": list(self.problems),
        }


@dataclass(frozen=True)
class GuardByHand:
    """What the operator types on the server (logged in as `login`, the inventory's
    `server.ssh`) to look into a client's repository and decide about a refusal, as the borg
    user: built from the server's facts and the layout the renderers use, never from what
    the server reported."""

    login: str
    become: tuple[str, ...]
    python: str
    borg: str
    paths: ServerPaths

    def guard(self, action: str, client: str) -> str:
        """`check` (read-only), `acknowledge` (accept the archives as they are now), ..."""
        program = guard_program_path(self.paths.state_dir)
        return shlex.join(
            [*self.become, *shlex.split(guard_command(self.python, program, action, client))]
        )

    def list_archives(self, client: str) -> str:
        passcommand = f"BORG_PASSCOMMAND=cat {self.paths.passphrase(client)}"
        argv = ["env", passcommand, self.borg, "list", self.paths.repository(client)]
        return shlex.join([*self.become, *argv])


def become_words(run_as: RunAs) -> tuple[str, ...]:
    """How a person at the login's shell becomes `run_as.user` for one command."""
    if run_as.via == RUNUSER:
        return ("runuser", "-u", run_as.user, "--")
    if run_as.via == SUDO:
        return ("sudo", "-u", run_as.user, "--")
    return ()


def guard_by_hand(
    facts: HostFacts, settings: ServerSettings, borg_user: RunAs, login: str
) -> GuardByHand:
    return GuardByHand(
        login=login,
        become=become_words(borg_user),
        python=facts.python_path or FALLBACK_PYTHON,
        borg=facts.borg_path or "borg",
        paths=server_layout(facts, settings),
    )


@dataclass(frozen=True)
class StatusReport:
    server: dict
    clients: tuple[ClientStatus, ...]
    time: str = ""
    by_hand: GuardByHand | None = None

    @property
    def attention(self) -> list[ClientStatus]:
        return [c for c in self.clients if c.state != "ok"]

    @property
    def ok(self) -> bool:
        return not self.attention and not self.server.get("low_space")

    def by_urgency(self) -> list[ClientStatus]:
        """Problem rows first (most urgent state first), then the rest by name."""
        return sorted(self.clients, key=lambda c: (STATE_ORDER.get(c.state, 0), c.name))

    def to_json(self) -> str:
        data = {
            "time": self.time,
            "server": self.server,
            "clients": [c.as_json() for c in self.clients],
        }
        return json.dumps(data, indent=2)


def status_command(facts: HostFacts, settings: ServerSettings) -> str:
    """The guard's `status --json` (the caller runs it as the borg user)."""
    spaths = server_layout(facts, settings)
    python = facts.python_path or FALLBACK_PYTHON
    return fleet_command(python, guard_program_path(spaths.state_dir), "status", "--json")


def parse_status(
    output: str, inventory: Inventory, by_hand: GuardByHand | None = None
) -> StatusReport:
    """The guard's JSON joined with the inventory: a client the server does not guard yet is
    an `error` ("not set up"), never silently missing."""
    try:
        data = json.loads(output)
        by_name = {c["name"]: c for c in data["clients"]}
        server = dict(data["server"])
    except (ValueError, KeyError, TypeError) as exc:
        raise StatusError(f"the guard's status is not readable JSON ({exc})") from None
    clients = []
    for spec in inventory.clients:
        entry = by_name.get(spec.name)
        if entry is None:
            clients.append(
                ClientStatus(
                    spec.name,
                    "error",
                    problems=("not set up on the server yet: run borgkeep apply",),
                )
            )
            continue
        clients.append(
            ClientStatus(
                name=spec.name,
                state=str(entry.get("state", "error")),
                newest_archive=entry.get("newest_archive"),
                archives=int(entry.get("archives") or 0),
                size=entry.get("size"),
                quota=entry.get("quota") or {},
                guard=entry.get("guard") or {},
                problems=tuple(str(p) for p in entry.get("problems") or ()),
            )
        )
    return StatusReport(
        server=server, clients=tuple(clients), time=str(data.get("time", "")), by_hand=by_hand
    )
