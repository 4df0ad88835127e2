"""What the clients step decides about a client before and after it joins the list: whether
its login is already someone's, the name it gets, and its check — run in a worker thread,
over SSH — with the Borg setup the server already holds for it."""

from __future__ import annotations

from collections.abc import Callable

from screens.state import ClientEntry, WizardState, name_from_destination
from screens.takeover_choice import ExistingSetup, find_existing, server_spec
from wizard.inventory.validation import login_of
from wizard.session import HostFacts, probe_client

CheckResult = tuple[HostFacts, ExistingSetup | str | None]


def login_taken(state: WizardState, destination: str) -> str | None:
    """Who already logs in where `destination` does (the same alias, or the same
    user@host:port after ~/.ssh/config): one host, one client. None if nobody."""
    login = login_of(destination)
    if login is None:
        return None
    if state.server_ssh and login_of(state.server_ssh) == login:
        return (
            f"{destination} logs in as {login}, like the server "
            f"{state.server_name} ({state.server_ssh}): a client cannot be the "
            "server's own login"
        )
    for client in state.clients:
        if login_of(client.ssh) == login:
            return (
                f"{destination} logs in as {login}, like the client {client.name} "
                f"({client.ssh}): one host, one client — it was not added"
            )
    return None


def free_name(state: WizardState, destination: str) -> str:
    """The name `destination` suggests, numbered past the server's and the clients'."""
    name = name_from_destination(destination)
    taken = {c.name for c in state.clients} | {state.server_name}
    base, n = name, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


def client_check(
    state: WizardState, client: ClientEntry, ask_host_key: Callable
) -> Callable[[], CheckResult]:
    """The check of `client` for a worker thread: its facts over SSH (an unknown host key
    asked through `ask_host_key`), then its existing setup on the server. What it needs
    from the state is read now, on the screen's thread."""
    accept = state.accept_new_host_keys
    name, destination = client.name, client.ssh
    server, server_facts = server_spec(state), state.server_facts

    def check() -> CheckResult:
        facts = probe_client(
            name,
            destination,
            on_unknown_host_key=ask_host_key,
            accept_new_host_keys=accept,
        )
        return facts, find_existing(server, server_facts, name, facts)

    return check


def existing_reading(
    state: WizardState,
) -> Callable[[], list[tuple[str, ExistingSetup | str | None]]] | None:
    """For a worker thread: what the clients checked on an earlier visit already have on
    the server (from their facts), by client key. None when there is nothing to read."""
    server, server_facts = server_spec(state), state.server_facts
    checked = [(c.key, c.name, c.facts) for c in state.clients if c.facts is not None]
    if not checked or server_facts is None:
        return None
    return lambda: [(key, find_existing(server, server_facts, n, f)) for key, n, f in checked]
