"""What a lifecycle request reads before it is planned, read-only: the server's facts (and
the guard's inspection, for recover), then the client's (and its archives, for restore),
each step reported as it starts and ends. Returns the gather's snapshot and the extra
readings, which `wizard.pipeline.lifecycle.actions.plan_request` plans from.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from wizard.inventory.model import Inventory
from wizard.inventory.settings import ServerSettings
from wizard.pipeline.gather import gather_client_facts, gather_server_facts
from wizard.pipeline.identity import client_identity, server_identity
from wizard.pipeline.lifecycle import facts as more_facts
from wizard.pipeline.lifecycle.actions import Secrets, key_verdict
from wizard.pipeline.lifecycle.recover import parse_inspect
from wizard.pipeline.lifecycle.request import (
    LifecycleReadings,
    LifecycleRefused,
    LifecycleRequest,
)
from wizard.pipeline.repository_key import REWRITTEN
from wizard.pipeline.snapshot import FleetSnapshot
from wizard.remote.errors import ServerUnavailable

if TYPE_CHECKING:
    from wizard.remote.transport import Connection

Event = Callable[[str, str, str], None]


def gather_for(
    request: LifecycleRequest,
    inventory: Inventory,
    settings: ServerSettings,
    store: Secrets,
    connect: Callable[[str], Connection],
    event: Event,
) -> tuple[FleetSnapshot, LifecycleReadings]:
    """Read what `request` needs over `connect`'s connections. `ServerUnavailable` without
    the server; `LifecycleRefused` for a client not in the inventory (but to remove), or
    unreachable when its key is to be rotated or a file restored onto it."""
    client, server = request.client, inventory.server.name
    known = any(c.name == client for c in inventory.clients)
    if not known and request.action != "remove":
        raise LifecycleRefused(f"{client} is not a client in the inventory")
    try:
        event(server, "step", "connecting")
        conn = connect(server)
        event(server, "step", "gathering facts")
        facts = gather_server_facts(conn, server, settings, [client])
        identity = server_identity(facts, settings)
        if request.action == "remove" and request.purge:
            facts = more_facts.server_extras(conn, identity, facts, settings, client)
    except Exception as exc:
        raise ServerUnavailable(f"{server}: {exc}") from exc
    snapshot = FleetSnapshot(inventory, settings, {server: facts})
    event(server, "done", "facts gathered")
    inspected = None
    if request.action == "recover" and key_verdict(snapshot, store, client).kind != REWRITTEN:
        event(server, "step", f"the guard inspects {client}'s repository")
        inspected = more_facts.guard_inspect(conn, identity, facts, settings, client)
        event(server, "done", f"the guard inspected {client}'s repository")
    if not known:
        return snapshot, LifecycleReadings(inspected)
    return _read_client(request, snapshot, inspected, connect, event)


def _read_client(
    request: LifecycleRequest,
    snapshot: FleetSnapshot,
    inspected: str | None,
    connect: Callable[[str], Connection],
    event: Event,
) -> tuple[FleetSnapshot, LifecycleReadings]:
    """The client's facts (and what its request reads there) beside the server's."""
    client, settings, server_facts = request.client, snapshot.settings, snapshot.server_facts
    try:
        event(client, "step", "connecting")
        conn = connect(client)
        event(client, "step", "gathering facts")
        found = gather_client_facts(conn, client)
        found = more_facts.client_extras(
            conn, client_identity(found), found, client, request.destination
        )
    except Exception as exc:
        why = str(exc) or type(exc).__name__
        if request.action in ("rotate-key", "restore"):
            raise LifecycleRefused(f"{client}: unreachable: {why}") from exc
        event(client, "error", why)
        unreachable = FleetSnapshot(snapshot.inventory, settings, snapshot.facts, {client: why})
        return unreachable, LifecycleReadings(inspected)
    snapshot = FleetSnapshot(snapshot.inventory, settings, {**snapshot.facts, client: found})
    event(client, "done", "facts gathered")
    refuses, listing = False, None
    if request.mode == "rollback" and inspected and not parse_inspect(inspected).needs_decision:
        # nothing to roll back: maybe done already, all but the client's forget-cache
        event(client, "step", "checking that Borg accepts its repository")
        refuses = more_facts.client_refuses_repository(conn, found, client, settings, server_facts)
        event(client, "done", "checked that Borg accepts its repository")
    if request.action == "restore":
        event(client, "step", "listing its archives through its own key")
        listing = more_facts.client_listing(conn, found, client, settings, server_facts)
    return snapshot, LifecycleReadings(inspected, listing, refuses)
