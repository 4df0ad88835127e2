"""Planning a client's later life on a gather's snapshot, and what an applied plan leaves to
do on the operator's side.

Each action works like apply: gather (the server and the one client, read-only:
`wizard.pipeline.lifecycle.gathering`), plan (ordinary changes and diffs: `plan_request`,
a function of the snapshot, the extra readings and the operator's stored secrets), then
apply with the same executor while holding the server's lock (the front door,
`FleetSession`, does the connecting and the locking); `settle` forgets a purged
repository's secrets and takes a retired client out of the inventory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from wizard.artefacts.guard_program import guard_program_path
from wizard.artefacts.layout import ServerPaths
from wizard.inventory.model import Inventory
from wizard.pipeline.apply import ApplyResult
from wizard.pipeline.desired.items import PHASE_SERVER_PRUNE, DesiredItem, DesiredState
from wizard.pipeline.desired.server_prune import FALLBACK_PYTHON, key_copy, key_restoration
from wizard.pipeline.facts import server_layout
from wizard.pipeline.lifecycle.recover import parse_inspect, recovery_items, recovery_notes
from wizard.pipeline.lifecycle.remove import client_removal, server_removal
from wizard.pipeline.lifecycle.request import (
    LifecyclePlan,
    LifecycleReadings,
    LifecycleRefused,
    LifecycleRequest,
)
from wizard.pipeline.lifecycle.restore import parse_listing, restore_items
from wizard.pipeline.lifecycle.rotate import rotation_items
from wizard.pipeline.plan import compute_plan
from wizard.pipeline.repository_key import REWRITTEN, RepositoryVerdict, judge_repository
from wizard.pipeline.snapshot import FleetSnapshot
from wizard.secrets_store import passphrase_name, repokey_name


class Secrets(Protocol):
    """The operator's secrets store, as far as planning and settling need it."""

    def get(self, name: str) -> str | None: ...

    def delete(self, name: str) -> bool: ...


@dataclass
class LifecycleOutcome:
    request: LifecycleRequest
    result: ApplyResult
    inventory: Inventory | None = None
    """The inventory to save now (a retired client left it), or None: unchanged."""
    forgotten: list[str] = field(default_factory=list)
    """Secrets-store entries removed (a purged repository's passphrase and key)."""

    @property
    def ok(self) -> bool:
        return self.result.ok


@dataclass
class _Items:
    """One action's desired items and what the operator reads beside them."""

    items: list[DesiredItem]
    notes: list[str] = field(default_factory=list)
    details: dict = field(default_factory=dict)
    placeholders: dict[str, str] = field(default_factory=dict)
    kept: dict[str, str] = field(default_factory=dict)
    choice: str | None = None


def key_verdict(snapshot: FleetSnapshot, store: Secrets, client: str) -> RepositoryVerdict:
    """What the client's repository is (see `wizard.pipeline.repository_key`), from the
    server's facts and the operator's export of its key."""
    facts = snapshot.server_facts
    spaths = server_layout(facts, snapshot.settings)
    return judge_repository(
        facts.file(spaths.repository_config(client)).text,
        facts.file(spaths.repokey(client)).text,
        store.get(repokey_name(snapshot.server_name, client)),
        None,
        spaths.repository_config(client),
        facts.file(spaths.repository_nonce(client)).text,
    )


def plan_request(
    snapshot: FleetSnapshot,
    readings: LifecycleReadings,
    request: LifecycleRequest,
    store: Secrets,
) -> LifecyclePlan:
    """The plan answering a checked `request` on what was gathered for it. Raises
    `LifecycleRefused` (one line) or `DesiredStateError` when it cannot be planned."""
    client, server = request.client, snapshot.server_name
    spaths = server_layout(snapshot.server_facts, snapshot.settings)
    found = _PLANNERS[request.action](snapshot, readings, request, store, spaths)
    desired = DesiredState(server, found.items, [], spaths, {}, found.placeholders, [])
    plan = compute_plan(desired, snapshot.facts, snapshot.errors)
    plan.kept_keys = found.kept
    known = any(c.name == client for c in snapshot.inventory.clients)
    if request.action == "remove" and not known and plan.empty:
        raise LifecycleRefused(
            f"{client} is neither in the inventory nor set up on {server}: nothing to "
            "remove (a typo?)"
        )
    return LifecyclePlan(request, plan, found.notes, found.details, found.choice)


def _removal(snapshot, readings, request, store, spaths) -> _Items:
    client, server = request.client, snapshot.server_name
    stored = passphrase_name(server, client)
    items, notes = server_removal(
        server,
        spaths,
        snapshot.settings.borg_user,
        snapshot.server_facts,
        client,
        request.purge,
        stored if store.get(stored) else None,
    )
    client_facts = snapshot.facts.get(client)
    if client_facts is not None:
        items += client_removal(client, client_facts)
    elif client in snapshot.errors:
        notes.append(
            f"{client} is unreachable: its own files (key pair, config, passphrase, "
            "crontab block, pinned host key) stay there; remove them by hand"
        )
    else:
        notes.append(f"{client} is not in the inventory: only the server is cleaned up")
    return _Items(items, notes)


def _rotation(snapshot, readings, request, store, spaths) -> _Items:
    client = request.client
    items, placeholders, kept = rotation_items(
        snapshot.settings, spaths, snapshot.server_facts, client, snapshot.facts.get(client)
    )
    return _Items(items, placeholders=placeholders, kept=kept)


def _recovery(snapshot, readings, request, store, spaths) -> _Items:
    client = request.client
    python = snapshot.server_facts.python_path or FALLBACK_PYTHON
    if key_verdict(snapshot, store, client).kind == REWRITTEN:
        return _key_recovery(snapshot, store, client, spaths, python)
    report = parse_inspect(readings.inspect)
    items, more, choice = recovery_items(
        report,
        request.mode,
        snapshot.settings,
        spaths,
        python,
        snapshot.facts.get(client),
        readings.client_refuses,
    )
    notes = recovery_notes(report) + more
    return _Items(items, notes, {"recovery": report.as_json()}, choice=choice)


def _key_recovery(snapshot, store, client: str, spaths: ServerPaths, python: str) -> _Items:
    """A key the client rewrote through its own key: the same restoration apply plans
    (the server's copy first, from the operator's export when it is gone)."""
    server, facts = snapshot.server_name, snapshot.server_facts
    verdict, user = key_verdict(snapshot, store, client), snapshot.settings.borg_user
    guard = guard_program_path(spaths.state_dir)
    items = []
    if not facts.file(spaths.repokey(client)).exists:
        items.append(key_copy(spaths, user, client, verdict.reference))
    items.append(key_restoration(spaths, user, facts, client, python, guard, verdict.reason))
    notes = [
        f"the repository key of {client} was rewritten through its own key: no passphrase "
        "opens the repository, so the guard refuses and nothing else can be recovered "
        "until the key is back; then run recover again if the guard still refuses"
    ]
    return _Items([DesiredItem(server, PHASE_SERVER_PRUNE, item) for item in items], notes)


def _restoration(snapshot, readings, request, store, spaths) -> _Items:
    client_facts = snapshot.facts[request.client]
    archives = parse_listing(readings.listing)
    exists = request.destination in client_facts.existing
    items, notes = restore_items(request, snapshot.settings, spaths, client_facts, archives, exists)
    return _Items(items, notes, {"archives": [name for name, _ in archives]})


_PLANNERS: dict[str, Callable[..., _Items]] = {
    "remove": _removal,
    "rotate-key": _rotation,
    "recover": _recovery,
    "restore": _restoration,
}


def settle(
    planned: LifecyclePlan,
    result: ApplyResult,
    inventory: Inventory,
    store: Secrets,
    cancelled: bool,
) -> LifecycleOutcome:
    """The outcome of applying `planned`: after a complete removal, a purged repository's
    passphrase and key leave the secrets store and the client leaves the inventory."""
    outcome = LifecycleOutcome(planned.request, result)
    request, server = planned.request, inventory.server.name
    if not result.ok or cancelled or request.action != "remove":
        return outcome
    if request.purge:
        for name in (passphrase_name(server, request.client), repokey_name(server, request.client)):
            if store.delete(name):
                outcome.forgotten.append(name)
    if any(c.name == request.client for c in inventory.clients):
        outcome.inventory = inventory.without_client(request.client)
    return outcome
