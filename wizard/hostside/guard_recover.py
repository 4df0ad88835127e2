"""After a refusal: `inspect CLIENT` (read-only, JSON for `borgkeep recover`) and
`rollback CLIENT N` (Borg's append-only rollback, done for the operator).

The rollback runs like the guard's prune, under the client's lock and with the repository
out of the client's reach: it keeps a hard-link copy of the repository as it was (its
path is printed; nothing removes it), removes what came after transaction N, clears the
borg user's security record and cache for the repository, checks that every archive the
guard recorded is listed again and that `borg extract --dry-run` of each vanished one
passes, puts the repository back and records the outcome. The target is computed again
under the lock and must be the N the operator reviewed.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from wizard.hostside.guard_borg import GuardFailure
from wizard.hostside.guard_borg import hide_repository
from wizard.hostside.guard_borg import last_line
from wizard.hostside.guard_borg import recover_hidden_repository
from wizard.hostside.guard_borg import restore_repository
from wizard.hostside.guard_notify import report_line
from wizard.hostside.guard_prune import load_or_migrate
from wizard.hostside.guard_prune import result_record
from wizard.hostside.guard_rollback import choose_rollback_target
from wizard.hostside.guard_rollback import hard_link_copy
from wizard.hostside.guard_rollback import live_objects
from wizard.hostside.guard_rollback import log_entries
from wizard.hostside.guard_rollback import read_transactions
from wizard.hostside.guard_rollback import remove_later_transactions
from wizard.hostside.guard_rollback import repository_id
from wizard.hostside.guard_rollback import security_record
from wizard.hostside.guard_segments import touched_objects
from wizard.hostside.guard_setup import ClientSetup
from wizard.hostside.guard_setup import Outcome
from wizard.hostside.guard_state import GuardState
from wizard.hostside.guard_state import save_state
from wizard.hostside.guard_text import capped_names
from wizard.hostside.guard_text import iso_utc
from wizard.hostside.guard_text import safe_name


def _vanished(state: GuardState, listing: list) -> list[dict]:
    listed = {archive.id for archive in listing}
    gone = [(i, seen) for i, seen in state.archives.items() if i not in listed]
    return [
        {
            "id": archive_id,
            "name": safe_name(seen.name),
            "time": iso_utc(seen.time),
            "first_seen": iso_utc(seen.first_seen),
        }
        for archive_id, seen in sorted(gone, key=lambda item: (item[1].time, item[0]))
    ]


def _target(repository: str, state: GuardState):
    entries, segments = log_entries(repository)
    logged = read_transactions(repository)
    return choose_rollback_target(entries, state.committed_segment, logged, segments), entries


def run_inspect(setup: ClientSetup) -> dict:
    """What `borgkeep recover` shows: the vanished archives (name, time, first seen), the
    guard's last result, and the rollback's target or why there is none. Read-only."""
    if os.path.lexists(setup.hidden):
        raise GuardFailure(f"{setup.repository} is hidden at {setup.hidden}: a guard run is busy")
    listing = setup.tools.list_archives(setup.repository)
    state = load_or_migrate(setup, setup.repository, listing)
    report: dict = {
        "client": setup.client,
        "repository": setup.repository,
        "repository_id": repository_id(setup.repository),
        "archives": len(listing),
        "baseline": None,
        "last_result": None,
        "vanished": [],
        "touched_objects": 0,
        "rollback": {"possible": False, "reason": "no baseline recorded"},
    }
    if state is None:
        return report
    report["baseline"] = {
        "last_run": iso_utc(state.last_run),
        "committed_segment": state.committed_segment,
    }
    report["last_result"] = state.last_result
    report["vanished"] = _vanished(state, listing)
    if state.committed_segment is None:
        report["rollback"]["reason"] = "the guard recorded no segment baseline"
        return report
    report["touched_objects"] = len(touched_objects(setup.repository, state.committed_segment))
    target, entries = _target(setup.repository, state)
    logged = read_transactions(setup.repository)
    rollback: dict = {
        "possible": target.possible,
        "reason": target.reason,
        "transaction": target.transaction,
        "time": logged.get(target.transaction) if target.transaction is not None else None,
        "current": target.current,
        "first_bad": target.first_bad,
        "segments_removed": len(target.later_segments),
        "archives_lost": [],
    }
    if target.possible:
        kept = live_objects(entries, target.transaction)
        rollback["archives_lost"] = [
            safe_name(a.name) for a in listing if bytes.fromhex(a.id) not in kept
        ]
    report["rollback"] = rollback
    return report


def _copy_path(setup: ClientSetup, moment: datetime) -> str:
    stamp = moment.strftime("%Y%m%dT%H%M%S")
    parent, name = os.path.split(setup.repository)
    return os.path.join(parent, f".{name}.rollback-{stamp}")


def run_rollback(setup: ClientSetup, wanted: int, now: Callable[[], datetime]) -> Outcome:
    """The rollback to transaction `wanted` (the caller holds the client's lock)."""
    recovered = recover_hidden_repository(setup.repository, setup.hidden)
    if recovered:
        report_line(setup.client, recovered, problem=True)
    listing = setup.tools.list_archives(setup.repository)
    state = load_or_migrate(setup, setup.repository, listing)
    if state is None or state.committed_segment is None:
        return Outcome.refused(f"no baseline recorded for {setup.client}: nothing to roll back to")
    moment = now()
    listed = {archive.id for archive in listing}
    vanished = [i for i in state.archives if i not in listed]
    hide_repository(setup.repository, setup.hidden, setup.tools.lock_wait)
    try:
        outcome = _roll_back_hidden(setup, state, wanted, vanished, moment)
    finally:
        restore_repository(setup.repository, setup.hidden)
        setup.tools.reanchor(setup.repository)
    save_state(setup.state_dir, replace(state, last_result=result_record(outcome, now())))
    return outcome


def _roll_back_hidden(
    setup: ClientSetup, state: GuardState, wanted: int, vanished: list[str], moment: datetime
) -> Outcome:
    """`vanished`: IDs of recorded archives missing before; each must list and extract again
    (with none missing, every recorded archive is checked: only chunks were touched)."""
    hidden, tools = setup.hidden, setup.tools
    target, _ = _target(hidden, state)
    if not target.possible:
        return Outcome.refused(f"REFUSING to roll back {setup.repository}: {target.reason}")
    if target.transaction != wanted:
        return Outcome.refused(
            f"REFUSING to roll back {setup.repository}: the target is now transaction "
            f"{target.transaction}, not {wanted} as planned (the repository changed since); "
            "plan again"
        )
    copy = _copy_path(setup, moment)
    hard_link_copy(hidden, copy)
    _say(setup, f"kept the repository as it was in {copy} (hard links; remove it when done)")
    repo_id = repository_id(hidden)
    removed = remove_later_transactions(hidden, wanted)
    _say(setup, f"removed {len(removed)} file(s) written after transaction {wanted}")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(security_record(repo_id))
    cleared = tools.run([tools.borg, "delete", "--cache-only", "--lock-wait", "60", hidden])
    if cleared.returncode != 0:
        raise GuardFailure(f"borg delete --cache-only failed: {last_line(cleared.stderr)}")
    listing = tools.list_archives(hidden)
    listed = {archive.id: archive.name for archive in listing}
    missing = [seen.name for i, seen in state.archives.items() if i not in listed]
    if missing:
        return Outcome.failed(
            f"rolled back {setup.repository} to transaction {wanted}, but recorded archives "
            f"are still missing ({capped_names(missing)}); the copy {copy} is intact"
        )
    still = touched_objects(hidden, state.committed_segment)
    if still:
        return Outcome.failed(
            f"rolled back {setup.repository} to transaction {wanted}, but {len(still)} recorded "
            f"object(s) are still deleted or overwritten; the copy {copy} is intact"
        )
    back = [state.archives[i].name for i in (vanished or state.archives)]
    failed = []
    for name in back:
        extracted = tools.run(
            [tools.borg, "extract", "--dry-run", "--lock-wait", "60", f"{hidden}::{name}"]
        )
        if extracted.returncode != 0:
            failed.append(f"{safe_name(name)} ({last_line(extracted.stderr)})")
    if failed:
        return Outcome.failed(
            f"rolled back {setup.repository} to transaction {wanted}, but borg extract "
            f"--dry-run failed for {', '.join(failed[:3])}; the copy {copy} is intact"
        )
    return Outcome.ok(
        f"rolled back {setup.repository} to transaction {wanted}: every recorded archive is "
        f"listed again, and borg extract --dry-run passed for {len(back)} "
        f"({capped_names(back)}); the copy "
        f"{copy} keeps the state before the rollback; the next guard run prunes normally"
    )


def _say(setup: ClientSetup, text: str) -> None:
    report_line(setup.client, text, problem=False)
