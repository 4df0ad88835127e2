"""The one plain object every wizard step reads and fills, so going back pre-fills fields."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import yaml

from wizard.apply import ApplyResult
from wizard.engine import FleetSession
from wizard.facts import HostFacts
from wizard.inventory import Inventory, parse_inventory
from wizard.plan import Plan
from wizard.settings import DEFAULT_PRUNE_SCHEDULE
from wizard.verify import VerifyReport

DEFAULT_RETENTION = {"keep_daily": 7, "keep_weekly": 4, "keep_monthly": 6, "keep_yearly": 1}
DEFAULT_SOURCES = ["/etc", "/home", "/root"]


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
    excluded_hosts: set[str] = field(default_factory=set)
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
        server: dict = {"name": self.server_name, "ssh": self.server_ssh}
        if self.server_address:
            server["address"] = self.server_address
        if self.borg_user:
            server["borg_user"] = self.borg_user
        if self.repo_root:
            server["repo_root"] = self.repo_root
        if self.prune_schedule and self.prune_schedule != DEFAULT_PRUNE_SCHEDULE:
            server["prune_schedule"] = self.prune_schedule
        clients = []
        for c in self.clients:
            item: dict = {"name": c.name, "ssh": c.ssh, "source_directories": c.source_directories}
            if c.exclude_patterns:
                item["exclude_patterns"] = c.exclude_patterns
            if c.schedule:
                item["schedule"] = c.schedule
            if c.retention:
                item["retention"] = c.retention
            clients.append(item)
        return {"version": 1, "server": server, "retention": self.retention, "clients": clients}

    def to_inventory(self) -> Inventory:
        """Validated by the engine's own parser, so the screens never build an inventory
        the CLI would refuse. Raises `InventoryError`."""
        text = yaml.safe_dump(self.inventory_data(), sort_keys=False)
        return parse_inventory(text, "wizard")

    def invalidate_plan(self) -> None:
        """Anything entered changed: the next Review gathers and plans again."""
        if self.session is not None:
            self.session.close()
        self.session = None
        self.plan = None
        self.excluded_hosts = set()

    def plan_to_apply(self) -> Plan:
        """The reviewed plan; hosts the operator left out were planned out by the engine
        (`FleetSession.plan(leave_out=...)`), so it is exactly what was shown."""
        assert self.plan is not None
        return self.plan
