"""`status` without a Borg start-up for a repository that has not changed since the guard
last read it.

Whenever `status` (or `health`) starts Borg for a client, it records what Borg answered
(the number of archives, the newest, the deduplicated size) in `{client}.status.json`
beside the guard's state, together with the repository's **log marker**: the highest
segment file ending in a COMMIT entry (Borg's own transaction ID, found by the rule Borg
itself uses) and that file's size, modification time, inode and device. The next `status`
reads the marker again (a directory listing and the last bytes of a few segment files) and
answers from the record only when it is identical; otherwise, or when nothing is recorded,
it starts Borg and records again.

Why a client cannot make a changed repository look unchanged: through `borg serve
--append-only` every commit, final or intermediate, closes a segment file numbered above
every committed one (Borg first deletes uncommitted leftovers, and a client cannot delete
or rewrite committed segments: no compact, `check --repair` is refused in append-only
mode), so Borg's transaction ID only grows. A segment a client fills so that it seems to
end in a COMMIT is a higher number too. `hints.N`, `index.N` and `integrity.N` are written
at a commit but can lag behind the log (Borg replays the log then), so they are not the
marker. A file written later has another modification time, so even a transaction number
reached again after the operator rolled the log back (`recover`) is a change. The marker
is read before Borg starts and again after it exits; the record is written only when both
agree, so a commit during the reading is never recorded as unchanged.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass

from wizard.hostside.guard_decision import ListedArchive
from wizard.hostside.guard_segments import ends_with_commit
from wizard.hostside.guard_segments import segment_files
from wizard.hostside.guard_state import write_private_file
from wizard.hostside.guard_text import iso_utc
from wizard.hostside.guard_text import parse_iso_utc

STATUS_CACHE_VERSION = 1


@dataclass(frozen=True)
class Reading:
    """What `status` shows of one repository's contents: the number of archives, the
    newest (by time, then ID), and the deduplicated size (None: borg did not give one)."""

    archives: int
    newest: ListedArchive | None
    size: int | None


def reading_of(listing: list[ListedArchive], size: int | None) -> Reading:
    newest = max(listing, key=lambda archive: (archive.time, archive.id)) if listing else None
    return Reading(len(listing), newest, size)


def status_cache_file(state_dir: str, client: str) -> str:
    return os.path.join(state_dir, f"{client}.status.json")


def log_marker(repository: str) -> dict | None:
    """Borg's transaction ID as the segment log shows it, and its segment file's identity;
    None when nothing is committed or the log cannot be read (then Borg is asked)."""
    try:
        for number, path in reversed(segment_files(repository)):
            if ends_with_commit(path):
                stat = os.lstat(path)
                return {
                    "repository": repository,
                    "transaction": number,
                    "size": stat.st_size,
                    "mtime_ns": stat.st_mtime_ns,
                    "inode": stat.st_ino,
                    "device": stat.st_dev,
                }
    except OSError:
        return None
    return None


def cached_reading(record: dict | None, marker: dict | None) -> Reading | None:
    """Pure: the recorded reading when the repository's marker is exactly the one recorded
    with it; None (start Borg) when the log changed, nothing is recorded, or the marker
    could not be read."""
    if not isinstance(record, dict) or marker is None:
        return None
    if record.get("version") != STATUS_CACHE_VERSION or record.get("marker") != marker:
        return None
    try:
        newest = record["newest"]
        archive = None
        if newest is not None:
            archive = ListedArchive(newest["id"], newest["name"], parse_iso_utc(newest["time"]))
        archives, size = record["archives"], record["size"]
    except (KeyError, TypeError, ValueError):
        return None
    if type(archives) is not int or (size is not None and type(size) is not int):
        return None
    return Reading(archives, archive, size)


def record_json(marker: dict, reading: Reading) -> str:
    newest = reading.newest
    record = {
        "version": STATUS_CACHE_VERSION,
        "marker": marker,
        "archives": reading.archives,
        "newest": None
        if newest is None
        else {"id": newest.id, "name": newest.name, "time": iso_utc(newest.time)},
        "size": reading.size,
    }
    return json.dumps(record, indent=1, sort_keys=True) + "\n"


def load_record(state_dir: str, client: str) -> dict | None:
    try:
        with open(status_cache_file(state_dir, client), encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def save_record(state_dir: str, client: str, marker: dict, reading: Reading) -> None:
    """Best effort: a status that cannot write its record still answers (from Borg)."""
    with contextlib.suppress(OSError):
        path = status_cache_file(state_dir, client)
        write_private_file(state_dir, path, record_json(marker, reading))
