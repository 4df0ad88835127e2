"""Day two: the fleet's health from the server alone, read over the one connection the
front door opens (`FleetSession.status`); the first backups are
`wizard.pipeline.first_backup`'s."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from wizard.inventory.model import Inventory
from wizard.inventory.settings import ServerSettings
from wizard.pipeline.host_basics import gather_basic
from wizard.pipeline.identity import server_identity
from wizard.pipeline.status import (
    StatusError,
    StatusReport,
    guard_by_hand,
    parse_status,
    status_command,
)
from wizard.remote.errors import ServerUnavailable

if TYPE_CHECKING:
    from wizard.remote.transport import Connection


def fleet_status(
    inventory: Inventory, settings: ServerSettings, connect: Callable[[str], Connection]
) -> StatusReport:
    """The fleet's health from the server alone (one connection, two commands): works when
    every client is down. Raises `ServerUnavailable` or `StatusError`."""
    server, user = inventory.server.name, settings.borg_user
    try:
        conn = connect(server)
        facts = gather_basic(conn, server, users=[user])
    except Exception as exc:
        raise ServerUnavailable(f"{server}: {exc}") from exc
    if user not in facts.users and user != facts.login_user:
        raise StatusError(
            f"{server}: nothing is set up there yet (no user {user}; `borgkeep apply` creates it)"
        )
    borg = server_identity(facts, settings).as_user(user)
    result = conn.run(borg.wrap(status_command(facts, settings)))
    if result.rc != 0:
        why = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise StatusError(
            f"{server}: the guard could not report (exit {result.rc}): "
            + (why[-1] if why else "no output")
            + " — has `borgkeep apply` installed it?"
        )
    by_hand = guard_by_hand(facts, settings, borg, inventory.server.ssh)
    return parse_status(result.stdout.decode("utf-8", "replace"), inventory, by_hand)
