"""The inventory (version 1) as data: servers, clients, retention, and its one YAML form.

Validation lives in `wizard.inventory.parse`; nothing here checks values.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import platformdirs

INVENTORY_VERSION = 1
DEFAULT_RETENTION = {"keep_daily": 7, "keep_weekly": 4, "keep_monthly": 6, "keep_yearly": 1}
"""What the wizard proposes for a new fleet."""
DEFAULT_SOURCES = ("/etc", "/home", "/root")
"""What the wizard proposes to back up on a new client."""
SERVER_KEYS = (
    "name",
    "ssh",
    "address",
    "borg_user",
    "repo_root",
    "prune_schedule",
    "drill_schedule",
)
CLIENT_KEYS = (
    "name",
    "ssh",
    "source_directories",
    "exclude_patterns",
    "schedule",
    "retention",
    "quota",
    "repository",
    "archive_prefix",
)
TOP_KEYS = ("version", "server", "retention", "clients", "alerts")
ALERT_KEYS = ("email", "ntfy", "healthchecks", "webhook", "stale_after")


@dataclass(frozen=True)
class ServerSpec:
    name: str
    ssh: str
    address: str | None = None
    borg_user: str | None = None
    repo_root: str | None = None
    prune_schedule: str | None = None
    drill_schedule: str | None = None
    """When the server's restore drill runs (a cron expression); None: never."""


@dataclass(frozen=True)
class ClientSpec:
    name: str
    ssh: str
    source_directories: tuple[str, ...]
    exclude_patterns: tuple[str, ...] = ()
    schedule: str | None = None
    retention: dict = field(default_factory=dict)
    quota: str | None = None
    """Borg's `--storage-quota` for this client's repository (`50G`), or None for none."""
    repository: str | None = None
    """The repository's absolute path on the server; None: `{repo_root}/{name}`. Set to an
    existing repository's path, Borgkeep takes that repository over where it lies."""
    archive_prefix: str | None = None
    """The literal start of this client's archive names; None: `{name}-`. A taken-over
    repository keeps the prefix its archives already have, so the server prunes them."""


@dataclass(frozen=True)
class Alerts:
    """Where the server's health job and guard send problems (every field optional).
    The URLs may carry tokens: they are secrets in plans and output."""

    email: str | None = None
    ntfy: str | None = None
    healthchecks: str | None = None
    webhook: str | None = None
    stale_after: str | None = None
    """A client is stale when its newest archive is older (`36h`); default: twice the
    longest gap of its schedule."""

    @property
    def urls(self) -> dict[str, str]:
        """The channels the server posts to, by name (what `alerts.json` holds)."""
        channels = {"ntfy": self.ntfy, "healthchecks": self.healthchecks, "webhook": self.webhook}
        return {name: url for name, url in channels.items() if url}


@dataclass(frozen=True)
class Inventory:
    server: ServerSpec
    retention: dict
    clients: tuple[ClientSpec, ...] = ()
    alerts: Alerts = field(default_factory=Alerts)

    def client(self, name: str) -> ClientSpec:
        for client in self.clients:
            if client.name == name:
                return client
        raise KeyError(name)

    def without_client(self, name: str) -> Inventory:
        """A copy without the client `name` (a retired client)."""
        return replace(self, clients=tuple(c for c in self.clients if c.name != name))

    def with_client(self, client: ClientSpec) -> Inventory:
        """A copy with `client` added, or replacing the client of the same name in place."""
        clients = list(self.clients)
        for i, existing in enumerate(clients):
            if existing.name == client.name:
                clients[i] = client
                break
        else:
            clients.append(client)
        return replace(self, clients=tuple(clients))


def default_inventory_path() -> Path:
    """`--inventory` wins, then `BORGKEEP_INVENTORY`, then the platform config dir."""
    env = os.environ.get("BORGKEEP_INVENTORY")
    if env:
        return Path(env)
    return Path(platformdirs.user_config_dir("borgkeep")) / "inventory.yaml"


# --- saving ---------------------------------------------------------------------------


def inventory_data(
    server: dict, retention: dict, clients: list[dict], alerts: dict | None = None
) -> dict:
    """The one YAML form of an inventory: documented key order, empty optional keys left out.

    Takes plain values, so the wizard (whose fields may not be valid yet) and the lab build
    exactly what `save_inventory` writes."""
    required_client = ("name", "ssh", "source_directories")

    def present(key: str, value: object, required: tuple[str, ...]) -> bool:
        return key in required or value not in (None, "", [], {}, ())

    data = {
        "version": INVENTORY_VERSION,
        "server": {
            key: server[key]
            for key in SERVER_KEYS
            if key in server and present(key, server[key], ("name", "ssh"))
        },
        "retention": dict(retention),
        "clients": [
            {
                key: list(client[key]) if isinstance(client[key], tuple) else client[key]
                for key in CLIENT_KEYS
                if key in client and present(key, client[key], required_client)
            }
            for client in clients
        ],
    }
    channels = {k: v for k, v in (alerts or {}).items() if k in ALERT_KEYS and present(k, v, ())}
    if channels:
        data["alerts"] = {key: channels[key] for key in ALERT_KEYS if key in channels}
    return data


def inventory_to_data(inventory: Inventory) -> dict:
    """The inventory as plain data in the documented key order, optional keys left out."""
    server = {key: getattr(inventory.server, key) for key in SERVER_KEYS}
    clients = [
        {
            "name": c.name,
            "ssh": c.ssh,
            "source_directories": list(c.source_directories),
            "exclude_patterns": list(c.exclude_patterns),
            "schedule": c.schedule,
            "retention": dict(c.retention),
            "quota": c.quota,
            "repository": c.repository,
            "archive_prefix": c.archive_prefix,
        }
        for c in inventory.clients
    ]
    alerts = {key: getattr(inventory.alerts, key) for key in ALERT_KEYS}
    return inventory_data(server, inventory.retention, clients, alerts)


def dump_inventory_data(data: dict) -> str:
    """YAML text of `inventory_data(...)`: block style, documented key order."""
    import yaml  # on first use: the wizard's first screen does not write YAML

    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)


def dump_inventory(inventory: Inventory) -> str:
    return dump_inventory_data(inventory_to_data(inventory))


def save_inventory(inventory: Inventory, path: Path) -> None:
    """Write atomically (temp file + rename) so a crash never leaves half an inventory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(dump_inventory(inventory), encoding="utf-8")
    os.replace(tmp, path)
