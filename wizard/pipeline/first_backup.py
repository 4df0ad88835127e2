"""A first backup on each client now, instead of at its scheduled time.

What runs is exactly what cron will run: the borgmatic job in Borgkeep's block of the
login's crontab, read back from the client, run through the session's connection as the
login, from its home, with cron's bare environment (`sh -c`). A block that does not hold
the job Borgkeep renders for the client (edited by hand, or never applied) is reported,
not guessed around, and nothing is run there.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from wizard.artefacts.crontab import client_cron_line
from wizard.artefacts.managed_block import ManagedBlockError, parse_managed_block
from wizard.inventory.model import ClientSpec, Inventory
from wizard.inventory.settings import client_schedule
from wizard.pipeline.apply import EventSink
from wizard.pipeline.facts import CRON_PATH, HostFacts, client_layout
from wizard.remote.step_timeouts import DATA, QUICK

if TYPE_CHECKING:  # paramiko loads only when a connection is made
    from wizard.remote.transport import Connection

CRON_FIELDS = 5


@dataclass(frozen=True)
class FirstBackup:
    """How one client's backup went: `detail` is one line (the last line borgmatic printed
    on failure)."""

    client: str
    ok: bool
    detail: str
    command: str = ""
    seconds: float = 0.0


def backup_job(spec: ClientSpec, facts: HostFacts) -> str:
    """The command of the client's cron job, as `client_setup` renders it."""
    if not facts.borgmatic_path:
        raise ValueError(f"{spec.name}: borgmatic was not found on the client")
    config = client_layout(facts, spec.name).config
    line = client_cron_line(client_schedule(spec), facts.borgmatic_path, config)
    return line.split(None, CRON_FIELDS)[CRON_FIELDS]


def managed_jobs(crontab_text: str | None) -> list[str]:
    """The commands of the jobs in Borgkeep's block of a crontab (`MAILTO=` and comments
    skipped); raises `ManagedBlockError` when the block's markers are broken."""
    jobs = []
    for line in parse_managed_block(crontab_text or "").block_lines:
        fields = line.split(None, CRON_FIELDS)
        if len(fields) > CRON_FIELDS and not line.startswith(("#", "MAILTO=")):
            jobs.append(fields[CRON_FIELDS])
    return jobs


def as_cron_runs_it(command: str) -> str:
    """`command` the way cron runs a job: from the login's home, with only HOME, LOGNAME,
    PATH and SHELL set, through `/bin/sh -c`."""
    return (
        'cd "$HOME" || exit 1\n'
        f'exec env -i HOME="$HOME" LOGNAME="$(id -un)" PATH={CRON_PATH} SHELL=/bin/sh '
        f"/bin/sh -c {shlex.quote(command)}\n"
    )


def _last_line(output: bytes) -> str:
    lines = [line for line in output.decode("utf-8", "replace").splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def run_first_backup(conn: Connection, spec: ClientSpec, facts: HostFacts) -> FirstBackup:
    """Read the login's crontab, find Borgkeep's job for `spec` in it, and run that job."""
    try:
        expected = backup_job(spec, facts)
    except ValueError as exc:
        return FirstBackup(spec.name, False, str(exc))
    listing = conn.run("crontab -l", kind=QUICK)
    try:
        installed = managed_jobs(listing.stdout.decode("utf-8", "replace"))
    except ManagedBlockError as exc:
        return FirstBackup(spec.name, False, f"the crontab's borgkeep block is broken: {exc}")
    if expected not in installed:
        return FirstBackup(
            spec.name,
            False,
            f"{facts.login_user}'s crontab does not hold Borgkeep's backup job for {spec.name} "
            "(not applied yet, or edited by hand): run borgkeep apply",
            expected,
        )
    started = time.monotonic()
    result = conn.run(as_cron_runs_it(expected), kind=DATA)
    seconds = time.monotonic() - started
    if result.rc != 0:
        why = _last_line(result.stderr) or _last_line(result.stdout) or "no output"
        return FirstBackup(spec.name, False, f"exit {result.rc}: {why}", expected, seconds)
    return FirstBackup(spec.name, True, "archive made", expected, seconds)


def first_backups(
    inventory: Inventory,
    facts: Mapping[str, HostFacts],
    errors: Mapping[str, str],
    connect: Callable[[str], Connection],
    clients: Collection[str],
    on_event: EventSink | None = None,
    max_parallel: int = 8,
) -> dict[str, FirstBackup]:
    """Back up `clients` (in inventory order) in parallel, at most `max_parallel` at once,
    each through `connect(name)`; events `step`, then `done` or `error` per client."""
    specs = [c for c in inventory.clients if c.name in clients]

    def event(host: str, level: str, message: str) -> None:
        if on_event is not None:
            on_event(host, level, message)

    def one(spec: ClientSpec) -> FirstBackup:
        known = facts.get(spec.name)
        if known is None:
            why = errors.get(spec.name, "its facts were not gathered")
            outcome = FirstBackup(spec.name, False, f"not reachable: {why}")
        else:
            event(spec.name, "step", "backing up (its cron job, run now)")
            try:
                outcome = run_first_backup(connect(spec.name), spec, known)
            except Exception as exc:  # one client's failure is its own line
                outcome = FirstBackup(spec.name, False, str(exc) or type(exc).__name__)
        event(spec.name, "done" if outcome.ok else "error", outcome.detail)
        return outcome

    if not specs:
        return {}
    with ThreadPoolExecutor(max_workers=max(1, min(max_parallel, len(specs)))) as pool:
        outcomes = list(pool.map(one, specs))
    return {outcome.client: outcome for outcome in outcomes}
