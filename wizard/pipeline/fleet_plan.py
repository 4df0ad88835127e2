"""The fleet's plan as a function of a gather's snapshot: each client's passphrase (the
operator's store first, else the one a host holds, else a new one), the takeovers of what
was found set up, the desired state and the changes, with the warnings beside them; and
the check that a plan made again is the one the operator reviewed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from wizard.artefacts.passphrase_file import generate_passphrase
from wizard.inventory.model import Inventory
from wizard.pipeline.desired import compute_desired_state
from wizard.pipeline.desired.items import DesiredState, Passphrase
from wizard.pipeline.existing_setup import existing_setup_warnings
from wizard.pipeline.facts import client_layout, server_layout
from wizard.pipeline.plan import Plan, compute_plan
from wizard.pipeline.plan_file import PlanMismatch, compare_plans
from wizard.pipeline.snapshot import FleetSnapshot
from wizard.pipeline.takeover_plan import fleet_takeovers, taken_over_passphrases
from wizard.pipeline.takeover_probe import probe_fleet_takeovers
from wizard.secrets_store import passphrase_name, repokey_name

if TYPE_CHECKING:
    from wizard.remote.transport import Connection


class StoredSecrets(Protocol):
    def get(self, name: str) -> str | None: ...


@dataclass(frozen=True)
class FleetPlan:
    plan: Plan
    passphrases: dict[str, Passphrase]
    """Every client's passphrase, a taken-over repository's own over the resolved one."""
    desired: DesiredState | None
    """What the plan was made from; None when the server is left out (nothing planned)."""


def stored_keys(inventory: Inventory, store: StoredSecrets) -> dict[str, str]:
    """The operator's exports of the repository keys, by client (what the plan holds a
    repository's key to, besides the server's copy)."""
    server = inventory.server.name
    names = {c.name: repokey_name(server, c.name) for c in inventory.clients}
    return {client: value for client, key in names.items() if (value := store.get(key))}


def secret_names(inventory: Inventory) -> list[str]:
    """The secrets store's entries for this fleet (to back them up)."""
    server = inventory.server.name
    return [
        name
        for client in inventory.clients
        for name in (passphrase_name(server, client.name), repokey_name(server, client.name))
    ]


def resolve_passphrases(snapshot: FleetSnapshot, store: StoredSecrets) -> dict[str, Passphrase]:
    """Keyring first; else adopt the one a host already holds; else a new one. (`plan_fleet`
    puts a taken-over repository's own passphrase, from its old config, over these.)"""
    server_facts = snapshot.server_facts
    spaths = server_layout(server_facts, snapshot.settings)
    result: dict[str, Passphrase] = {}
    for client in snapshot.inventory.clients:
        stored = store.get(passphrase_name(snapshot.server_name, client.name))
        if stored:
            result[client.name] = Passphrase(stored)
            continue
        client_facts = snapshot.facts.get(client.name)
        own = client_layout(client_facts, client.name).passphrase if client_facts else ""
        found = client_facts.file(own).text if client_facts else None
        if not found:
            found = server_facts.file(spaths.passphrase(client.name)).text
        if found and found.strip():
            result[client.name] = Passphrase(found.strip())
        elif client_facts is not None:
            result[client.name] = Passphrase(generate_passphrase(), is_new=True)
    return result


def plan_fleet(
    snapshot: FleetSnapshot,
    passphrases: Mapping[str, Passphrase],
    stored_keys: Mapping[str, str],
    server_conn: Connection | None = None,
) -> FleetPlan:
    """The plan for every reachable host but those left out. A client left out is planned
    like an unreachable one: its existing key line and prune job stay, nothing is added
    for it, so the diffs shown are exactly what apply writes. `server_conn`, when open,
    lets a takeover's repositories be probed on the server."""
    inventory, settings, server = snapshot.inventory, snapshot.settings, snapshot.server_name
    left_out, all_facts = snapshot.left_out, snapshot.facts
    existing, takeovers = fleet_takeovers(inventory, settings, server, all_facts, left_out)
    passphrases = taken_over_passphrases(
        takeovers, dict(passphrases), snapshot.server_facts, settings
    )
    if server_conn is not None and server_conn.is_active:  # facts gathered here, not handed in
        takeovers = probe_fleet_takeovers(
            server_conn, snapshot.identities[server], snapshot.server_facts, settings,
            takeovers, passphrases,
        )  # fmt: skip
    notes = [f"{host}: left out of this apply" for host in sorted(left_out)]
    if server in left_out:
        unchecked = dict(sorted(snapshot.errors.items()))
        return FleetPlan(
            Plan([], notes, {}, list(all_facts), unchecked=unchecked), passphrases, None
        )
    facts = {k: v for k, v in all_facts.items() if k not in left_out}
    in_play = {k: v for k, v in passphrases.items() if k not in left_out}
    taken = {k: v for k, v in takeovers.items() if k in facts}
    desired = compute_desired_state(inventory, settings, facts, in_play, dict(stored_keys), taken)
    plan = compute_plan(desired, dict(all_facts), dict(snapshot.errors))
    plan.existing, plan.takeovers = existing, taken
    named = [c.name for c in inventory.clients if c.archive_prefix]
    plan.warnings += existing_setup_warnings(existing, all_facts, taken, named) + notes
    return FleetPlan(plan, passphrases, desired)


def refuse_unless_reviewed(reviewed: Plan, fresh: Plan) -> None:
    """Raise `PlanMismatch` (naming host and file) unless `fresh`, planned again under the
    server's lock, makes the changes the operator reviewed."""
    problems = compare_plans([c.public_dict() for c in reviewed.changes], fresh.changes)
    if problems:
        raise PlanMismatch(
            "the hosts changed since the plan was reviewed, nothing was applied:\n  "
            + "\n  ".join(problems)
        )
