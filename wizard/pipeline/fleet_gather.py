"""Gather the whole fleet at once (after resolving every host's destination locally): every host's facts read in parallel (bounded) over the
connections `connect` opens, into one `FleetSnapshot`; a host that cannot be read is
recorded there with why (one line), each step reported as it starts and ends."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from wizard.inventory.model import Inventory
from wizard.inventory.settings import ServerSettings, resolve_server
from wizard.pipeline.facts import HostFacts
from wizard.pipeline.gather import gather_client_facts, gather_server_facts
from wizard.pipeline.snapshot import FleetSnapshot
from wizard.remote.errors import RemoteCommandTimeout
from wizard.remote.ssh_config import SSHTarget, resolve_target
from wizard.remote.step_timeouts import step_failure

if TYPE_CHECKING:
    from wizard.remote.transport import Connection


def resolve_fleet(
    inventory: Inventory, ssh_config: Path | None
) -> tuple[dict[str, SSHTarget], ServerSettings]:
    """Every host's destination resolved locally (the operator's ssh config), before any
    connection, and the server's settings that follow from its own."""
    targets = {inventory.server.name: resolve_target(inventory.server.ssh, ssh_config)}
    for client in inventory.clients:
        targets[client.name] = resolve_target(client.ssh, ssh_config)
    server = targets[inventory.server.name]
    return targets, resolve_server(inventory, server.user, server.hostname, server.port)


def gather_fleet(
    inventory: Inventory,
    settings: ServerSettings,
    connect: Callable[[str], Connection],
    event: Callable[[str, str, str], None],
    max_parallel: int,
) -> FleetSnapshot:
    """The server's facts and every client's, hosts side by side; the server's failure is
    in `errors` like any other (the caller decides it is fatal)."""
    server, client_names = inventory.server.name, [c.name for c in inventory.clients]
    facts: dict[str, HostFacts] = {}
    errors: dict[str, str] = {}
    lock = threading.Lock()

    def one(name: str) -> None:
        event(name, "step", "connecting")
        try:
            conn = connect(name)
            event(name, "step", "gathering facts")
            if name == server:
                found = gather_server_facts(conn, name, settings, client_names)
            else:
                found = gather_client_facts(conn, name)
        except Exception as exc:  # reported per host
            said = str(exc) or type(exc).__name__
            if isinstance(exc, RemoteCommandTimeout):  # a hung read: say which step
                said = f"gathering facts: {step_failure(exc)}"
            with lock:
                errors[name] = said
            event(name, "error", said)
            return
        with lock:
            facts[name] = found
        event(name, "done", "facts gathered")

    names = [server, *client_names]
    with ThreadPoolExecutor(max_workers=max_parallel) as pool:
        list(pool.map(one, names))
    in_order = {name: facts[name] for name in names if name in facts}
    return FleetSnapshot(inventory, settings, in_order, errors)
