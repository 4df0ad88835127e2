"""The executor: apply a plan in ordered phases, hosts in parallel inside a phase; the
server's new pruning files (inert until its crontab, written last) are written while the
clients run their phase.

Every step runs as the account its host's `HostIdentity` names: a file or crontab as its
owner, a directory as its owner (root only creates one whose parent no other account
controls), `useradd` as root, the client's key and repository as the login.

A host's failure stops that host's remaining steps and is reported with the step and the
remote error; the other hosts go on. If the server fails, no client is touched further
(their later steps depend on the server).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor

from wizard.artefacts.guard_program import (
    guard_command,
    guard_init_command,
    guard_init_failures,
)
from wizard.hostside.guard_text import MESSAGE_PREFIX
from wizard.pipeline.apply_outcome import ApplyResult, ApplyStepError, HostOutcome
from wizard.pipeline.desired.items import (
    PHASE_CLIENT_SETUP,
    PHASE_NAMES,
    PHASE_SERVER_PRUNE,
    Passphrase,
)
from wizard.pipeline.identity import HostIdentity
from wizard.pipeline.lifecycle.commands import COMMAND_KINDS, LIFECYCLE_COMMANDS
from wizard.pipeline.plan import Change, Plan
from wizard.pipeline.write_units import write_units
from wizard.remote import batch, scripts
from wizard.remote.identity import RunAs
from wizard.remote.step_timeouts import BORG, QUICK, step_failure
from wizard.secrets_store import SecretStore, passphrase_name, repokey_name

DEFAULT_PARALLEL = 8

__all__ = ["ApplyResult", "ApplyStepError", "EventSink", "Executor", "HostOutcome", "apply_plan"]

EventSink = Callable[[str, str, str], None]  # (host, level, message)


GUARD_INIT = "init-guard"
"""Consecutive baselines on the server run as one guard process (`init C1 C2 ...`): one
Python start-up for all of them, each client's outcome line still its own reported step."""


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
        self.generated_keys: dict[str, str] = {}
        self.exported_keys: dict[str, str] = {}
        self.notes: list[str] = []
        self._lock = threading.Lock()

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
        return ApplyResult(
            self.outcomes, dict(self.exported_keys), self.store.location, list(self.notes)
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
            self._run_steps(host, [change], self._run_command)
        self._run_writes(host, writes)
        self._run_guard_inits(host, inits)

    def _run_guard_inits(self, host: str, changes: list[Change]) -> None:
        """`init C1 C2 ...` as one guard run when the steps share the guard and its account;
        exit code 0 means every client's baseline was recorded; otherwise a step is done
        when its client's outcome line is on stdout, and failed with its line from stderr.
        The guard records each client under that client's lock."""
        shared = {(c.args["python"], c.args["guard"], c.args["user"]) for c in changes}
        if len(changes) < 2 or len(shared) != 1 or self._blocked(host):
            self._run_steps(host, changes, self._run_command)
            return
        ((python, guard, user),) = shared
        clients = [change.args["client"] for change in changes]
        for change in changes:
            self.on_event(host, "step", change.title)
        run_as = self.identities[host].as_user(user)
        command = guard_init_command(python, guard, clients)
        try:
            result = self.connections[host].run(run_as.wrap(command), kind=BORG)
            out, err = (part.decode("utf-8", "replace") for part in (result.stdout, result.stderr))
            every = result.rc == 0
        except Exception as exc:  # transport failures and the like, reported per host
            out, err, every = "", step_failure(exc), False
        failures = guard_init_failures(clients, out, err, every)
        for change, client in zip(changes, clients, strict=True):
            if client not in failures:
                self.outcomes[host].done.append(change.title)
                self.on_event(host, "done", change.title)
            else:
                self._fail(host, change, ApplyStepError(host, change.title, failures[client]))

    def _run_steps(self, host: str, changes: list[Change], run) -> None:
        """`run(change)` for each change not blocked, reporting each as a step."""
        outcome = self.outcomes[host]
        for change in changes:
            reason = self._blocked(host)
            if reason:
                outcome.skipped.append(change.title)
                self.on_event(host, "skip", f"skipped {change.title} ({reason})")
                continue
            self.on_event(host, "step", f"{change.title}")
            try:
                run(change)
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
            units = [(change, *unit) for change in changes for unit in self._write_units(change)]
        runs: list[list] = []
        for unit in units:
            if runs and runs[-1][0][1] == unit[1]:
                runs[-1].append(unit)
            else:
                runs.append([unit])
        left = {change.title: 0 for change in changes}
        for unit in units:
            left[unit[0].title] += 1
        for run in runs:
            for group in batch.split_batches([unit[2] for unit in run]):
                if self._blocked(host):
                    break
                self._run_batch(host, [run[i] for i in group], left)
        for change in changes:
            if change.title in left:
                reason = self._blocked(host) or "an earlier step on this host failed"
                self.outcomes[host].skipped.append(change.title)
                self.on_event(host, "skip", f"skipped {change.title} ({reason})")

    def _run_batch(self, host: str, units: list, left: dict[str, int]) -> None:
        """One batch of units (change, run_as, script, stdin); `left` counts each change's
        units still to run, and loses the change once it is reported."""
        conn, run_as = self.connections[host], units[0][1]
        error: Exception | None = None
        try:
            if len(units) == 1:
                self._run(conn, units[0][0], run_as, units[0][2], units[0][3])
                ran = [batch.StepRun(0, "")]
            else:
                script = batch.batch_script([(u[2], len(u[3] or b"")) for u in units])
                result = conn.run(
                    run_as.wrap(script), stdin=b"".join(u[3] or b"" for u in units), kind=QUICK
                )
                out, err = (
                    part.decode("utf-8", "replace") for part in (result.stdout, result.stderr)
                )
                ran = batch.parse_batch(out, err, len(units))
                if len(ran) < len(units) and (not ran or ran[-1].rc == 0):
                    message = err.strip().splitlines()[-1:] or [f"exit code {result.rc}"]
                    ran.append(batch.StepRun(result.rc or 1, message[0]))
        except Exception as exc:  # transport failures and the like, reported per host
            ran, error = [], exc
        for index, (change, *_) in enumerate(units):
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

    def _run(
        self,
        conn,
        change: Change,
        run_as: RunAs,
        script: str,
        stdin: bytes | None = None,
        kind: str = QUICK,
    ):
        result = conn.run(run_as.wrap(script), stdin=stdin, kind=kind)
        if result.rc != 0:
            message = result.stderr.decode("utf-8", "replace").strip() or f"exit code {result.rc}"
            raise ApplyStepError(
                change.host, change.title, message, stale=result.rc == scripts.STALE_EXIT
            )
        return result

    def _write_units(self, change: Change) -> list[tuple[RunAs, str, bytes | None]]:
        content = self._final_content(change) if change.kind == "file" else None
        try:
            return write_units(change, self.identities[change.host], content)
        except ValueError as exc:
            raise ApplyStepError(change.host, change.title, str(exc)) from None

    def _final_content(self, change: Change) -> str:
        """The planned content with placeholders for generated keys filled in, and lines of
        clients whose key generation failed left out. Nothing else may differ."""
        content = change.new or ""
        for blob, client in self.plan.placeholders.items():
            if blob not in content:
                continue
            real = self.generated_keys.get(client)
            if real:
                content = content.replace(blob, real.split()[1])
            elif blob in self.plan.kept_keys:
                content = content.replace(blob, self.plan.kept_keys[blob])
            else:
                content = "".join(
                    line for line in content.splitlines(keepends=True) if blob not in line
                )
        return content

    def _exported_key(self, change: Change, repository: str, borg_user: str) -> str:
        """What `borg key export` prints, read from the new repository's own config on the
        server (as the borg user): no second borg run and SSH handshake on the client."""
        server = self.identities[self.server].as_user(borg_user)
        script = scripts.read_repository_config_script(repository)
        result = self._run(self.connections[self.server], change, server, script)
        return scripts.exported_key(result.stdout.decode("utf-8", "replace"), repository)

    def _run_command(self, change: Change) -> None:
        conn, identity = self.connections[change.host], self.identities[change.host]
        args = {**change.args, **change.secret_args}
        login = identity.login
        if change.action == "generate-key":
            result = self._run(
                conn, change, login, scripts.generate_key_script(args["path"], args["comment"])
            )
            public = result.stdout.decode().strip()
            parts = public.split()
            if len(parts) < 2 or parts[0] != "ssh-ed25519":
                raise ApplyStepError(change.host, "generate-key", f"unexpected key {public!r}")
            with self._lock:
                self.generated_keys[change.host] = " ".join(parts[:2])
        elif change.action == "create-user":
            script = scripts.create_user_script(args["user"], args["home"])
            self._run(conn, change, identity.admin, script)
        elif change.action == "init-repo":
            self._run(
                conn,
                change,
                login,
                scripts.init_repo_script(
                    args["url"],
                    args["key"],
                    args["known_hosts"],
                    args["passphrase_file"],
                    args.get("borg", "borg"),
                ),
                kind=BORG,
            )
            exported = self._exported_key(change, args["repository"], args["borg_user"])
            self.store.set(repokey_name(self.server, change.host), exported)
            with self._lock:
                self.exported_keys[change.host] = repokey_name(self.server, change.host)
        elif change.action == GUARD_INIT:
            init = guard_command(args["python"], args["guard"], "init", args["client"])
            self._run(conn, change, identity.as_user(args["user"]), init, kind=BORG)
        elif change.action in LIFECYCLE_COMMANDS:
            try:
                run_as, script, stdin = LIFECYCLE_COMMANDS[change.action](
                    args, identity, self.store.get
                )
            except ValueError as exc:
                raise ApplyStepError(change.host, change.title, str(exc)) from None
            kind = COMMAND_KINDS.get(change.action, QUICK)
            result = self._run(conn, change, run_as, script, stdin, kind)
            lines = result.stdout.decode("utf-8", "replace").splitlines()
            with self._lock:
                self.notes += [
                    f"{change.host}: {line.removeprefix(f'{MESSAGE_PREFIX}: ')}"
                    for line in lines
                    if line.strip()
                ]
        else:
            raise ApplyStepError(change.host, change.title, "unknown command")


def apply_plan(plan: Plan, connections: dict, server: str, **options) -> ApplyResult:
    """Apply `plan` over `connections`; `options` are `Executor`'s (store, passphrases, ...)."""
    return Executor(plan, connections, server, **options).run()
