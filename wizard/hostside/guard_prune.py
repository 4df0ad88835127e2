"""The scheduled `prune CLIENT`: decide, prune, verify, check, compact, record.

The sequence, with the repository hidden from the client throughout (guard_borg):
list → segment log check → decision → borgmatic prune --list → list again (exactly the
reported archives gone, none the policy keeps) → borg check --archives-only → borgmatic
compact → list again → new baseline. A refusal never changes the baseline; the data a
refusal protects is still on disk, because nothing is compacted after a doubt.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from wizard.hostside.guard_borg import GuardFailure
from wizard.hostside.guard_borg import hide_repository
from wizard.hostside.guard_borg import last_line
from wizard.hostside.guard_borg import parse_prune_list
from wizard.hostside.guard_borg import recover_hidden_repository
from wizard.hostside.guard_borg import restore_repository
from wizard.hostside.guard_borg import substitute_repository
from wizard.hostside.guard_borg import write_temporary_config
from wizard.hostside.guard_decision import Decision
from wizard.hostside.guard_decision import ListedArchive
from wizard.hostside.guard_decision import RecordedArchive
from wizard.hostside.guard_decision import decide
from wizard.hostside.guard_decision import named_archives
from wizard.hostside.guard_decision import refusal_summary
from wizard.hostside.guard_identity import check_identity
from wizard.hostside.guard_identity import identity_refusal
from wizard.hostside.guard_segments import SegmentError
from wizard.hostside.guard_segments import last_committed_segment
from wizard.hostside.guard_segments import touched_objects
from wizard.hostside.guard_setup import ClientSetup
from wizard.hostside.guard_setup import Outcome
from wizard.hostside.guard_setup import read_private_text
from wizard.hostside.guard_state import GuardState
from wizard.hostside.guard_state import load_state
from wizard.hostside.guard_state import migrate_old_state
from wizard.hostside.guard_state import old_state_file
from wizard.hostside.guard_state import read_old_state
from wizard.hostside.guard_state import save_state
from wizard.hostside.guard_text import capped_names
from wizard.hostside.guard_text import iso_utc
from wizard.hostside.guard_text import safe_name

ON_DISK = "every segment is still on disk"


def baseline_archives(
    listing: Sequence[ListedArchive],
    previous: Mapping[str, RecordedArchive],
    now: datetime,
    last_run: datetime | None,
) -> dict[str, RecordedArchive]:
    """The listing as a baseline: known IDs keep when they were first seen; new ones are
    first seen `now`, after the previous observation `last_run`."""
    archives = {}
    for archive in listing:
        seen = previous.get(archive.id)
        first_seen = seen.first_seen if seen else now
        seen_after = seen.seen_after if seen else last_run
        archives[archive.id] = RecordedArchive(archive.name, archive.time, first_seen, seen_after)
    return archives


def result_record(outcome: Outcome, now: datetime) -> dict:
    """The state's `last_result` for an outcome (names escaped for whoever shows them)."""
    return {
        "time": iso_utc(now),
        "status": outcome.status,
        "message": outcome.text,
        "archives": [safe_name(name) for name in outcome.names],
    }


def load_or_migrate(setup: ClientSetup, repository: str, listing: list[ListedArchive]):
    """The recorded state, else one migrated from the shell guard's list, else None."""
    state = load_state(setup.state_dir, setup.client)
    if state is not None:
        return state
    old = read_old_state(setup.state_dir, setup.client)
    if old is None:
        return None
    names, written = old
    boundary = last_committed_segment(repository, not_after=written.timestamp())
    return migrate_old_state(setup.client, setup.repository, names, written, listing, boundary)


def judge(
    setup: ClientSetup, state: GuardState, repository: str, listing: list, now: datetime
) -> Decision:
    """The decision, with the segment log's evidence when a segment baseline exists."""
    touched: list[tuple[str, str]] = []
    if state.committed_segment is not None:
        try:
            touched = touched_objects(repository, state.committed_segment)
        except SegmentError as error:
            raise GuardFailure(f"cannot read the segment log of {repository}: {error}") from None
    return decide(state.archives, state.last_run, listing, now, setup.policy, touched)


def refusal_text(setup: ClientSetup, what: str, summary: str, done: str) -> str:
    return (
        f"REFUSING to {what} {setup.repository}: {summary} — {done}; {ON_DISK}. "
        f"Inspect, then recover or acknowledge with: {setup.command('acknowledge')}"
    )


def run_prune(setup: ClientSetup, now: Callable[[], datetime]) -> tuple[Outcome, list[str]]:
    """The whole scheduled job for one client (the caller holds the client's flock).
    Returns the outcome and notes to print before it (a repository restored, ...)."""
    notes = []
    recovered = recover_hidden_repository(setup.repository, setup.hidden)
    if recovered:
        notes.append(recovered)
    if load_state(setup.state_dir, setup.client) is None and (
        read_old_state(setup.state_dir, setup.client) is None
    ):
        return Outcome.refused(
            f"no baseline recorded for {setup.client}; nothing pruned; record one with: "
            f"{setup.command('init')}"
        ), notes
    refused = identity_refused(setup, "prune", now)
    if isinstance(refused, Outcome):
        return refused, notes
    config_text = substitute_repository(
        read_private_text(setup.prune_config), setup.repository, setup.hidden
    )
    hide_repository(setup.repository, setup.hidden, setup.tools.lock_wait)
    temporary = None
    restore_error = None
    try:
        try:
            temporary = write_temporary_config(setup.state_dir, setup.client, config_text)
            outcome = _prune_hidden(setup, now, temporary, notes, refused)
        finally:
            if temporary is not None:
                os.unlink(temporary)
            try:
                restore_repository(setup.repository, setup.hidden)
                setup.tools.reanchor(setup.repository)
            except GuardFailure as error:
                restore_error = error
    except GuardFailure as error:
        outcome = Outcome.failed(str(error))
    except KeyboardInterrupt as error:
        outcome = Outcome.failed(
            f"interrupted ({error or 'SIGINT'}) while holding {setup.repository}; whatever "
            "step was running was stopped, nothing after it ran"
        )
    if restore_error is not None:
        outcome = Outcome.failed(f"{restore_error} (before that: {outcome.text})")
    return outcome, notes


def identity_refused(setup: ClientSetup, what: str, now: Callable[[], datetime]):
    """The live repository's identity (see `guard_identity`), or the refusal when it is not
    the repository the guard protects; a refusal of a prune is recorded in the state."""
    state = load_state(setup.state_dir, setup.client)
    problem, live = check_identity(
        setup.repository, state.identity if state else None, setup.repokey_copy
    )
    if problem is None:
        return live
    outcome = Outcome.refused(identity_refusal(setup.client, setup.repository, problem, what))
    if state is not None and what == "prune":
        save_state(setup.state_dir, replace(state, last_result=result_record(outcome, now())))
    return outcome


def _prune_hidden(
    setup: ClientSetup,
    now: Callable[[], datetime],
    config: str,
    notes: list[str],
    identity: dict,
) -> Outcome:
    tools, hidden = setup.tools, setup.hidden
    before = tools.list_archives(hidden)
    state = load_or_migrate(setup, hidden, before)
    state = replace(state, identity=state.identity or identity)
    if state.migrated:
        notes.append(
            f"took the old shell guard's list {old_state_file(setup.state_dir, setup.client)} "
            "as the baseline (first seen = that file's time)"
        )
    started = now()
    decision = judge(setup, state, hidden, before, started)
    if not decision.approved:
        outcome = Outcome.refused(
            refusal_text(
                setup, "prune", refusal_summary(decision.reasons), "nothing was pruned or compacted"
            ),
            named_archives(decision.reasons),
        )
        save_state(setup.state_dir, replace(state, last_result=result_record(outcome, started)))
        return outcome

    pruned = tools.run_borgmatic(config, "prune", "--list")
    report = parse_prune_list(pruned.stdout + "\n" + pruned.stderr)
    after = tools.list_archives(hidden)
    finished = now()
    problem = _verify_prune(setup, state, before, after, report.removed, decision, finished)
    if problem:
        outcome = Outcome.refused(
            refusal_text(setup, "compact", problem, "not compacting; no baseline recorded"),
            [a.name for a in before if a.id in set(report.removed)],
        )
        save_state(setup.state_dir, replace(state, last_result=result_record(outcome, finished)))
        return outcome

    removed = [a.name for a in before if a.id in set(report.removed)]
    pruned_state = replace(
        state,
        archives=baseline_archives(after, state.archives, started, state.last_run),
        last_run=started,
        last_prune=finished if pruned.returncode == 0 else state.last_prune,
        committed_segment=last_committed_segment(hidden),
    )
    if pruned.returncode != 0:
        outcome = Outcome.failed(
            f"borgmatic prune of {setup.repository} failed (exit {pruned.returncode}: "
            f"{last_line(pruned.stderr)}); not compacting; the {len(removed)} archive(s) it "
            "removed first were checked and recorded"
        )
        save_state(
            setup.state_dir, replace(pruned_state, last_result=result_record(outcome, finished))
        )
        return outcome

    checked = tools.check_archives(hidden)
    if checked.returncode != 0:
        outcome = Outcome.refused(
            f"REFUSING to compact {setup.repository}: borg check failed: archive data is missing "
            f"or damaged — not compacting; {ON_DISK} (prune had removed {len(removed)} "
            f"archive(s) by the policy first; they are recorded). Inspect with: borg check "
            f"--archives-only {setup.repository}; then recover, or acknowledge with: "
            f"{setup.command('acknowledge')}"
        )
        save_state(
            setup.state_dir, replace(pruned_state, last_result=result_record(outcome, now()))
        )
        return outcome

    compacted = tools.run_borgmatic(config, "compact")
    final = tools.list_archives(hidden)
    if [(a.id, a.name, a.time) for a in final] != [(a.id, a.name, a.time) for a in after]:
        raise GuardFailure(f"the archives of {setup.repository} changed during compact")
    if compacted.returncode != 0:
        outcome = Outcome.failed(
            f"borgmatic compact of {setup.repository} failed (exit {compacted.returncode}: "
            f"{last_line(compacted.stderr)}); the prune was checked and recorded"
        )
    else:
        new = len(decision.new_ids)
        outcome = Outcome.ok(
            f"pruned {setup.repository}: removed {len(removed)} archive(s)"
            f"{' (' + capped_names(removed) + ')' if removed else ''}, kept {len(after)} "
            f"({new} new since the previous run); compacted; baseline recorded"
        )
    final_state = replace(pruned_state, committed_segment=last_committed_segment(hidden))
    save_state(setup.state_dir, replace(final_state, last_result=result_record(outcome, now())))
    return outcome


def _verify_prune(
    setup: ClientSetup,
    state: GuardState,
    before: list[ListedArchive],
    after: list[ListedArchive],
    reported: Sequence[str],
    decision: Decision,
    finished: datetime,
) -> str | None:
    """Why the prune's result cannot be trusted, or None. Borg's clock ran between the
    decision and `finished`: an archive is protected if the policy keeps it at both ends."""
    names = {a.id: a.name for a in before}
    before_ids, after_ids = set(names), {a.id for a in after}
    gone, reported_ids = before_ids - after_ids, set(reported)
    problems = []
    if after_ids - before_ids:
        problems.append(f"{len(after_ids - before_ids)} archive(s) appeared during prune")
    if gone != reported_ids:
        mismatch = sorted(names.get(i, i) for i in gone ^ reported_ids)
        problems.append(
            f"the archives that disappeared differ from those prune reported ({capped_names(mismatch)})"
        )
    again = decide(state.archives, state.last_run, before, finished, setup.policy)
    protected = decision.must_keep & again.must_keep
    endangered = [names[i] for i in gone if i in protected]
    if endangered:
        problems.append(
            f"prune removed {len(endangered)} archive(s) that the policy keeps by the server's "
            f"clock ({capped_names(endangered)})"
        )
    unexpected = [names[i] for i in gone if i not in decision.would_remove | again.would_remove]
    if unexpected:
        problems.append(
            f"prune removed {len(unexpected)} archive(s) the guard's copy of borg's rules "
            f"would have kept ({capped_names(unexpected)})"
        )
    return "; ".join(problems) or None
