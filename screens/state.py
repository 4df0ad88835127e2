"""The one plain object every wizard step reads and fills, so going back pre-fills fields."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from wizard.inventory.model import DEFAULT_RETENTION, DEFAULT_SOURCES, Inventory, inventory_data
from wizard.inventory.parse import inventory_from_data
from wizard.inventory.settings import DEFAULT_PRUNE_SCHEDULE
from wizard.session import ApplyResult, FleetSession, HostFacts, Plan, VerifyReport


class Nav(enum.Enum):
    """What a step returns instead of its result: go back one step, or leave the wizard."""

    BACK = "back"
    QUIT = "quit"


BACK = Nav.BACK
QUIT = Nav.QUIT


def name_from_destination(destination: str) -> str:
    """A host name usable in file names, from `[user@]host[:port]` or an ssh alias."""
    host = destination.rsplit("@", 1)[-1]
    host = host[1 : host.find("]")] if host.startswith("[") else host.split(":", 1)[0]
    name = re.sub(r"[^a-z0-9._-]+", "-", host.lower()).strip("-._")
    return name or "host"


@dataclass
class ClientEntry:
    name: str
    ssh: str
    source_directories: list[str] = field(default_factory=lambda: list(DEFAULT_SOURCES))
    exclude_patterns: list[str] = field(default_factory=list)
    schedule: str | None = None
    retention: dict = field(default_factory=dict)
    facts: HostFacts | None = None
    error: str | None = None


@dataclass
class WizardState:
    inventory_path: Path
    accept_new_host_keys: bool = False
    saved: Inventory | None = None
    server_name: str = ""
    server_ssh: str = ""
    server_address: str = ""
    borg_user: str = ""
    repo_root: str = ""
    prune_schedule: str = DEFAULT_PRUNE_SCHEDULE
    server_facts: HostFacts | None = None
    server_facts_for: str = ""
    clients: list[ClientEntry] = field(default_factory=list)
    retention: dict = field(default_factory=lambda: dict(DEFAULT_RETENTION))
    session: FleetSession | None = None
    plan: Plan | None = None
    left_out: set[str] = field(default_factory=set)
    apply_result: ApplyResult | None = None
    verify_report: VerifyReport | None = None
    now: datetime | None = None

    @classmethod
    def from_inventory(
        cls, path: Path, inventory: Inventory | None, accept_new_host_keys: bool = False
    ) -> WizardState:
        state = cls(path, accept_new_host_keys)
        if inventory is not None:
            state.load(inventory)
        return state

    def load(self, inventory: Inventory) -> None:
        """Fill every field from a saved inventory (the rerun path)."""
        server = inventory.server
        self.saved = inventory
        self.server_name = server.name
        self.server_ssh = server.ssh
        self.server_address = server.address or ""
        self.borg_user = server.borg_user or ""
        self.repo_root = server.repo_root or ""
        self.prune_schedule = server.prune_schedule or DEFAULT_PRUNE_SCHEDULE
        self.retention = dict(inventory.retention)
        self.clients = [
            ClientEntry(
                c.name,
                c.ssh,
                list(c.source_directories),
                list(c.exclude_patterns),
                c.schedule,
                dict(c.retention),
            )
            for c in inventory.clients
        ]

    def client(self, name: str) -> ClientEntry | None:
        return next((c for c in self.clients if c.name == name), None)

    def inventory_data(self) -> dict:
        server = {
            "name": self.server_name,
            "ssh": self.server_ssh,
            "address": self.server_address,
            "borg_user": self.borg_user,
            "repo_root": self.repo_root,
            "prune_schedule": None
            if self.prune_schedule == DEFAULT_PRUNE_SCHEDULE
            else self.prune_schedule,
        }
        clients = [vars(c) for c in self.clients]
        return inventory_data(server, self.retention, clients)

    def to_inventory(self) -> Inventory:
        """Validated by the engine, so the screens never build an inventory the CLI would
        refuse. Raises `InventoryError`."""
        return inventory_from_data(self.inventory_data(), "wizard")

    def invalidate_plan(self) -> None:
        """Anything entered changed: the next Review gathers and plans again."""
        if self.session is not None:
            self.session.close()
        self.session = None
        self.plan = None
        self.left_out = set()

    def plan_to_apply(self) -> Plan:
        """The reviewed plan; hosts the operator left out were planned out by the engine
        (`FleetSession.plan(leave_out=...)`), so it is exactly what was shown."""
        assert self.plan is not None
        return self.plan
