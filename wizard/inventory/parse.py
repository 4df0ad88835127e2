"""Reading the inventory: YAML with the line of every field, and validation of every value
before any connection is made. Every error names the field and, where YAML gives one, the
line."""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import yaml

from wizard.inventory.model import (
    ALERT_KEYS,
    CLIENT_KEYS,
    INVENTORY_VERSION,
    SERVER_KEYS,
    TOP_KEYS,
    Alerts,
    ClientSpec,
    Inventory,
    ServerSpec,
)
from wizard.inventory.validation import (
    Destination,
    FieldError,
    InventoryError,
    check_absolute_path,
    check_alert_url,
    check_archive_prefix,
    check_cron,
    check_distinct_destinations,
    check_duration,
    check_email,
    check_exclude_pattern,
    check_name,
    check_ntfy_url,
    check_quota,
    check_repository_path,
    check_retention,
    check_source_directory,
    check_ssh_destination,
    check_unix_user,
    split_host_port,
)

# --- YAML with line numbers -------------------------------------------------------------


class _Loaded:
    """A plain value plus the line of every dotted field path, from the YAML node tree."""

    def __init__(self) -> None:
        self.lines: dict[str, int] = {}

    def convert(self, node: yaml.Node, path: str) -> object:
        import yaml  # on first use: the wizard's first screen does not read YAML

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
    import yaml  # on first use: the wizard's first screen does not read YAML

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


def inventory_from_data(data: object, source: str = "inventory") -> Inventory:
    """Validate plain data (e.g. the wizard's fields, via `inventory_data`) exactly like a
    file; raises `InventoryError` naming every bad field."""
    errors: list[FieldError] = []
    inventory = _validate(data, errors)
    for error in errors:
        error.source = source
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
    destinations: list[Destination] = []
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
        who = f"client {client.name!r}"
        destinations.append(Destination(f"clients[{i}].ssh", who, client.ssh))
    errors += _overlapping_repositories(server, clients)
    if server is not None:
        errors += check_distinct_destinations(
            Destination("server.ssh", f"the server {server.name!r}", server.ssh), destinations
        )
    alerts = _validate_alerts(data.get("alerts"), errors)
    if errors or server is None or retention is None or alerts is None:
        return None
    return Inventory(server=server, retention=retention, clients=tuple(clients), alerts=alerts)


def _validate_alerts(raw: object, errors: list[FieldError]) -> Alerts | None:
    if raw is None:
        return Alerts()
    if not isinstance(raw, dict):
        errors.append(FieldError("alerts", "expected a mapping (email, ntfy, healthchecks, ...)"))
        return None
    _unknown_keys(raw, ALERT_KEYS, "alerts", errors)
    before = len(errors)
    checks = {
        "email": check_email,
        "ntfy": check_ntfy_url,
        "healthchecks": check_alert_url,
        "webhook": check_alert_url,
        "stale_after": check_duration,
    }
    values = {
        key: _collect(errors, check, f"alerts.{key}", raw[key])
        for key, check in checks.items()
        if raw.get(key) is not None
    }
    return Alerts(**values) if len(errors) == before else None


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
    drill_schedule = raw.get("drill_schedule")
    if drill_schedule is not None:
        drill_schedule = _collect(errors, check_cron, "server.drill_schedule", drill_schedule)
    if len(errors) > before:
        return None
    return ServerSpec(name, ssh, address, borg_user, repo_root, prune_schedule, drill_schedule)


def _optional(raw: dict, key: str, check, where: str, errors: list[FieldError]):
    """An optional client value, checked when present (None when absent or refused)."""
    value = raw.get(key)
    return None if value is None else _collect(errors, check, f"{where}.{key}", value)


def _overlapping_repositories(
    server: ServerSpec | None, clients: list[ClientSpec]
) -> list[FieldError]:
    """Two clients can never share a repository or hold one inside the other's: each key
    line may reach one repository only. Defaults count when `server.repo_root` is set
    (otherwise the borg user's home decides, and the plan checks)."""
    root = server.repo_root if server is not None else None
    places = []
    for i, client in enumerate(clients):
        path = client.repository or (posixpath.join(root, client.name) if root else None)
        if path:
            places.append((i, client, path))
    errors = []
    for n, (i, client, path) in enumerate(places):
        for j, other, other_path in places[:n]:
            if (
                path == other_path
                or path.startswith(other_path + "/")
                or other_path.startswith(path + "/")
            ):
                how = "the same repository as" if path == other_path else "a repository nested with"
                field = (
                    f"clients[{i}].repository" if client.repository else f"clients[{j}].repository"
                )
                errors.append(
                    FieldError(
                        field,
                        f"{client.name} and {other.name} would have {how} each other ({path}, {other_path})",
                    )
                )
    return errors


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
        _collect(errors, check_source_directory, f"{where}.source_directories[{i}]", s)
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
    schedule = _optional(raw, "schedule", check_cron, where, errors)
    quota = _optional(raw, "quota", check_quota, where, errors)
    repository = _optional(raw, "repository", check_repository_path, where, errors)
    prefix = _optional(raw, "archive_prefix", check_archive_prefix, where, errors)
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
        quota=quota,
        retention=retention or {},
        repository=repository,
        archive_prefix=prefix,
    )
