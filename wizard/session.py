"""The front door: one session against the fleet — connect once per host, gather facts,
plan, apply, verify; and later in a client's life remove, rotate its key, recover, restore
(`wizard.pipeline.lifecycle.actions`).

The CLI and the wizard both drive `FleetSession` and nothing below it, so a plan shown in
one is the plan of the other.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from wizard.artefacts.passphrase_file import generate_passphrase
from wizard.inventory.model import Inventory
from wizard.inventory.settings import ServerSettings, resolve_server
from wizard.pipeline import takeover_choice  # the wizard's side of a takeover
from wizard.pipeline.apply import DEFAULT_PARALLEL, ApplyResult, EventSink, apply_plan
from wizard.pipeline.day_two import DayTwoActions
from wizard.pipeline.desired import compute_desired_state
from wizard.pipeline.desired.items import DesiredState, Passphrase
from wizard.pipeline.existing_setup import existing_setup_warnings
from wizard.pipeline.facts import HostFacts, client_layout, server_layout
from wizard.pipeline.first_backup import FirstBackup
from wizard.pipeline.gather import gather_client_facts, gather_server_facts
from wizard.pipeline.identity import HostIdentity, client_identity, server_identity
from wizard.pipeline.lifecycle.actions import LifecycleActions, LifecycleOutcome
from wizard.pipeline.lifecycle.request import (
    ACTIONS,
    RECOVER_MODES,
    LifecyclePlan,
    LifecycleRefused,
    LifecycleRequest,
)
from wizard.pipeline.plan import Change, Plan, UnsafePaths, compute_plan, plan_warnings
from wizard.pipeline.plan_file import (
    PlanMismatch,
    SavedPlan,
    check_plan_file,
    compare_plans,
    save_plan_file,
)
from wizard.pipeline.status import ClientStatus, StatusError, StatusReport
from wizard.pipeline.takeover_plan import (
    TakeoverChoiceNeeded,
    fleet_takeovers,
    taken_over_passphrases,
)
from wizard.pipeline.takeover_probe import probe_fleet_takeovers
from wizard.pipeline.verify import VerifyReport, verify_fleet
from wizard.probe import (
    CONNECT_TIMEOUT_ENV,
    ServerProbe,
    UnknownKeyCallback,
    config_hosts,
    default_connect_timeout,
    load_saved_plan,
    parse_connect_timeout,
    probe_client,
)
from wizard.remote.errors import RemoteCommandTimeout, ServerUnavailable
from wizard.remote.host_key_errors import HostKeyChanged
from wizard.remote.lock import DEFAULT_TIMEOUT as DEFAULT_LOCK_TIMEOUT
from wizard.remote.lock import hold_server_lock
from wizard.remote.ssh_config import (
    SSHTarget,
    operator_known_hosts_path,
    operator_ssh_config_path,
    resolve_target,
)
from wizard.remote.step_timeouts import step_failure
from wizard.secrets_store import SecretStore, passphrase_name, repokey_name

if TYPE_CHECKING:  # paramiko loads only when a connection is made
    from wizard.remote.transport import Connection

__all__ = [  # the front door: what the CLI and the screens may use
    "ApplyResult",
    "Change",
    "ClientStatus",
    "FirstBackup",
    "FleetSession",
    "HostFacts",
    "HostKeyChanged",
    "LIFECYCLE_ACTIONS",
    "LifecycleOutcome",
    "LifecyclePlan",
    "LifecycleRefused",
    "LifecycleRequest",
    "RECOVER_MODES",
    "Plan",
    "PlanMismatch",
    "SavedPlan",
    "ServerProbe",
    "ServerUnavailable",
    "StatusError",
    "StatusReport",
    "TakeoverChoiceNeeded",
    "UnsafePaths",
    "VerifyReport",
    "CONNECT_TIMEOUT_ENV",
    "config_hosts",
    "default_connect_timeout",
    "load_saved_plan",
    "parse_connect_timeout",
    "plan_warnings",
    "probe_client",
    "takeover_choice",
]


LIFECYCLE_ACTIONS = ACTIONS


@dataclass
class FleetSession(DayTwoActions, LifecycleActions):
    inventory: Inventory
    store: SecretStore = field(default_factory=SecretStore)
    on_unknown_host_key: UnknownKeyCallback | None = None
    accept_new_host_keys: bool = False
    max_parallel: int = DEFAULT_PARALLEL
    ssh_config_path: Path | None = None
    known_hosts_path: Path | None = None
    connect_timeout: float = field(default_factory=default_connect_timeout)
    on_event: EventSink | None = None

    connections: dict[str, Connection] = field(default_factory=dict, init=False)
    targets: dict[str, SSHTarget] = field(default_factory=dict, init=False)
    facts: dict[str, HostFacts] = field(default_factory=dict, init=False)
    errors: dict[str, str] = field(default_factory=dict, init=False)
    settings: ServerSettings | None = field(default=None, init=False)
    passphrases: dict[str, Passphrase] = field(default_factory=dict, init=False)
    desired: DesiredState | None = field(default=None, init=False)
    left_out: set[str] = field(default_factory=set, init=False)

    @property
    def identities(self) -> dict[str, HostIdentity]:
        """Who runs each step on each host whose facts are known (see
        `wizard.pipeline.identity`): derived from the facts, never stored apart from them."""
        identities = {}
        for name, facts in self.facts.items():
            if name == self.server_name:
                identities[name] = server_identity(facts, self.settings)
            else:
                identities[name] = client_identity(facts)
        return identities

    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        self.ssh_config_path = self.ssh_config_path or operator_ssh_config_path()
        self.known_hosts_path = self.known_hosts_path or operator_known_hosts_path()

    @property
    def server_name(self) -> str:
        return self.inventory.server.name

    def _event(self, host: str, level: str, message: str) -> None:
        if self.on_event:
            self.on_event(host, level, message)

    # --- connect + facts ------------------------------------------------------------------

    def resolve_targets(self) -> dict[str, SSHTarget]:
        """Resolve every destination locally (ssh config), before any connection."""
        config = self.ssh_config_path if self.ssh_config_path.exists() else None
        targets = {self.server_name: resolve_target(self.inventory.server.ssh, config)}
        for client in self.inventory.clients:
            targets[client.name] = resolve_target(client.ssh, config)
        self.targets = targets
        server = targets[self.server_name]
        self.settings = resolve_server(self.inventory, server.user, server.hostname, server.port)
        return targets

    def _open(self, target: SSHTarget) -> Connection:
        from wizard.remote.transport import Connection  # paramiko loads here, not at start

        return Connection.connect(
            target,
            self.known_hosts_path,
            on_unknown=self.on_unknown_host_key,
            accept_new=self.accept_new_host_keys,
            timeout=self.connect_timeout,
        )

    def _connect(self, name: str) -> Connection:
        existing = self.connections.get(name)
        if existing is not None and existing.is_active:
            return existing
        conn = self._open(self.targets[name])
        with self._lock:
            self.connections[name] = conn
        return conn

    def probe_server(self) -> ServerProbe:
        """Connect to the server alone and read its facts, before any client is known."""
        self.resolve_targets()
        assert self.settings is not None
        conn = self._connect(self.server_name)
        facts = gather_server_facts(conn, self.server_name, self.settings, [])
        layout = server_layout(facts, self.settings)
        return ServerProbe(facts, self.settings.borg_user, layout.repo_root)

    def probe_client(self, name: str, destination: str) -> HostFacts:
        """Connect to one would-be client (not necessarily in the inventory yet), read its
        facts, and close the connection again."""
        return probe_client(
            name,
            destination,
            on_unknown_host_key=self.on_unknown_host_key,
            accept_new_host_keys=self.accept_new_host_keys,
            connect_timeout=self.connect_timeout,
            ssh_config_path=self.ssh_config_path,
            known_hosts_path=self.known_hosts_path,
        )

    def gather(self) -> dict[str, HostFacts]:
        """Connect and gather facts on every host in parallel. A failing client is recorded
        in `errors`; a failing server raises `ServerUnavailable`."""
        if not self.targets:
            self.resolve_targets()
        assert self.settings is not None
        client_names = [c.name for c in self.inventory.clients]
        self.facts, self.errors = {}, {}

        def one(name: str) -> None:
            self._event(name, "step", "connecting")
            try:
                conn = self._connect(name)
                self._event(name, "step", "gathering facts")
                if name == self.server_name:
                    facts = gather_server_facts(conn, name, self.settings, client_names)
                else:
                    facts = gather_client_facts(conn, name)
            except Exception as exc:  # reported per host; the server's is fatal below
                said = str(exc) or type(exc).__name__
                if isinstance(exc, RemoteCommandTimeout):  # a hung read: say which step
                    said = f"gathering facts: {step_failure(exc)}"
                with self._lock:
                    self.errors[name] = said
                self._event(name, "error", said)
                return
            with self._lock:
                self.facts[name] = facts
            self._event(name, "done", "facts gathered")

        names = [self.server_name, *client_names]
        with ThreadPoolExecutor(max_workers=self.max_parallel) as pool:
            list(pool.map(one, names))
        self.facts = {name: self.facts[name] for name in names if name in self.facts}
        if self.server_name in self.errors:
            raise ServerUnavailable(f"{self.server_name}: {self.errors[self.server_name]}")
        return self.facts

    # --- plan -----------------------------------------------------------------------------

    def resolve_passphrases(self) -> dict[str, Passphrase]:
        """Keyring first; else adopt the one a host already holds; else a new one. (`plan`
        puts a taken-over repository's own passphrase, from its old config, over these.)"""
        server_facts = self.facts[self.server_name]
        spaths = server_layout(server_facts, self.settings)
        result: dict[str, Passphrase] = {}
        for client in self.inventory.clients:
            stored = self.store.get(passphrase_name(self.server_name, client.name))
            if stored:
                result[client.name] = Passphrase(stored)
                continue
            client_facts = self.facts.get(client.name)
            own = client_layout(client_facts, client.name).passphrase if client_facts else ""
            found = client_facts.file(own).text if client_facts else None
            if not found:
                found = server_facts.file(spaths.passphrase(client.name)).text
            if found and found.strip():
                result[client.name] = Passphrase(found.strip())
            elif client_facts is not None:
                result[client.name] = Passphrase(generate_passphrase(), is_new=True)
        self.passphrases = result
        return result

    def plan(self, leave_out: Collection[str] = ()) -> Plan:
        """The plan for every reachable host but `leave_out`. A client left out is planned
        like an unreachable one: its existing key line and prune job stay, nothing is added
        for it, so the diffs shown are exactly what apply writes."""
        if not self.facts:
            self.gather()
        self.left_out = set(leave_out)
        existing, takeovers = fleet_takeovers(
            self.inventory, self.settings, self.server_name, self.facts, self.left_out
        )
        if not self.passphrases:
            self.resolve_passphrases()
        self.passphrases = taken_over_passphrases(
            takeovers, self.passphrases, self.facts[self.server_name], self.settings
        )
        server, conn = self.server_name, self.connections.get(self.server_name)
        if conn is not None and conn.is_active:  # facts gathered here, not handed in
            takeovers = probe_fleet_takeovers(
                conn, self.identities[server], self.facts[server], self.settings,
                takeovers, self.passphrases,
            )  # fmt: skip
        notes = [f"{host}: left out of this apply" for host in sorted(self.left_out)]
        if self.server_name in self.left_out:
            return Plan(
                [], notes, {}, list(self.facts), unchecked=dict(sorted(self.errors.items()))
            )
        facts = {k: v for k, v in self.facts.items() if k not in self.left_out}
        passphrases = {k: v for k, v in self.passphrases.items() if k not in self.left_out}
        taken = {k: v for k, v in takeovers.items() if k in facts}
        self.desired = compute_desired_state(
            self.inventory, self.settings, facts, passphrases, self.stored_keys(), taken
        )
        plan = compute_plan(self.desired, self.facts, self.errors)
        plan.existing, plan.takeovers = existing, taken
        named = [c.name for c in self.inventory.clients if c.archive_prefix]
        plan.warnings += existing_setup_warnings(existing, self.facts, taken, named) + notes
        return plan

    # --- apply ----------------------------------------------------------------------------

    def apply(self, plan: Plan, cancel: threading.Event | None = None) -> ApplyResult:
        return apply_plan(
            plan,
            self.connections,
            self.server_name,
            store=self.store,
            passphrases={
                k: v
                for k, v in self.passphrases.items()
                if k in self.facts and k not in self.left_out
            },
            on_event=self.on_event,
            max_parallel=self.max_parallel,
            cancel=cancel,
            identities=self.identities,
            repokeys=self.desired.unexported_keys if self.desired else None,
        )

    def stored_keys(self) -> dict[str, str]:
        """The operator's exports of the repository keys, by client (what the plan holds a
        repository's key to, besides the server's copy)."""
        names = {c.name: repokey_name(self.server_name, c.name) for c in self.inventory.clients}
        return {client: value for client, key in names.items() if (value := self.store.get(key))}

    def apply_reviewed(self, reviewed: Plan, cancel: threading.Event | None = None) -> ApplyResult:
        """Apply what the operator reviewed, or nothing: under the server's lock, gather
        again and refuse (`PlanMismatch`, naming host and file) if the fresh plan differs
        from the reviewed one. The same check as `borgkeep apply PLANFILE`."""
        with self.locked():
            self.facts = {}
            fresh = self.plan(leave_out=self.left_out)
            problems = compare_plans([c.public_dict() for c in reviewed.changes], fresh.changes)
            if problems:
                raise PlanMismatch(
                    "the hosts changed since the plan was reviewed, nothing was applied:\n  "
                    + "\n  ".join(problems)
                )
            return self.apply(fresh, cancel)

    def save_plan(self, plan: Plan, path: Path, inventory_path: Path) -> None:
        """`plan --out`: the plan (without secrets), the absolute path and hash of the
        inventory it was made from, and the hosts left out, for `apply PLANFILE` later."""
        save_plan_file(plan, path, inventory_path, self.left_out)

    def check_saved_plan(self, saved: SavedPlan, fresh: Plan) -> None:
        """Raise `PlanMismatch` (naming host and file) unless `fresh` is the saved plan."""
        check_plan_file(saved, fresh)

    @property
    def not_configured(self) -> dict[str, str]:
        """Clients this run did not set up, and why: unreachable, or left out."""
        reasons = {name: f"unreachable: {why}" for name, why in self.errors.items()}
        reasons.update({name: "left out of this apply" for name in sorted(self.left_out)})
        return {c.name: reasons[c.name] for c in self.inventory.clients if c.name in reasons}

    def secret_names(self) -> list[str]:
        """The secrets store's entries for this fleet (to back them up)."""
        return [
            name
            for client in self.inventory.clients
            for name in (
                passphrase_name(self.server_name, client.name),
                repokey_name(self.server_name, client.name),
            )
        ]

    def verify(self) -> VerifyReport:
        """Gather fresh facts (an apply just changed the hosts), then run every proof."""
        self.gather()
        return verify_fleet(self)

    def refresh(self) -> Plan:
        """Gather again (on the same connections) and plan: the second plan after apply."""
        self.facts = {}
        return self.plan()

    @contextlib.contextmanager
    def locked(self, timeout: float | None = None) -> Iterator[None]:
        """Hold the server's apply lock (see `wizard.remote.lock`) for the duration."""
        if not self.targets:
            self.resolve_targets()
        if timeout is None:
            timeout = float(os.environ.get("BORGKEEP_LOCK_TIMEOUT", DEFAULT_LOCK_TIMEOUT))
        try:
            conn = self._connect(self.server_name)
        except Exception as exc:
            raise ServerUnavailable(f"{self.server_name}: {exc}") from exc
        with hold_server_lock(conn, self.server_name, timeout):
            yield

    def close(self) -> None:
        for conn in self.connections.values():
            with contextlib.suppress(Exception):
                conn.close()
        self.connections = {}

    def __enter__(self) -> FleetSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
