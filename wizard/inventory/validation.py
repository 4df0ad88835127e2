"""The inventory's checks: every value check (`wizard.checks`, re-exported here for the screens,
which reach the engine through the inventory), the error that gathers them, and "one host,
one client" (which reads the operator's ssh config through `remote.ssh_config`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from wizard.checks.destination import check_ssh_destination
from wizard.checks.fields import (
    ARCHIVE_PREFIX_RE,
    RETENTION_KEYS,
    FieldError,
    check_absolute_path,
    check_alert_url,
    check_archive_prefix,
    check_cron,
    check_duration,
    check_email,
    check_exclude_pattern,
    check_host,
    check_keep_count,
    check_name,
    check_ntfy_url,
    check_port,
    check_quota,
    check_repository_path,
    check_retention,
    check_source_directory,
    check_unix_user,
    duration_seconds,
    quota_bytes,
    split_host_port,
    split_ntfy_url,
)

__all__ = [
    "ARCHIVE_PREFIX_RE",
    "Destination",
    "FieldError",
    "InventoryError",
    "RETENTION_KEYS",
    "check_absolute_path",
    "check_alert_url",
    "check_archive_prefix",
    "check_cron",
    "check_distinct_destinations",
    "check_duration",
    "check_email",
    "check_exclude_pattern",
    "check_host",
    "check_keep_count",
    "check_name",
    "check_ntfy_url",
    "check_port",
    "check_quota",
    "check_repository_path",
    "check_retention",
    "check_source_directory",
    "check_ssh_destination",
    "check_unix_user",
    "duration_seconds",
    "login_of",
    "quota_bytes",
    "split_host_port",
    "split_ntfy_url",
]


class InventoryError(Exception):
    """One or more inventory problems; `errors` holds each `FieldError`."""

    def __init__(self, errors: list[FieldError]):
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


@dataclass(frozen=True)
class Destination:
    """One inventory entry's ssh destination: `field` (`clients[3].ssh`), who it is (`client
    'web1'`, `the server 'nas'`) and the text as written."""

    field: str
    who: str
    ssh: str


def login_of(ssh: str, config_path: Path | None = None) -> str | None:
    """`user@host:port` that `ssh` logs in as after the ssh config (`~/.ssh/config`; read,
    never connected to); None when it cannot be resolved (the connection will say why)."""
    from wizard.remote.ssh_config import resolve_login  # on first use, as before

    try:
        user, host, port = resolve_login(ssh, config_path)
    except Exception:  # a bad config line or value: the connection reports it, naming it
        return None
    return f"{user}@[{host}]:{port}" if ":" in host else f"{user}@{host}:{port}"


def check_distinct_destinations(
    server: Destination | None, clients: list[Destination], config_path: Path | None = None
) -> list[FieldError]:
    """One host, one client: a client whose destination logs in where another client's (or
    the server's) does — the same alias, or the same user@host:port once the ssh config is
    applied — is refused, naming both entries. Two entries for one login would share one
    machine's key, and apply would then refuse them as a "cloned machine"."""
    errors: list[FieldError] = []
    seen: dict[str, Destination] = {}
    for entry in [server, *clients]:
        if entry is None:
            continue
        login = login_of(entry.ssh, config_path)
        if login is None:
            continue
        first = seen.setdefault(login, entry)
        if first is entry:
            continue
        if first is server:
            why = "a client cannot be the server's own login; remove this client"
        else:
            why = "the inventory lists one host twice; keep one of the two entries"
        errors.append(
            FieldError(
                entry.field,
                f"{entry.who} ({entry.ssh!r}) logs in as {login}, like {first.who} "
                f"({first.field}: {first.ssh!r}): {why}",
            )
        )
    return errors
