"""The executor: apply a plan in ordered phases, hosts in parallel inside a phase; the
server's new pruning files (inert until its crontab, written last) are written while the
clients run their phase.

Every step runs as the account its host's `HostIdentity` names: a file or crontab as its
owner, a directory as its owner (root only creates one whose parent no other account
controls), `useradd` as root, the client's key and repository as the login.

A host's failure stops that host's remaining steps and is reported with the step and the
remote error; the other hosts go on. If the server fails, no client is touched further
(their later steps depend on the server).

The executor only schedules (phases, hosts in parallel, a host's steps in order, cancel,
events); a command change runs what `commands` names for it, a host's writes go in batches
(`write_units`, `write_batches`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor

from wizard.pipeline import write_batches
from wizard.pipeline.apply_outcome import ApplyResult, ApplyStepError, HostOutcome
from wizard.pipeline.command_run import CommandContext, CommandOutputs
from wizard.pipeline.commands import run_command
from wizard.pipeline.desired.items import (
    PHASE_CLIENT_SETUP,
    PHASE_NAMES,
    PHASE_SERVER_PRUNE,
    Passphrase,
)
from wizard.pipeline.identity import HostIdentity
from wizard.pipeline.plan import Change, Plan
from wizard.pipeline.setup_commands import GUARD_INIT, one_guard_run, run_baselines
from wizard.pipeline.write_units import WriteUnit, final_content, write_units
from wizard.remote import scripts
from wizard.remote.step_timeouts import step_failure
from wizard.secrets_store import SecretStore, passphrase_name, repokey_name

DEFAULT_PARALLEL = 8

__all__ = ["ApplyResult", "ApplyStepError", "EventSink", "Executor", "HostOutcome", "apply_plan"]

EventSink = Callable[[str, str, str], None]  # (host, level, message)


class Executor:
    def __init__(
        self,
        plan: Plan,
        connections: dict,
        server: str,
        store: SecretStore,
        passphrases: dict[str, Passphrase],
        on_event: EventSink | None = None,
        max_parallel: int = DEFAULT_PARALLEL,
        cancel: threading.Event | None = None,
        identities: Mapping[str, HostIdentity] | None = None,
        repokeys: Mapping[str, str] | None = None,
    ):
        self.plan = plan
        self.repokeys = dict(repokeys or {})
        self.identities = identities or {}
        self.connections = connections
        self.server = server
        self.store = store
        self.passphrases = passphrases
        self.on_event = on_event or (lambda host, level, message: None)
        self.max_parallel = max_parallel
        self.cancel = cancel or threading.Event()
        self.outcomes = {host: HostOutcome(host) for host in plan.hosts}
        self.outputs = CommandOutputs()

    def run(self) -> ApplyResult:
        self._store_new_passphrases()
        early = self._inert_server_files()
        moved = {id(change) for change in early}
        for phase in sorted(PHASE_NAMES):
            by_host: dict[str, list[Change]] = {}
            for change in self.plan.changes:
                if change.phase == phase and id(change) not in moved:
                    by_host.setdefault(change.host, []).append(change)
            if phase == PHASE_CLIENT_SETUP and early:  # the server first: it starts at once
                by_host = {self.server: by_host.pop(self.server, []) + early, **by_host}
            if not by_host:
                continue
            with ThreadPoolExecutor(max_workers=self.max_parallel) as pool:
                list(pool.map(lambda item: self._run_host(*item), by_host.items()))
        outputs = self.outputs
        return ApplyResult(
            self.outcomes, dict(outputs.exported_keys), self.store.location, list(outputs.notes)
        )

    def _inert_server_files(self) -> list[Change]:
        """The server's new pruning files (passphrases, prune configs, the guard and its
        alerts file): the leading file and directory creations of its last phase. Nothing
        reads them until the crontab written after them, and they depend on nothing the
        clients do, so they are written while the clients run their own phase."""
        inert = []
        for change in self.plan.changes:
            if change.host != self.server or change.phase != PHASE_SERVER_PRUNE:
                continue
            if change.kind not in ("file", "dir") or change.action != "create":
                break
            inert.append(change)
        return inert

    def _store_new_passphrases(self) -> None:
        """Keep every new passphrase on the operator's side before any host gets it, and
        every repository key the store does not hold as it is (`repokeys`: one an earlier
        apply did not get to export, or of a repository root moved back)."""
        for client, passphrase in self.passphrases.items():
            name = passphrase_name(self.server, client)
            if self.store.get(name) != passphrase.value:
                self.store.set(name, passphrase.value)
        for client, export in self.repokeys.items():
            if self.store.get(repokey_name(self.server, client)) != export:
                self.store.set(repokey_name(self.server, client), export)

    def _blocked(self, host: str) -> str | None:
        if self.cancel.is_set():
            return "cancelled"
        if self.outcomes[host].error:
            return "an earlier step on this host failed"
        server = self.outcomes.get(self.server)
        if host != self.server and server is not None and server.error:
            return f"the server {self.server} failed"
        return None

    def _run_host(self, host: str, changes: list[Change]) -> None:
        """The host's changes in order: writes (files, directories, crontabs) in batches, one
        remote process per run of steps with the same account; commands one by one, except
        consecutive guard baselines (`GUARD_INIT`), which are one guard run."""
        writes: list[Change] = []
        inits: list[Change] = []
        for change in changes:
            if change.kind != "command":
                self._run_guard_inits(host, inits)
                inits = []
                writes.append(change)
                continue
            self._run_writes(host, writes)
            writes = []
            if change.action == GUARD_INIT:
                inits.append(change)
                continue
            self._run_guard_inits(host, inits)
            inits = []
            self._run_steps(host, [change])
        self._run_writes(host, writes)
        self._run_guard_inits(host, inits)

    def _run_guard_inits(self, host: str, changes: list[Change]) -> None:
        """Consecutive baselines as one guard run when they can be (`one_guard_run`): a
        step is done unless the run says its client's baseline was not recorded."""
        if not one_guard_run(changes) or self._blocked(host):
            self._run_steps(host, changes)
            return
        for change in changes:
            self.on_event(host, "step", change.title)
        failures = run_baselines(self.connections[host], self.identities[host], changes)
        for change in changes:
            failure = failures.get(change.args["client"])
            if failure is None:
                self.outcomes[host].done.append(change.title)
                self.on_event(host, "done", change.title)
            else:
                self._fail(host, change, ApplyStepError(host, change.title, failure))

    def _run_steps(self, host: str, changes: list[Change]) -> None:
        """Each command change not blocked, run and reported as a step."""
        outcome = self.outcomes[host]
        for change in changes:
            reason = self._blocked(host)
            if reason:
                outcome.skipped.append(change.title)
                self.on_event(host, "skip", f"skipped {change.title} ({reason})")
                continue
            self.on_event(host, "step", f"{change.title}")
            try:
                self._run_command(change)
            except Exception as exc:  # transport failures and the like, reported per host
                self._fail(host, change, exc)
            else:
                outcome.done.append(change.title)
                self.on_event(host, "done", change.title)

    def _fail(self, host: str, change: Change, exc: Exception) -> None:
        error = exc
        if not isinstance(exc, ApplyStepError):
            error = ApplyStepError(host, change.title, step_failure(exc))
        self.outcomes[host].error = error
        self.on_event(host, "error", str(error))

    def _run_writes(self, host: str, changes: list[Change]) -> None:
        """Consecutive write steps run as one account go to the host as one batch; a change
        is reported done when its last script ran, and the host stops at the first failure."""
        units = []
        if changes and not self._blocked(host):
            units = [unit for change in changes for unit in self._write_units(change)]
        left = {change.title: 0 for change in changes}
        for unit in units:
            left[unit.change.title] += 1
        for group in write_batches.batches(units):
            if self._blocked(host):
                break
            self._run_batch(host, group, left)
        for change in changes:
            if change.title in left:
                reason = self._blocked(host) or "an earlier step on this host failed"
                self.outcomes[host].skipped.append(change.title)
                self.on_event(host, "skip", f"skipped {change.title} ({reason})")

    def _run_batch(self, host: str, units: list[WriteUnit], left: dict[str, int]) -> None:
        """One batch of units; `left` counts each change's units still to run, and loses the
        change once it is reported."""
        error: Exception | None = None
        try:
            ran = write_batches.run_batch(self.connections[host], units)
        except Exception as exc:  # transport failures and the like, reported per host
            ran, error = [], exc
        for index, unit in enumerate(units):
            change = unit.change
            if index < len(ran) and ran[index].rc == 0:
                left[change.title] -= 1
                if not left[change.title]:
                    del left[change.title]
                    self._report(host, change, None)
                continue
            if index < len(ran):
                message = ran[index].stderr or f"exit code {ran[index].rc}"
                stale = ran[index].rc == scripts.STALE_EXIT
                error = ApplyStepError(host, change.title, message, stale=stale)
            del left[change.title]
            self._report(host, change, error or ApplyStepError(host, change.title, "not run"))
            return

    def _report(self, host: str, change: Change, error: Exception | None) -> None:
        self.on_event(host, "step", change.title)
        if error is not None:
            self._fail(host, change, error)
            return
        self.outcomes[host].done.append(change.title)
        self.on_event(host, "done", change.title)

    def _write_units(self, change: Change) -> list[WriteUnit]:
        content = None
        if change.kind == "file":
            plan, generated = self.plan, self.outputs.generated_keys
            content = final_content(change, plan.placeholders, plan.kept_keys, generated)
        try:
            return write_units(change, self.identities[change.host], content)
        except ValueError as exc:
            raise ApplyStepError(change.host, change.title, str(exc)) from None

    def _run_command(self, change: Change) -> None:
        run_command(
            CommandContext(
                change, self.connections, self.identities, self.server, self.store, self.outputs
            )
        )


def apply_plan(plan: Plan, connections: dict, server: str, **options) -> ApplyResult:
    """Apply `plan` over `connections`; `options` are `Executor`'s (store, passphrases, ...)."""
    return Executor(plan, connections, server, **options).run()
