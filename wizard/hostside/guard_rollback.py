"""Borg's append-only rollback, decided from the segment log and done on the files.

Borg's documented way back from a deletion through an append-only key (*Additional Notes →
Append-only mode*): each commit made through such a key appends `transaction N, UTC time
...` to the repository's `transactions` file, N being the segment of that commit. Rolling
back to transaction T means removing `hints.N`, `index.N` and `integrity.N` of the newer
transactions and every segment after T; Borg rebuilds its index from the segments left.

Which T: the last commit before the first commit that deleted or overwrote an object that
was live at the guard's baseline (`committed_segment`), i.e. the last state in which every
recorded archive and chunk was still there. Rolling back over a commit that did not come
through an append-only key (compact, a delete as the borg user) could lose what that
write rearranged, so such a commit after T (a commit missing from `transactions`) makes
the rollback refuse.

`choose_rollback_target` is pure; the rest touches the files, called by `guard_recover`.
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
from collections.abc import Collection
from collections.abc import Sequence
from dataclasses import dataclass

from wizard.hostside.guard_segments import MANIFEST_OBJECT_ID
from wizard.hostside.guard_segments import TAG_COMMIT
from wizard.hostside.guard_segments import TAG_DELETE
from wizard.hostside.guard_segments import TAG_PUT
from wizard.hostside.guard_segments import entries_of
from wizard.hostside.guard_segments import last_committed_segment
from wizard.hostside.guard_segments import segment_files

Entry = tuple  # (segment number, tag, object ID or None)
_TRANSACTION_RE = re.compile(r"transaction (\d+), UTC time (\S+)")
_INDEX_FILE_RE = re.compile(r"(hints|index|integrity)\.(\d+)\Z")


@dataclass(frozen=True)
class RollbackTarget:
    """The transaction to roll back to, or why there is none (`reason`)."""

    transaction: int | None
    current: int | None
    first_bad: int | None
    later_segments: tuple[int, ...]
    reason: str | None = None

    @property
    def possible(self) -> bool:
        return self.reason is None


def choose_rollback_target(
    entries: Sequence[Entry],
    baseline: int,
    logged: Collection[int],
    segments: Sequence[int] = (),
) -> RollbackTarget:
    """`entries`: (segment, tag, object ID) of every committed entry, in log order;
    `baseline`: the guard's committed segment; `logged`: the transactions in the
    repository's `transactions` file; `segments`: every segment file's number."""
    live: set = set()
    commits: list[int] = []
    first_bad = None
    dirty = False
    for segment, tag, object_id in entries:
        if tag == TAG_COMMIT:
            commits.append(segment)
            if dirty and first_bad is None:
                first_bad = segment
            dirty = False
        elif segment <= baseline:
            if tag == TAG_PUT:
                live.add(object_id)
            elif tag == TAG_DELETE:
                live.discard(object_id)
        elif object_id in live and object_id != MANIFEST_OBJECT_ID:
            dirty = True
    current = commits[-1] if commits else None

    def refused(reason: str, target: int | None = None) -> RollbackTarget:
        return RollbackTarget(target, current, first_bad, (), reason)

    if baseline not in commits:
        return refused(
            f"the guard's baseline, transaction {baseline}, is no longer in the segment log: "
            "compact (or another write without --append-only) ran since and rewrote it, so "
            "a rollback cannot tell what was recorded"
        )
    if first_bad is None:
        return refused(
            f"no commit since the guard's baseline (transaction {baseline}) deleted or "
            "overwrote a recorded archive or chunk: there is nothing to roll back"
        )
    target = max(commit for commit in commits if commit < first_bad)
    unlogged = [commit for commit in commits if commit > target and commit not in logged]
    if unlogged:
        return refused(
            f"transaction {unlogged[0]}, after transaction {target}, is not in the "
            "repository's transactions log: compact (or another write without "
            "--append-only) ran since, and rolling back over it could lose data it moved; "
            "restore the repository from a copy made before it instead",
            target,
        )
    later = tuple(sorted({n for n in segments if n > target} | {c for c in commits if c > target}))
    return RollbackTarget(target, current, first_bad, later)


def live_objects(entries: Sequence[Entry], upto: int) -> set:
    """Object IDs live after the commit in segment `upto` (for what a rollback keeps)."""
    live: set = set()
    for segment, tag, object_id in entries:
        if segment > upto:
            break
        if tag == TAG_PUT:
            live.add(object_id)
        elif tag == TAG_DELETE:
            live.discard(object_id)
    return live


def parse_transactions(text: str) -> dict[int, str]:
    """`transactions` lines → {N: UTC time}; lines that are not Borg's are ignored."""
    found = {}
    for line in text.splitlines():
        match = _TRANSACTION_RE.match(line.strip())
        if match:
            found[int(match[1])] = match[2]
    return found


def read_transactions(repository: str) -> dict[int, str]:
    try:
        with open(os.path.join(repository, "transactions"), encoding="utf-8") as handle:
            return parse_transactions(handle.read())
    except FileNotFoundError:
        return {}


def log_entries(repository: str) -> tuple[list[Entry], list[int]]:
    """Every committed entry (segment, tag, ID) in log order, and every segment's number
    (uncommitted ones too: a rollback removes them as well)."""
    files = segment_files(repository)
    committed = last_committed_segment(repository)
    entries = []
    for number, path in files:
        if committed is None or number > committed:
            break
        entries += [(number, tag, object_id) for tag, object_id in entries_of(number, path)]
    return entries, [number for number, _ in files]


def repository_id(repository: str) -> str:
    """The repository's ID (64 hex) from its `config`."""
    parser = configparser.ConfigParser(interpolation=None)
    with open(os.path.join(repository, "config"), encoding="utf-8") as handle:
        parser.read_file(handle)
    value = parser.get("repository", "id", fallback="")
    if not re.fullmatch(r"[0-9a-f]{64}", value):
        raise ValueError(f"{repository}/config holds no repository ID")
    return value


def security_record(repo_id: str, environ: dict | None = None) -> str:
    """`manifest-timestamp` in Borg 1.x's security directory of the running user."""
    env = os.environ if environ is None else environ
    base = env.get("BORG_SECURITY_DIR")
    if not base:
        config = env.get("BORG_CONFIG_DIR") or os.path.join(
            env.get("XDG_CONFIG_HOME") or os.path.join(env.get("HOME", "~"), ".config"), "borg"
        )
        base = os.path.join(config, "security")
    return os.path.join(base, repo_id, "manifest-timestamp")


def hard_link_copy(repository: str, copy: str) -> None:
    """`cp -al` of the repository, then real copies of its top-level files (index,
    hints, config, transactions, ...), which Borg may rewrite or append to in place; the
    segments stay shared, since Borg never changes a segment file, it only removes one."""
    if os.path.lexists(copy):
        raise FileExistsError(f"{copy} exists already")
    cp = shutil.which("cp") or "/bin/cp"
    subprocess.run([cp, "-al", "--", repository, copy], check=True, capture_output=True)
    for name in os.listdir(copy):
        path = os.path.join(copy, name)
        if os.path.isfile(path) and not os.path.islink(path):
            temporary = path + ".borgkeep-copy"
            shutil.copy2(path, temporary)
            os.replace(temporary, path)


def remove_later_transactions(repository: str, target: int) -> list[str]:
    """The rollback itself: index/hints/integrity files and segments after `target`
    removed, and `transactions` rewritten without the later lines. Returns what went."""
    removed = []
    for name in sorted(os.listdir(repository)):
        match = _INDEX_FILE_RE.match(name)
        if match and int(match[2]) > target:
            os.unlink(os.path.join(repository, name))
            removed.append(name)
    for number, path in segment_files(repository):
        if number > target:
            os.unlink(path)
            removed.append(os.path.relpath(path, repository))
    log = os.path.join(repository, "transactions")
    if os.path.exists(log):
        with open(log, encoding="utf-8") as handle:
            lines = handle.read().splitlines(keepends=True)
        kept = [
            line
            for line in lines
            if not (m := _TRANSACTION_RE.match(line.strip())) or int(m[1]) <= target
        ]
        temporary = log + ".borgkeep-rollback"
        with open(temporary, "x", encoding="utf-8") as handle:
            handle.writelines(kept)
        os.replace(temporary, log)
    return removed
