"""Read-only checks: would the guard let prune run, and what would borgmatic's prune remove?

`check CLIENT` looks at one repository; `check-all [CLIENT...]` (what `borgkeep verify`
runs) looks at many in one pass: every repository is listed and judged as `check` does,
then a few borgmatic runs side by side (one per worker) dry-run the prune of all their
configs (borgmatic reads a directory of configs), instead of one borgmatic start-up per
client; one `borg --version` answers for all their configs. Archive IDs are unique
per repository, so each client's verdict reads its own IDs out of the joint `--list`
output. If that joint run fails, each client's dry run is repeated alone, so a failure is
named for the client it belongs to.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from dataclasses import replace
from datetime import datetime

from wizard.hostside.guard_borg import BorgTools
from wizard.hostside.guard_borg import GuardFailure
from wizard.hostside.guard_borg import PruneReport
from wizard.hostside.guard_borg import parse_prune_list
from wizard.hostside.guard_decision import named_archives
from wizard.hostside.guard_decision import refusal_summary
from wizard.hostside.guard_prune import identity_refused
from wizard.hostside.guard_prune import judge
from wizard.hostside.guard_prune import load_or_migrate
from wizard.hostside.guard_segments import SegmentError
from wizard.hostside.guard_setup import ClientSetup
from wizard.hostside.guard_setup import Outcome
from wizard.hostside.guard_state import StateError
from wizard.hostside.guard_text import capped_names

DRY_RUN = ("--dry-run", "prune", "--list")
WORKERS = max(2, min(4, os.cpu_count() or 2))
"""Borg processes at a time (the listings, then the dry-run groups): borg is single-threaded,
servers have cores."""


@dataclass
class Judged:
    """One client's repository as listed and judged, waiting for the prune dry run."""

    setup: ClientSetup
    listing: list
    state: object
    decision: object


def judge_repository(setup: ClientSetup, now: Callable[[], datetime]) -> Judged | Outcome:
    """List and judge the live repository; an Outcome when there is nothing to dry-run."""
    if os.path.lexists(setup.hidden):
        raise GuardFailure(
            f"{setup.repository} is hidden at {setup.hidden}: a guard prune is running, or one "
            f"was interrupted (the next prune restores it)"
        )
    refused = identity_refused(setup, "check", now)
    if isinstance(refused, Outcome):
        return refused
    listing = setup.tools.list_archives(setup.repository)
    state = load_or_migrate(setup, setup.repository, listing)
    if state is None:
        return Outcome.refused(
            f"check {setup.repository}: no baseline recorded; prune would refuse; record one "
            f"with: {setup.command('init')}"
        )
    return Judged(setup, listing, state, judge(setup, state, setup.repository, listing, now()))


def check_verdict(judged: Judged, report: PruneReport) -> Outcome:
    """The check's outcome from the judgement and the dry run's `--list` IDs (only this
    repository's IDs count)."""
    setup, listing, decision = judged.setup, judged.listing, judged.decision
    names = {archive.id: archive.name for archive in listing}
    removed = [i for i in report.removed if i in names]
    kept = [i for i in report.kept if i in names]
    endangered = [names[i] for i in removed if i in decision.must_keep]
    summary = f"{len(listing)} archive(s); prune would keep {len(kept)} and remove {len(removed)}"
    problems = [refusal_summary(decision.reasons)] if decision.reasons else []
    last = judged.state.last_result or {}
    if last.get("status") == "refused":
        problems.append(f"the last scheduled run refused at {last.get('time')}")
    if endangered:
        problems.append(
            f"borgmatic's dry run would remove {len(endangered)} archive(s) that the policy "
            f"keeps by the server's clock ({capped_names(endangered)})"
        )
    if problems:
        return Outcome.refused(
            f"check {setup.repository}: REFUSED: {'; '.join(problems)}; {summary}",
            named_archives(decision.reasons) + endangered,
        )
    return Outcome.ok(f"check {setup.repository}: ok; {summary}")


def dry_run_alone(judged: Judged) -> PruneReport:
    setup = judged.setup
    result = setup.tools.run_borgmatic(setup.prune_config, *DRY_RUN)
    if result.returncode != 0:
        raise GuardFailure(
            f"borgmatic prune --dry-run for {setup.repository} failed (exit {result.returncode})"
        )
    return parse_prune_list(result.stdout + "\n" + result.stderr)


def reading(setup: ClientSetup) -> ClientSetup:
    """The setup with tools that only read (see `BorgTools.read_only`)."""
    return replace(setup, tools=replace(setup.tools, read_only=True))


def run_check(setup: ClientSetup, now: Callable[[], datetime]) -> Outcome:
    """Read-only: the decision on the live repository plus borgmatic's own dry run."""
    setup = reading(setup)
    judged = judge_repository(setup, now)
    if isinstance(judged, Outcome):
        return judged
    return check_verdict(judged, dry_run_alone(judged))


def _judge_or_fail(setup: ClientSetup, now: Callable[[], datetime]) -> Judged | Outcome:
    try:
        return judge_repository(setup, now)
    except (GuardFailure, StateError, SegmentError) as error:
        return Outcome.failed(str(error))
    except OSError as error:
        return Outcome.failed(f"{error.strerror or error}: {error.filename or ''}".rstrip(": "))


def dry_run_together(judged: list[Judged], answer: str | None) -> PruneReport | None:
    """One borgmatic run over a private directory holding a copy of every config; None when
    it failed (the caller then runs them one by one). Borgmatic asks `borg --version` once
    per config: with borg's `answer` (`borg_version_answer`), the copies name a stand-in
    that gives it and hands every other command to the real borg unchanged."""
    first = judged[0].setup
    folder = tempfile.mkdtemp(prefix=".check-", dir=first.state_dir)
    try:
        stand_in = version_stand_in(folder, first.tools, answer) if answer else None
        for item in judged:
            with open(
                item.setup.prune_config, encoding="utf-8", errors="surrogateescape"
            ) as source:
                text = source.read()
            if stand_in is not None:
                text = with_local_path(text, first.tools.borg, stand_in)
            target = os.path.join(folder, f"{item.setup.client}.yaml")
            with open(target, "x", encoding="utf-8", errors="surrogateescape") as copy:
                copy.write(text)
        result = first.tools.run_borgmatic(folder, *DRY_RUN)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if result.returncode != 0:
        return None
    return parse_prune_list(result.stdout + "\n" + result.stderr)


_LOCAL_PATH = re.compile(r"^([ \t]*local_path:[ \t]*)(\S+)[ \t]*$", re.MULTILINE)


def with_local_path(text: str, borg: str, stand_in: str) -> str:
    """The config with its one `local_path: BORG` line naming `stand_in`; unchanged when
    there is not exactly one such line (borgmatic then asks the real borg itself)."""
    found = _LOCAL_PATH.findall(text)
    if len(found) != 1 or found[0][1] != borg:
        return text
    return _LOCAL_PATH.sub(lambda m: m.group(1) + json.dumps(stand_in), text)


def borg_version_answer(tools: BorgTools) -> str | None:
    """What the real borg prints for `--version`, asked once per pass; None when it did not
    answer plainly (borgmatic then asks borg itself)."""
    result = tools.run([tools.borg, "--version"])
    answer = result.stdout
    if result.returncode != 0 or not answer.startswith("borg ") or "'" in answer:
        return None
    return answer


def version_stand_in(folder: str, tools: BorgTools, answer: str) -> str:
    """`FOLDER/borg`: answers `--version` with `answer` (see `borg_version_answer`) and runs
    the real borg for everything else."""
    path = os.path.join(folder, "borg")
    script = (
        "#!/bin/sh\n"
        f"if [ \"${{1:-}}\" = --version ]; then printf '%s' '{answer}'; exit 0; fi\n"
        f'exec {shlex.quote(tools.borg)} "$@"\n'
    )
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o700)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(script)
    return path


def run_checks(setups: list[ClientSetup], now: Callable[[], datetime]) -> dict[str, Outcome]:
    """`check` for every client in `setups`, with one joint prune dry run; by client."""
    setups = [reading(setup) for setup in setups]
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        judged = list(pool.map(lambda setup: _judge_or_fail(setup, now), setups))
    outcomes: dict[str, Outcome] = {}
    waiting = []
    for setup, item in zip(setups, judged):  # noqa: B905 (the server may run Python 3.9)
        if isinstance(item, Outcome):
            outcomes[setup.client] = item
        else:
            waiting.append(item)
    groups = [waiting[start::WORKERS] for start in range(min(WORKERS, len(waiting)))]
    joint = [group for group in groups if len(group) > 1]
    answer = borg_version_answer(joint[0][0].setup.tools) if joint else None
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        reports = list(
            pool.map(
                lambda group: dry_run_together(group, answer) if len(group) > 1 else None,
                groups,
            )
        )
    for group, report in zip(groups, reports):  # noqa: B905
        for item in group:
            try:
                outcome = check_verdict(item, report if report is not None else dry_run_alone(item))
            except GuardFailure as error:
                outcome = Outcome.failed(str(error))
            outcomes[item.setup.client] = outcome
    return {setup.client: outcomes[setup.client] for setup in setups}
