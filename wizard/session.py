"""The front door: one session against the fleet — connect once per host, gather facts,
plan, apply, verify; and later in a client's life remove, rotate its key, recover, restore.
The CLI and the wizard both drive `FleetSession` and nothing below it, so a plan shown in
one is the plan of the other. The session holds the connections, the passphrases chosen
and what it last gathered; every step below it is a function of the gather's
`FleetSnapshot` and what the session hands over (connections, a plan).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from wizard.inventory.model import Inventory
from wizard.inventory.settings import ServerSettings
from wizard.pipeline import takeover_choice  # the wizard's side of a takeover
from wizard.pipeline.apply import DEFAULT_PARALLEL, ApplyResult, EventSink, apply_plan
from wizard.pipeline.day_two import fleet_status
from wizard.pipeline.desired.items import DesiredState, DesiredStateError, Passphrase
from wizard.pipeline.facts import HostFacts, server_layout
from wizard.pipeline.first_backup import FirstBackup
from wizard.pipeline.first_backup import first_backups as run_first_backups
from wizard.pipeline.fleet_gather import gather_fleet, resolve_fleet
from wizard.pipeline.fleet_lock import holding_server_lock
from wizard.pipeline.fleet_plan import (
    plan_fleet,
    refuse_unless_reviewed,
    resolve_passphrases,
    secret_names,
    stored_keys,
)
from wizard.pipeline.gather import gather_server_facts
from wizard.pipeline.lifecycle.actions import LifecycleOutcome, plan_request, settle
from wizard.pipeline.lifecycle.gathering import gather_for
from wizard.pipeline.lifecycle.request import (
    ACTIONS,
    RECOVER_MODES,
    LifecyclePlan,
    LifecycleRefused,
    LifecycleRequest,
)
from wizard.pipeline.plan import Change, Plan, UnsafePaths, plan_warnings
from wizard.pipeline.plan_file import (
    PlanMismatch,
    SavedPlan,
    check_plan_file,
    save_plan_file,
)
from wizard.pipeline.snapshot import FleetSnapshot
from wizard.pipeline.status import ClientStatus, StatusError, StatusReport
from wizard.pipeline.takeover_plan import TakeoverChoiceNeeded
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
from wizard.remote.errors import ServerUnavailable
from wizard.remote.host_key_errors import HostKeyChanged
from wizard.remote.ssh_config import (
    SSHTarget,
    operator_known_hosts_path,
    operator_ssh_config_path,
)
from wizard.secrets_store import SecretStore

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
Planned = TypeVar("Planned", Plan, LifecyclePlan)
Outcome = TypeVar("Outcome")


@dataclass
class FleetSession:
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
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        self.ssh_config_path = self.ssh_config_path or operator_ssh_config_path()
        self.known_hosts_path = self.known_hosts_path or operator_known_hosts_path()

    @property
    def server_name(self) -> str:
        return self.inventory.server.name

    def snapshot(self) -> FleetSnapshot:
        """What the session last gathered, frozen (a copy: gathering again leaves it be)."""
        assert self.settings is not None, "resolve_targets() or gather() first"
        return FleetSnapshot(self.inventory, self.settings, self.facts, self.errors, self.left_out)

    def _event(self, host: str, level: str, message: str) -> None:
        if self.on_event:
            self.on_event(host, level, message)

    # --- connect + facts ------------------------------------------------------------------

    def resolve_targets(self) -> dict[str, SSHTarget]:
        """Resolve every destination locally (ssh config), before any connection."""
        config = self.ssh_config_path if self.ssh_config_path.exists() else None
        self.targets, self.settings = resolve_fleet(self.inventory, config)
        return self.targets

    def _connect(self, name: str) -> Connection:
        """This session's connection to `name`, opened on first use, reused while alive."""
        from wizard.remote.transport import Connection  # paramiko loads here, not at start

        existing = self.connections.get(name)
        if existing is not None and existing.is_active:
            return existing
        conn = Connection.connect(
            self.targets[name],
            self.known_hosts_path,
            on_unknown=self.on_unknown_host_key,
            accept_new=self.accept_new_host_keys,
            timeout=self.connect_timeout,
        )
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
        """Read one would-be client's facts (maybe not in the inventory yet), then hang up."""
        return probe_client(
            name,
            destination,
            on_unknown_host_key=self.on_unknown_host_key,
            accept_new_host_keys=self.accept_new_host_keys,
            connect_timeout=self.connect_timeout,
            ssh_config_path=self.ssh_config_path,
            known_hosts_path=self.known_hosts_path,
        )

    def gather(self) -> FleetSnapshot:
        """Connect and gather facts on every host in parallel (`gather_fleet`). A failing
        client is recorded in `errors`; a failing server raises `ServerUnavailable`."""
        if not self.targets:
            self.resolve_targets()
        self.facts, self.errors = {}, {}
        gathered = gather_fleet(
            self.inventory, self.settings, self._connect, self._event, self.max_parallel
        )
        self.facts, self.errors = dict(gathered.facts), dict(gathered.errors)
        if self.server_name in self.errors:
            raise ServerUnavailable(f"{self.server_name}: {self.errors[self.server_name]}")
        return self.snapshot()

    # --- plan and apply -------------------------------------------------------------------

    def plan(self, leave_out: Collection[str] = ()) -> Plan:
        """The plan for every reachable host but `leave_out` (`plan_fleet`): a client left
        out is planned like an unreachable one, so the diffs shown are what apply writes."""
        if not self.facts:
            self.gather()
        self.left_out = set(leave_out)
        snapshot, server_conn = self.snapshot(), self.connections.get(self.server_name)
        if not self.passphrases:  # the store's, a host's or new (`resolve_passphrases`)
            self.passphrases = resolve_passphrases(snapshot, self.store)
        keys = stored_keys(self.inventory, self.store)
        planned = plan_fleet(snapshot, self.passphrases, keys, server_conn)
        self.passphrases = planned.passphrases
        if planned.desired is not None:
            self.desired = planned.desired
        return planned.plan

    def apply(self, plan: Plan, cancel: threading.Event | None = None) -> ApplyResult:
        in_play = set(self.facts) - self.left_out
        passphrases = {k: v for k, v in self.passphrases.items() if k in in_play}
        repokeys = self.desired.unexported_keys if self.desired else None
        return self._execute(plan, cancel, passphrases, repokeys)

    def _execute(self, plan: Plan, cancel, passphrases, repokeys=None) -> ApplyResult:
        """Run `plan` over this session's connections (`apply_plan`)."""
        return apply_plan(
            plan,
            self.connections,
            self.server_name,
            store=self.store,
            passphrases=passphrases,
            on_event=self.on_event,
            max_parallel=self.max_parallel,
            cancel=cancel,
            identities=self.snapshot().identities,
            repokeys=repokeys,
        )

    def apply_reviewed(self, reviewed: Plan, cancel: threading.Event | None = None) -> ApplyResult:
        """Apply what the operator reviewed, or nothing (`PlanMismatch`, naming host and file,
        when a fresh gather plans otherwise): the same check as `borgkeep apply PLANFILE`."""
        return self._apply_if_unchanged(
            reviewed,
            lambda: self.refresh(self.left_out),
            lambda fresh: fresh,
            lambda fresh: self.apply(fresh, cancel),
        )

    def _apply_if_unchanged(
        self,
        reviewed: Plan,
        replan: Callable[[], Planned],
        changes_of: Callable[[Planned], Plan],
        run: Callable[[Planned], Outcome],
    ) -> Outcome:
        """The one "apply what was reviewed" path (setup and lifecycle): under the server's
        lock, plan again; refuse if that differs from `reviewed`, else run the fresh plan."""
        with self.locked():
            fresh = replan()
            refuse_unless_reviewed(reviewed, changes_of(fresh))
            return run(fresh)

    def save_plan(self, plan: Plan, path: Path, inventory_path: Path) -> None:
        """`plan --out`: the plan (no secrets), its inventory's path and hash, the hosts left
        out, for `apply PLANFILE` later."""
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
        return secret_names(self.inventory)

    # --- verify and day two ---------------------------------------------------------------

    def verify(self) -> VerifyReport:
        """Gather fresh facts (an apply just changed the hosts), then run every proof on them
        (`verify_fleet`), the plan made from them proving no drift."""
        self.gather()
        snapshot = self.snapshot()
        try:
            drift: Plan | Exception = self.plan(leave_out=self.left_out)
        except Exception as exc:  # the plan itself refusing (hostile key, ...) fails
            drift = exc
        return verify_fleet(snapshot, self.connections, drift, self.on_event, self.max_parallel)

    def first_backups(
        self, clients: Collection[str] | None = None, on_event: EventSink | None = None
    ) -> dict[str, FirstBackup]:
        """Back up now: each client's installed cron job, run as cron would, in parallel
        (bounded); every client not left out, or `clients`. Gathers first if needed."""
        if not self.facts:
            self.gather()
        if clients is None:
            clients = [c.name for c in self.inventory.clients if c.name not in self.left_out]
        sink = on_event or self.on_event
        return run_first_backups(
            self.inventory, self.facts, self.errors, self._connect, clients, sink, self.max_parallel
        )

    def status(self) -> StatusReport:
        """The fleet's health from the server alone (`fleet_status`): works when every
        client is down. Raises `ServerUnavailable` or `StatusError`."""
        self.resolve_targets()
        return fleet_status(self.inventory, self.settings, self._connect)

    # --- a client's later life ------------------------------------------------------------

    def plan_lifecycle(self, request: LifecycleRequest) -> LifecyclePlan:
        """Gather what `request` needs and plan it; `LifecycleRefused` (one line) when it
        cannot be planned as asked, `ServerUnavailable` without the server."""
        request = request.checked(datetime.now().strftime("%Y%m%dT%H%M%S"))
        self.resolve_targets()
        self.facts, self.errors = {}, {}
        snapshot, readings = gather_for(
            request, self.inventory, self.settings, self.store, self._connect, self._event
        )
        self.facts, self.errors = dict(snapshot.facts), dict(snapshot.errors)
        try:
            return plan_request(snapshot, readings, request, self.store)
        except DesiredStateError as exc:
            raise LifecycleRefused(str(exc)) from None

    def run_lifecycle(
        self, planned: LifecyclePlan, cancel: threading.Event | None = None
    ) -> LifecycleOutcome:
        """Apply `planned` as it is (the caller holds the server's lock)."""
        if planned.choice:
            raise LifecycleRefused(planned.choice)
        result = self._execute(planned.plan, cancel, {})
        cancelled = bool(cancel and cancel.is_set())
        return settle(planned, result, self.inventory, self.store, cancelled)

    def apply_lifecycle(
        self, reviewed: LifecyclePlan, cancel: threading.Event | None = None
    ) -> LifecycleOutcome:
        """Under the server's lock: plan again, refuse (`PlanMismatch`) if it differs from
        what was reviewed, else apply it."""
        return self._apply_if_unchanged(
            reviewed.plan,
            lambda: self.plan_lifecycle(reviewed.request),
            lambda fresh: fresh.plan,
            lambda fresh: self.run_lifecycle(fresh, cancel),
        )

    # --- the session's own ----------------------------------------------------------------

    def refresh(self, leave_out: Collection[str] = ()) -> Plan:
        """Gather again (on the same connections) and plan: the second plan after apply."""
        self.facts = {}
        return self.plan(leave_out)

    def locked(self, timeout: float | None = None) -> contextlib.AbstractContextManager[None]:
        """Hold the server's apply lock (`holding_server_lock`) for the duration."""
        if not self.targets:
            self.resolve_targets()
        return holding_server_lock(self._connect, self.server_name, timeout)

    def close(self) -> None:
        for conn in self.connections.values():
            with contextlib.suppress(Exception):
                conn.close()
        self.connections = {}

    def __enter__(self) -> FleetSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
