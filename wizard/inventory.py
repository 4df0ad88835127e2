"""The inventory file (version 1): load, validate, save.

Validation happens here, before any connection, and every error names the field and,
where YAML gives one, the line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import platformdirs
import yaml

from wizard.validation import (
    FieldError,
    check_absolute_path,
    check_cron,
    check_exclude_pattern,
    check_name,
    check_retention,
    check_ssh_destination,
    check_unix_user,
    split_host_port,
)

INVENTORY_VERSION = 1
SERVER_KEYS = ("name", "ssh", "address", "borg_user", "repo_root", "prune_schedule")
CLIENT_KEYS = ("name", "ssh", "source_directories", "exclude_patterns", "schedule", "retention")
TOP_KEYS = ("version", "server", "retention", "clients")


class InventoryError(Exception):
    """One or more inventory problems; `errors` holds each `FieldError`."""

    def __init__(self, errors: list[FieldError]):
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


@dataclass(frozen=True)
class ServerSpec:
    name: str
    ssh: str
    address: str | None = None
    borg_user: str | None = None
    repo_root: str | None = None
    prune_schedule: str | None = None


@dataclass(frozen=True)
class ClientSpec:
    name: str
    ssh: str
    source_directories: tuple[str, ...]
    exclude_patterns: tuple[str, ...] = ()
    schedule: str | None = None
    retention: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Inventory:
    server: ServerSpec
    retention: dict
    clients: tuple[ClientSpec, ...] = ()

    def client(self, name: str) -> ClientSpec:
        for client in self.clients:
            if client.name == name:
                return client
        raise KeyError(name)

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


# --- YAML with line numbers -------------------------------------------------------------


class _Loaded:
    """A plain value plus the line of every dotted field path, from the YAML node tree."""

    def __init__(self) -> None:
        self.lines: dict[str, int] = {}

    def convert(self, node: yaml.Node, path: str) -> object:
        self.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            result: dict = {}
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
                if not isinstance(key, str):
                    raise FieldError(
                        path or "(top)", "keys must be plain strings", key_node.start_mark.line + 1
                    )
                sub = f"{path}.{key}" if path else key
                if key in result:
                    raise FieldError(sub, "duplicate key", key_node.start_mark.line + 1)
                self.lines[sub] = key_node.start_mark.line + 1
                result[key] = self.convert(value_node, sub)
                self.lines[sub] = key_node.start_mark.line + 1
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(item, f"{path}[{i}]") for i, item in enumerate(node.value)]
        return yaml.safe_load(yaml.serialize(node))


def _line_for(lines: dict[str, int], field_path: str) -> int | None:
    probe = field_path
    while probe:
        if probe in lines:
            return lines[probe]
        cut = max(probe.rfind("."), probe.rfind("["))
        probe = probe[:cut] if cut > 0 else ""
    return None


def parse_inventory(text: str, source: str = "inventory") -> Inventory:
    """Parse and validate inventory text; raises `InventoryError` listing every problem."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise InventoryError(
            [FieldError("(yaml)", f"not valid YAML: {problem}", line, source)]
        ) from None
    loaded = _Loaded()
    try:
        data = loaded.convert(node, "") if node is not None else None
    except FieldError as exc:
        exc.source = source
        raise InventoryError([exc]) from None
    errors: list[FieldError] = []
    inventory = _validate(data, errors)
    for error in errors:
        error.source = source
        if error.line is None:
            error.line = _line_for(loaded.lines, error.field)
    if errors:
        raise InventoryError(errors)
    assert inventory is not None
    return inventory


def load_inventory(path: Path) -> Inventory:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InventoryError(
            [
                FieldError(
                    "(file)",
                    "no such file: run `borgkeep` to create one with the wizard, "
                    "or pass --inventory PATH",
                    None,
                    str(path),
                )
            ]
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InventoryError(
            [FieldError("(file)", f"cannot read: {exc}", None, str(path))]
        ) from None
    return parse_inventory(text, str(path))


def _unknown_keys(data: dict, allowed: tuple[str, ...], where: str, errors: list) -> None:
    for key in data:
        if key not in allowed:
            path = f"{where}.{key}" if where else key
            errors.append(FieldError(path, f"unknown key (allowed: {', '.join(allowed)})"))


def _collect(errors: list[FieldError], check, *args):
    """Run one check, recording its `FieldError` instead of stopping at the first problem."""
    try:
        return check(*args)
    except FieldError as exc:
        errors.append(exc)
        return None


def _validate(data: object, errors: list[FieldError]) -> Inventory | None:
    if not isinstance(data, dict):
        errors.append(FieldError("(top)", "the inventory must be a YAML mapping"))
        return None
    _unknown_keys(data, TOP_KEYS, "", errors)
    if data.get("version") != INVENTORY_VERSION:
        errors.append(
            FieldError("version", f"must be {INVENTORY_VERSION} (got {data.get('version')!r})")
        )
    server = _validate_server(data.get("server"), errors)
    retention = _collect(errors, check_retention, "retention", data.get("retention"))
    raw_clients = data.get("clients", [])
    if raw_clients is None:
        raw_clients = []
    clients: list[ClientSpec] = []
    if not isinstance(raw_clients, list):
        errors.append(FieldError("clients", "expected a list of clients"))
        raw_clients = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_clients):
        client = _validate_client(raw, f"clients[{i}]", retention or {}, errors)
        if client is None:
            continue
        if client.name in seen:
            errors.append(
                FieldError(f"clients[{i}].name", f"duplicate client name {client.name!r}")
            )
        if server is not None and client.name == server.name:
            errors.append(
                FieldError(f"clients[{i}].name", "a client cannot have the server's name")
            )
        seen.add(client.name)
        clients.append(client)
    if errors or server is None or retention is None:
        return None
    return Inventory(server=server, retention=retention, clients=tuple(clients))


def _validate_server(raw: object, errors: list[FieldError]) -> ServerSpec | None:
    if not isinstance(raw, dict):
        errors.append(FieldError("server", "expected a mapping with at least name and ssh"))
        return None
    _unknown_keys(raw, SERVER_KEYS, "server", errors)
    before = len(errors)
    name = _collect(errors, check_name, "server.name", raw.get("name"))
    ssh = _collect(errors, check_ssh_destination, "server.ssh", raw.get("ssh"))
    address = raw.get("address")
    if address is not None:
        _collect(errors, split_host_port, "server.address", address)
    borg_user = raw.get("borg_user")
    if borg_user is not None:
        _collect(errors, check_unix_user, "server.borg_user", borg_user)
    repo_root = raw.get("repo_root")
    if repo_root is not None:
        repo_root = _collect(errors, check_absolute_path, "server.repo_root", repo_root)
        if repo_root == "/":
            errors.append(FieldError("server.repo_root", "must not be '/'"))
    prune_schedule = raw.get("prune_schedule")
    if prune_schedule is not None:
        prune_schedule = _collect(errors, check_cron, "server.prune_schedule", prune_schedule)
    if len(errors) > before:
        return None
    return ServerSpec(name, ssh, address, borg_user, repo_root, prune_schedule)


def _validate_client(
    raw: object, where: str, default_retention: dict, errors: list[FieldError]
) -> ClientSpec | None:
    if not isinstance(raw, dict):
        errors.append(FieldError(where, "expected a mapping with name, ssh, source_directories"))
        return None
    _unknown_keys(raw, CLIENT_KEYS, where, errors)
    before = len(errors)
    name = _collect(errors, check_name, f"{where}.name", raw.get("name"))
    ssh = _collect(errors, check_ssh_destination, f"{where}.ssh", raw.get("ssh"))
    sources = raw.get("source_directories")
    if not isinstance(sources, list) or not sources:
        errors.append(
            FieldError(f"{where}.source_directories", "expected a non-empty list of paths")
        )
        sources = []
    sources = [
        _collect(errors, check_absolute_path, f"{where}.source_directories[{i}]", s)
        for i, s in enumerate(sources)
    ]
    excludes = raw.get("exclude_patterns") or []
    if not isinstance(excludes, list):
        errors.append(FieldError(f"{where}.exclude_patterns", "expected a list of patterns"))
        excludes = []
    excludes = [
        _collect(errors, check_exclude_pattern, f"{where}.exclude_patterns[{i}]", e)
        for i, e in enumerate(excludes)
    ]
    schedule = raw.get("schedule")
    if schedule is not None:
        schedule = _collect(errors, check_cron, f"{where}.schedule", schedule)
    retention = raw.get("retention") or {}
    retention = _collect(errors, check_retention, f"{where}.retention", retention, False)
    if retention is not None and default_retention:
        _collect(
            errors,
            check_retention,
            f"{where}.retention",
            {**default_retention, **retention},
        )
    if len(errors) > before:
        return None
    return ClientSpec(
        name=name,
        ssh=ssh,
        source_directories=tuple(dict.fromkeys(sources)),
        exclude_patterns=tuple(excludes),
        schedule=schedule,
        retention=retention or {},
    )


# --- saving ---------------------------------------------------------------------------


def inventory_to_data(inventory: Inventory) -> dict:
    """The inventory as plain data in the documented key order, optional keys left out."""
    server = {
        key: getattr(inventory.server, key)
        for key in SERVER_KEYS
        if getattr(inventory.server, key) is not None
    }
    clients = []
    for client in inventory.clients:
        item: dict = {
            "name": client.name,
            "ssh": client.ssh,
            "source_directories": list(client.source_directories),
        }
        if client.exclude_patterns:
            item["exclude_patterns"] = list(client.exclude_patterns)
        if client.schedule:
            item["schedule"] = client.schedule
        if client.retention:
            item["retention"] = dict(client.retention)
        clients.append(item)
    return {
        "version": INVENTORY_VERSION,
        "server": server,
        "retention": dict(inventory.retention),
        "clients": clients,
    }


def dump_inventory(inventory: Inventory) -> str:
    return yaml.safe_dump(
        inventory_to_data(inventory), sort_keys=False, default_flow_style=False, allow_unicode=True
    )


def save_inventory(inventory: Inventory, path: Path) -> None:
    """Write atomically (temp file + rename) so a crash never leaves half an inventory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(dump_inventory(inventory), encoding="utf-8")
    os.replace(tmp, path)
