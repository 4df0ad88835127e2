"""Which stored objects a client deleted or overwrote since the guard's baseline.

`borg check --archives-only` finds a *missing* chunk, but not one a client overwrote
(`borg debug put-obj REPO ID FILE` through an append-only key writes a DEL and a new PUT
for an existing ID; the listing and `check --archives-only` stay clean, and compact would
drop the genuine copy). So the guard reads the repository's segment log itself.

Borg 1.x segment files (`data/N/M`, `borg/repository.py` LoggedIO): the magic `BORG_SEG`,
then entries `crc32 (4) | size (4, whole entry) | tag (1) | id (32, PUT and DELETE only) |
data`, tags PUT 0, DELETE 1, COMMIT 2. A transaction always writes new, higher-numbered
segment files and never rewrites old ones; only compact (which needs the non-append-only
access only the server has) does. The guard records the highest committed segment as its
baseline. Later it replays the log up to the baseline to know which objects were live
then, and reads every committed entry after it: a legitimate client only adds new objects
(and rewrites the manifest), so a DELETE or PUT naming an object live at the baseline is
tampering. Segments after the last commit are an unfinished transaction borg discards on
its next write; they are ignored.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator

SEGMENT_MAGIC = b"BORG_SEG"
TAG_PUT, TAG_DELETE, TAG_COMMIT = 0, 1, 2
ENTRY_HEADER = struct.Struct("<IIB")
MANIFEST_OBJECT_ID = bytes(32)
_COMMIT_BODY = struct.pack("<IB", ENTRY_HEADER.size, TAG_COMMIT)
COMMIT_ENTRY = struct.pack("<I", zlib.crc32(_COMMIT_BODY)) + _COMMIT_BODY


class SegmentError(Exception):
    """A committed segment that cannot be read as borg's log."""


def segment_files(repository: str) -> list[tuple[int, str]]:
    """(number, path) of every segment file, in log order (as borg's segment_iterator)."""
    data = os.path.join(repository, "data")
    found = []
    for directory in os.listdir(data):
        if not directory.isdigit():
            continue
        for name in os.listdir(os.path.join(data, directory)):
            if name.isdigit():
                found.append((int(name), os.path.join(data, directory, name)))
    return sorted(found)


def ends_with_commit(path: str) -> bool:
    with open(path, "rb") as segment:
        size = segment.seek(0, os.SEEK_END)
        if size < len(SEGMENT_MAGIC) + len(COMMIT_ENTRY):
            return False
        segment.seek(-len(COMMIT_ENTRY), os.SEEK_END)
        return segment.read(len(COMMIT_ENTRY)) == COMMIT_ENTRY


def last_committed_segment(repository: str, *, not_after: float | None = None) -> int | None:
    """The highest segment ending in a COMMIT (borg's transaction ID), or None if none is.

    `not_after`: only segments last modified at or before this time (seconds since the
    epoch), for a baseline migrated from the old guard, which recorded only a file time.
    """
    for number, path in reversed(segment_files(repository)):
        if not_after is not None and os.stat(path).st_mtime > not_after:
            continue
        if ends_with_commit(path):
            return number
    return None


def empty_log_boundary(repository: str) -> int | None:
    """The last committed segment when the committed log stores no object but the manifest
    (a repository as `borg init` leaves it): no archive can be read from it, so its
    baseline needs no `borg list`. None when anything else is stored, nothing is committed,
    or a committed segment is not borg's log (the caller then asks borg)."""
    committed = last_committed_segment(repository)
    if committed is None:
        return None
    try:
        for number, path in segment_files(repository):
            if number > committed:
                break
            for tag, object_id in entries_of(number, path):
                if tag != TAG_COMMIT and object_id != MANIFEST_OBJECT_ID:
                    return None
    except SegmentError:
        return None
    return committed


def entries_of(number: str | int, path: str) -> Iterator[tuple[int, bytes | None]]:
    """(tag, object ID or None) of every entry in one segment file, headers only."""
    with open(path, "rb") as segment:
        size = segment.seek(0, os.SEEK_END)
        segment.seek(0)
        if segment.read(len(SEGMENT_MAGIC)) != SEGMENT_MAGIC:
            raise SegmentError(f"segment {number} does not start with {SEGMENT_MAGIC!r}")
        offset = len(SEGMENT_MAGIC)
        while offset < size:
            header = segment.read(ENTRY_HEADER.size)
            if len(header) < ENTRY_HEADER.size:
                raise SegmentError(f"segment {number} ends inside an entry at offset {offset}")
            _crc, length, tag = ENTRY_HEADER.unpack(header)
            minimum = ENTRY_HEADER.size + (32 if tag in (TAG_PUT, TAG_DELETE) else 0)
            if tag not in (TAG_PUT, TAG_DELETE, TAG_COMMIT) or not (
                minimum <= length <= size - offset
            ):
                raise SegmentError(
                    f"segment {number} holds an entry borg 1.x does not write "
                    f"(tag {tag}, size {length}) at offset {offset}"
                )
            object_id = segment.read(32) if tag != TAG_COMMIT else None
            yield tag, object_id
            offset += length
            segment.seek(offset)


def touched_objects(repository: str, baseline: int) -> list[tuple[str, str]]:
    """(hex ID, "deleted"|"overwritten") for each object live at segment `baseline` that a
    committed entry after it deletes or re-puts (the manifest, rewritten by every commit,
    excepted). Raises SegmentError for a committed segment borg could not have written."""
    committed = last_committed_segment(repository)
    live: set[bytes] = set()
    touched: dict[bytes, str] = {}
    for number, path in segment_files(repository):
        if committed is None or number > committed:
            break
        for tag, object_id in entries_of(number, path):
            if number <= baseline:
                if tag == TAG_PUT:
                    live.add(object_id)
                elif tag == TAG_DELETE:
                    live.discard(object_id)
            elif object_id in live and object_id != MANIFEST_OBJECT_ID:
                touched[object_id] = "overwritten" if tag == TAG_PUT else "deleted"
    return [(object_id.hex(), how) for object_id, how in touched.items()]
