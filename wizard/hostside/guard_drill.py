"""`drill [CLIENT]`: can the newest archive of each client really be restored?

Per client, one after the other (so each repository is held as briefly as possible, and
two shared cores are never asked for two restores at once): `borg extract --dry-run` of
the newest archive, with `--lock-wait`. A dry-run extract reads every chunk of that
archive from the segments, decrypts it and checks its MAC and its ID hash, exactly as a
real restore would, without writing a file — so a damaged segment, a lost chunk or a
wrong key fails it. The result goes into the state's `last_drill`; a failure is printed,
sent to syslog and to the alerts, like the health job's problems.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from wizard.hostside.guard_borg import GuardFailure
from wizard.hostside.guard_borg import last_line
from wizard.hostside.guard_borg import recover_hidden_repository
from wizard.hostside.guard_notify import load_alerts
from wizard.hostside.guard_notify import report_line
from wizard.hostside.guard_notify import send_alerts
from wizard.hostside.guard_prune import identity_refused
from wizard.hostside.guard_setup import ClientSetup
from wizard.hostside.guard_setup import LockBusy
from wizard.hostside.guard_setup import Outcome
from wizard.hostside.guard_setup import take_client_lock
from wizard.hostside.guard_state import StateError
from wizard.hostside.guard_state import load_state
from wizard.hostside.guard_state import save_state
from wizard.hostside.guard_text import iso_utc
from wizard.hostside.guard_text import safe_name

DRILL_STATUSES = ("ok", "failed", "skipped")
LOCK_RETRY_SECONDS = 5


def drill_record(outcome: Outcome, archive: str | None, moment: datetime) -> dict:
    """The state's `last_drill` (see guard_state): time, archive (escaped), status, line."""
    status = "skipped" if outcome.status == "skipped" else outcome.status
    return {
        "time": iso_utc(moment),
        "archive": safe_name(archive) if archive is not None else None,
        "status": status if status in DRILL_STATUSES else "failed",
        "message": outcome.text,
    }


def wait_for_client_lock(setup: ClientSetup, seconds: int) -> int:
    """The client's flock, waiting up to `seconds` for a prune of it to finish."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return take_client_lock(setup.state_dir, setup.client)
        except LockBusy:
            if time.monotonic() >= deadline:
                raise
            time.sleep(LOCK_RETRY_SECONDS)


def drill_client(setup: ClientSetup, moment: datetime) -> tuple[Outcome, str | None]:
    """One client's drill (the caller holds its lock): the outcome and the archive tried."""
    recovered = recover_hidden_repository(setup.repository, setup.hidden)
    if recovered:
        report_line(setup.client, recovered, problem=True)
    refused = identity_refused(setup, "drill", lambda: moment)
    if isinstance(refused, Outcome):
        return refused, None
    listing = setup.tools.list_archives(setup.repository)
    if not listing:
        return Outcome("skipped", "restore drill: no archive yet, nothing to restore", 0), None
    newest = max(listing, key=lambda archive: (archive.time, archive.id))
    tools = setup.tools
    started = time.monotonic()
    argv = [tools.borg, "extract", "--dry-run", "--lock-wait", str(tools.lock_wait)]
    result = tools.run([*argv, f"{setup.repository}::{newest.name}"])
    seconds = time.monotonic() - started
    name = safe_name(newest.name)
    if result.returncode != 0:
        return Outcome.refused(
            f"restore drill FAILED: borg extract --dry-run of {name} exited "
            f"{result.returncode}: {last_line(result.stderr)}"
        ), newest.name
    return Outcome.ok(
        f"restore drill ok: borg extract --dry-run of {name} read, decrypted and verified "
        f"every chunk in {seconds:.0f} s"
    ), newest.name


def run_drills(
    setups: list[ClientSetup], config: dict, now: Callable[[], datetime], lock_wait: int
) -> int:
    """Drill every client in `setups` in turn; 0 when none failed, 3 otherwise."""
    alerts = load_alerts(str(config.get("state_dir", "")))
    server = str(config.get("server", ""))
    failures = 0
    for setup in setups:
        moment = now()
        archive = None
        descriptor = None
        try:
            descriptor = wait_for_client_lock(setup, lock_wait)
            state = load_state(setup.state_dir, setup.client)
            if state is None:
                outcome = Outcome.failed(
                    "restore drill: no guard state to record it in; record a baseline "
                    f"first: {setup.command('init')}"
                )
            else:
                outcome, archive = drill_client(setup, moment)
                record = drill_record(outcome, archive, moment)
                save_state(setup.state_dir, replace(state, last_drill=record))
        except (GuardFailure, LockBusy, StateError, OSError, ValueError) as error:
            outcome = Outcome.failed(f"restore drill could not run: {error}")
        finally:
            if descriptor is not None:
                os.close(descriptor)
        problem = outcome.status not in ("ok", "skipped")
        line = report_line(setup.client, outcome.text, problem=problem)
        if problem:
            failures += 1
            send_alerts(alerts, server=server, client=setup.client, state="drill_failed", line=line)
    return 3 if failures else 0
