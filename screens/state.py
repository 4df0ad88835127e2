"""The one plain object every wizard step reads and fills, so going back pre-fills fields."""

from __future__ import annotations

import enum
import itertools
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from wizard.inventory.model import (
    DEFAULT_RETENTION,
    DEFAULT_SOURCES,
    Inventory,
    inventory_data,
    save_inventory,
)
from wizard.inventory.parse import inventory_from_data
from wizard.inventory.settings import DEFAULT_PRUNE_SCHEDULE

if TYPE_CHECKING:  # the engine's session loads when a step first needs it
    from wizard.session import (
        ApplyResult,
        FirstBackup,
        FleetSession,
        HostFacts,
        Plan,
        StatusReport,
        VerifyReport,
    )


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


_client_keys = itertools.count(1)


@dataclass
class ClientEntry:
    name: str
    ssh: str
    source_directories: list[str] = field(default_factory=lambda: list(DEFAULT_SOURCES))
    exclude_patterns: list[str] = field(default_factory=list)
    schedule: str | None = None
    retention: dict = field(default_factory=dict)
    quota: str | None = None
    facts: HostFacts | None = None
    error: str | None = None
    saved_name: str | None = field(default=None, compare=False)
    """Its name in the saved inventory (a rerun), to warn when it is renamed."""
    key: str = field(default_factory=lambda: f"client-{next(_client_keys)}", compare=False)
    """Stays the same when the client is renamed (table rows and widget ids use it)."""
    repository: str | None = None
    """The inventory's `repository:` (None: Borgkeep's default path); the review sets it
    when the client already backs up to the server and the operator chooses."""
    archive_prefix: str | None = None
    """The inventory's `archive_prefix:`, carried through the wizard unchanged."""


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
    drill_schedule: str = ""
    """The server's restore drill (empty: off)."""
    server_facts: HostFacts | None = None
    server_facts_for: str = ""
    clients: list[ClientEntry] = field(default_factory=list)
    retention: dict = field(default_factory=lambda: dict(DEFAULT_RETENTION))
    session: FleetSession | None = None
    plan: Plan | None = None
    left_out: set[str] = field(default_factory=set)
    apply_result: ApplyResult | None = None
    verify_report: VerifyReport | None = None
    apply_error: str | None = None
    not_configured: dict[str, str] = field(default_factory=dict)
    """Clients the applied plan did not set up (unreachable or left out), and why."""
    inventory_saved: bool = False
    now: datetime | None = None
    alerts: dict = field(default_factory=dict)
    """The saved inventory's `alerts:` section: no step edits it, every save keeps it."""
    status: StatusReport | None = None
    """The fleet's health as the welcome screen last read it from the server."""
    first_backups: dict[str, FirstBackup] = field(default_factory=dict)
    """Backups run from the done screen, by client."""

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
        self.drill_schedule = server.drill_schedule or ""
        self.retention = dict(inventory.retention)
        self.alerts = {
            key: value for key, value in vars(inventory.alerts).items() if value is not None
        }
        self.clients = [
            ClientEntry(
                c.name,
                c.ssh,
                list(c.source_directories),
                list(c.exclude_patterns),
                c.schedule,
                dict(c.retention),
                c.quota,
                saved_name=c.name,
                repository=c.repository,
                archive_prefix=c.archive_prefix,
            )
            for c in inventory.clients
        ]

    def client(self, name: str) -> ClientEntry | None:
        return next((c for c in self.clients if c.name == name), None)

    def client_by_key(self, key: str | None) -> ClientEntry | None:
        return next((c for c in self.clients if c.key == key), None)

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
            "drill_schedule": self.drill_schedule or None,
        }
        clients = [vars(c) for c in self.clients]
        return inventory_data(server, self.retention, clients, self.alerts)

    def to_inventory(self) -> Inventory:
        """Validated by the engine, so the screens never build an inventory the CLI would
        refuse. Raises `InventoryError`."""
        return inventory_from_data(self.inventory_data(), "wizard")

    def save_inventory(self, inventory: Inventory | None = None) -> Inventory:
        """Write the inventory (what was applied, or the fields as entered) to its file;
        raises `InventoryError` when the fields are not valid, `OSError` when it cannot."""
        inventory = inventory or self.to_inventory()
        save_inventory(inventory, self.inventory_path)
        self.saved = inventory
        self.inventory_saved = True
        return inventory

    def invalidate_plan(self) -> None:
        """Anything entered changed: the next Review gathers and plans again."""
        if self.session is not None:
            self.session.close()
        self.session = None
        self.plan = None
        self.left_out = set()
        self.apply_result = None
        self.apply_error = None
        self.verify_report = None

    def plan_to_apply(self) -> Plan:
        """The reviewed plan; hosts the operator left out were planned out by the engine
        (`FleetSession.plan(leave_out=...)`), so it is exactly what was shown."""
        assert self.plan is not None
        return self.plan
