"""The lifecycle actions on the front door: `FleetSession` inherits `LifecycleActions`.

Each action works like apply: gather (the server and the one client, read-only), plan
(ordinary changes and diffs), then apply with the same executor while holding the
server's lock. `plan_lifecycle` plans; `run_lifecycle` applies a plan the caller holds the
lock for (the CLI asks in between); `apply_lifecycle` takes the lock, plans again and
applies only if nothing changed since the plan the operator reviewed (the wizard).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime

from wizard.artefacts.guard_program import guard_program_path
from wizard.inventory.model import Inventory
from wizard.pipeline.apply import ApplyResult, apply_plan
from wizard.pipeline.desired.items import (
    PHASE_SERVER_PRUNE,
    DesiredItem,
    DesiredState,
    DesiredStateError,
)
from wizard.pipeline.desired.server_prune import FALLBACK_PYTHON, key_copy, key_restoration
from wizard.pipeline.facts import server_layout
from wizard.pipeline.gather import gather_client_facts, gather_server_facts
from wizard.pipeline.identity import client_identity, server_identity
from wizard.pipeline.lifecycle import facts as more_facts
from wizard.pipeline.lifecycle.recover import parse_inspect, recovery_items, recovery_notes
from wizard.pipeline.lifecycle.remove import client_removal, server_removal
from wizard.pipeline.lifecycle.request import LifecyclePlan, LifecycleRefused, LifecycleRequest
from wizard.pipeline.lifecycle.restore import parse_listing, restore_items
from wizard.pipeline.lifecycle.rotate import rotation_items
from wizard.pipeline.plan import compute_plan
from wizard.pipeline.plan_file import PlanMismatch, compare_plans
from wizard.pipeline.repository_key import REWRITTEN, judge_repository
from wizard.remote.errors import ServerUnavailable
from wizard.secrets_store import passphrase_name, repokey_name


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


class LifecycleActions:
    """Mixin for `FleetSession` (which provides the connections, facts and settings)."""

    def plan_lifecycle(self, request: LifecycleRequest) -> LifecyclePlan:
        """Gather what `request` needs and plan it; `LifecycleRefused` (one line) when it
        cannot be planned as asked, `ServerUnavailable` without the server."""
        request = request.checked(datetime.now().strftime("%Y%m%dT%H%M%S"))
        self._gather_for(request)
        try:
            return self._plan_for(request)
        except DesiredStateError as exc:
            raise LifecycleRefused(str(exc)) from None

    def run_lifecycle(
        self, planned: LifecyclePlan, cancel: threading.Event | None = None
    ) -> LifecycleOutcome:
        """Apply `planned` as it is (the caller holds the server's lock)."""
        if planned.choice:
            raise LifecycleRefused(planned.choice)
        result = apply_plan(
            planned.plan,
            self.connections,
            self.server_name,
            store=self.store,
            passphrases={},
            on_event=self.on_event,
            max_parallel=self.max_parallel,
            cancel=cancel,
            identities=self.identities,
        )
        outcome = LifecycleOutcome(planned.request, result)
        request = planned.request
        if result.ok and not (cancel and cancel.is_set()) and request.action == "remove":
            if request.purge:
                for name in (
                    passphrase_name(self.server_name, request.client),
                    repokey_name(self.server_name, request.client),
                ):
                    if self.store.delete(name):
                        outcome.forgotten.append(name)
            if any(c.name == request.client for c in self.inventory.clients):
                outcome.inventory = self.inventory.without_client(request.client)
        return outcome

    def apply_lifecycle(
        self, reviewed: LifecyclePlan, cancel: threading.Event | None = None
    ) -> LifecycleOutcome:
        """Under the server's lock: plan again, refuse (`PlanMismatch`) if it differs from
        what was reviewed, else apply it."""
        with self.locked():
            fresh = self.plan_lifecycle(reviewed.request)
            problems = compare_plans(
                [c.public_dict() for c in reviewed.plan.changes], fresh.plan.changes
            )
            if problems:
                raise PlanMismatch(
                    "the hosts changed since the plan was reviewed, nothing was applied:\n  "
                    + "\n  ".join(problems)
                )
            return self.run_lifecycle(fresh, cancel)

    # --- gathering ----------------------------------------------------------------------

    def _gather_for(self, request: LifecycleRequest) -> None:
        """The server's facts (and the guard's inspection, for recover), then the client's
        (and its archives, for restore), each step reported through `on_event`."""
        self.resolve_targets()
        client = request.client
        known = any(c.name == client for c in self.inventory.clients)
        if not known and request.action != "remove":
            raise LifecycleRefused(f"{client} is not a client in the inventory")
        self.facts, self.errors, self._client_refuses = {}, {}, False
        inspected = None
        server = self.server_name
        try:
            self._event(server, "step", "connecting")
            conn = self._connect(server)
            self._event(server, "step", "gathering facts")
            facts = gather_server_facts(conn, server, self.settings, [client])
            identity = server_identity(facts, self.settings)
            if request.action == "remove" and request.purge:
                facts = more_facts.server_extras(conn, identity, facts, self.settings, client)
        except Exception as exc:
            raise ServerUnavailable(f"{server}: {exc}") from exc
        self.facts[server] = facts
        self._event(server, "done", "facts gathered")
        if request.action == "recover" and self._key_verdict(client).kind != REWRITTEN:
            self._event(server, "step", f"the guard inspects {client}'s repository")
            inspected = more_facts.guard_inspect(conn, identity, facts, self.settings, client)
            self._inspect = inspected
            self._event(server, "done", f"the guard inspected {client}'s repository")
        if not known:
            return
        try:
            self._event(client, "step", "connecting")
            client_conn = self._connect(client)
            self._event(client, "step", "gathering facts")
            found = gather_client_facts(client_conn, client)
            found = more_facts.client_extras(
                client_conn, client_identity(found), found, client, request.destination
            )
        except Exception as exc:
            self.errors[client] = str(exc) or type(exc).__name__
            if request.action in ("rotate-key", "restore"):
                raise LifecycleRefused(f"{client}: unreachable: {self.errors[client]}") from exc
            self._event(client, "error", self.errors[client])
            return
        self.facts[client] = found
        self._event(client, "done", "facts gathered")
        if request.mode == "rollback" and inspected and not parse_inspect(inspected).needs_decision:
            # nothing to roll back: maybe done already, all but the client's forget-cache
            self._event(client, "step", "checking that Borg accepts its repository")
            self._client_refuses = more_facts.client_refuses_repository(
                client_conn, found, client, self.settings, facts
            )
            self._event(client, "done", "checked that Borg accepts its repository")
        if request.action == "restore":
            self._event(client, "step", "listing its archives through its own key")
            self._listing = more_facts.client_listing(
                client_conn, found, client, self.settings, facts
            )

    # --- planning -----------------------------------------------------------------------

    def _key_verdict(self, client: str):
        """What the client's repository is (see `wizard.pipeline.repository_key`)."""
        facts = self.facts[self.server_name]
        spaths = server_layout(facts, self.settings)
        return judge_repository(
            facts.file(spaths.repository_config(client)).text,
            facts.file(spaths.repokey(client)).text,
            self.store.get(repokey_name(self.server_name, client)),
            None,
            spaths.repository_config(client),
            facts.file(spaths.repository_nonce(client)).text,
        )

    def _key_recovery(self, client: str, spaths, python: str) -> tuple[list, list[str]]:
        """A key the client rewrote through its own key: the same restoration apply plans
        (the server's copy first, from the operator's export when it is gone)."""
        server, facts = self.server_name, self.facts[self.server_name]
        verdict, user = self._key_verdict(client), self.settings.borg_user
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
        return [DesiredItem(server, PHASE_SERVER_PRUNE, item) for item in items], notes

    def _plan_for(self, request: LifecycleRequest) -> LifecyclePlan:
        client, server = request.client, self.server_name
        server_facts = self.facts[server]
        spaths = server_layout(server_facts, self.settings)
        client_facts = self.facts.get(client)
        python = server_facts.python_path or FALLBACK_PYTHON
        notes: list[str] = []
        details: dict = {}
        placeholders: dict[str, str] = {}
        kept: dict[str, str] = {}
        choice = None
        if request.action == "remove":
            stored = passphrase_name(server, client)
            items, notes = server_removal(
                server,
                spaths,
                self.settings.borg_user,
                server_facts,
                client,
                request.purge,
                stored if self.store.get(stored) else None,
            )
            if client_facts is not None:
                items += client_removal(client, client_facts)
            elif client in self.errors:
                notes.append(
                    f"{client} is unreachable: its own files (key pair, config, passphrase, "
                    "crontab block, pinned host key) stay there; remove them by hand"
                )
            else:
                notes.append(f"{client} is not in the inventory: only the server is cleaned up")
        elif request.action == "rotate-key":
            items, placeholders, kept = rotation_items(
                self.settings, spaths, server_facts, client, client_facts
            )
        elif request.action == "recover" and self._key_verdict(client).kind == REWRITTEN:
            items, notes = self._key_recovery(client, spaths, python)
        elif request.action == "recover":
            report = parse_inspect(self._inspect)
            notes = recovery_notes(report)
            details = {"recovery": report.as_json()}
            items, more, choice = recovery_items(
                report,
                request.mode,
                self.settings,
                spaths,
                python,
                client_facts,
                getattr(self, "_client_refuses", False),
            )
            notes += more
        else:
            archives = parse_listing(self._listing)
            exists = request.destination in client_facts.existing
            items, notes = restore_items(
                request, self.settings, spaths, client_facts, archives, exists
            )
            details = {"archives": [name for name, _ in archives]}
        desired = DesiredState(server, items, [], spaths, {}, placeholders, [])
        plan = compute_plan(desired, self.facts, self.errors)
        plan.kept_keys = kept
        known = any(c.name == client for c in self.inventory.clients)
        if request.action == "remove" and not known and plan.empty:
            raise LifecycleRefused(
                f"{client} is neither in the inventory nor set up on {server}: nothing to "
                "remove (a typo?)"
            )
        return LifecyclePlan(request, plan, notes, details, choice)
