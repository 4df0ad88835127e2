"""The guard's state file, `{state_dir}/{client}.guard.json` (read later by `borgkeep status`).

Version 1, all times ISO 8601 UTC strings::

    {
      "version": 1,
      "client": "host1",
      "repository": "/backups/host1",
      "last_run": "2026-01-02T05:30:00+00:00",     # last baseline recorded (init,
                                                    # acknowledge, or a completed prune)
      "last_prune": "2026-01-02T05:30:00+00:00",   # or null: never pruned
      "last_result": {"time": ISO, "status": "ok" | "refused" | "failed",
                      "message": "the line that was printed",
                      "archives": ["names the message is about, escaped"]},   # or null
      "committed_segment": 42,                      # the segment log's baseline, or null
      "last_drill": {"time": ISO,                   # the last restore drill (`drill`), or
                     "archive": "host1-2026-...",   # null/absent: never drilled; the newest
                     "status": "ok" | "failed" | "skipped",   # archive, escaped; skipped:
                     "message": "the line that was printed"}, # no archive yet
      "identity": {"id": "<64-hex repository id>",  # the repository's identity at the
                   "key_sha256": "<64 hex>",         # baseline (see guard_identity); absent
                   "settings": {"version": "1", ...}},  # in older states
      "archives": {
        "<64-hex ID>": {"name": "host1-2026-01-02T03:00:00",
                        "time": ISO,                # the archive's own timestamp
                        "first_seen": ISO,          # when the guard first listed it
                        "seen_after": ISO | null}   # the guard's observation before that
      }                                             # (null: recorded at init, no lower bound)
    }

Writes are atomic (a 0600 `mkstemp` file in the same directory, fsync, `os.replace`); reads
never follow a symlink. The old shell guard's `{client}.archives` ("ID NAME" lines) is
migrated with `first_seen` = that file's mtime.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timezone

from wizard.hostside.guard_decision import ListedArchive
from wizard.hostside.guard_decision import RecordedArchive
from wizard.hostside.guard_text import iso_utc
from wizard.hostside.guard_text import parse_iso_utc

STATE_VERSION = 1
_OLD_STATE_LINE_RE = re.compile(r"([0-9a-f]{64}) (.*)\Z")


class StateError(Exception):
    """A state file that cannot be used as it is (unreadable, wrong version, bad content)."""


@dataclass
class GuardState:
    client: str
    repository: str
    last_run: datetime
    archives: dict[str, RecordedArchive]
    last_prune: datetime | None = None
    last_result: dict | None = None
    committed_segment: int | None = None
    last_drill: dict | None = None
    identity: dict | None = None
    migrated: bool = field(default=False, compare=False)


def guard_state_file(state_dir: str, client: str) -> str:
    return os.path.join(state_dir, f"{client}.guard.json")


def old_state_file(state_dir: str, client: str) -> str:
    """Where the shell guard kept its "ID NAME" list."""
    return os.path.join(state_dir, f"{client}.archives")


def _read_text(path: str) -> str | None:
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise StateError(f"cannot open {path}: {error.strerror}") from None
    with os.fdopen(descriptor, encoding="utf-8") as handle:
        return handle.read()


def _time(value: object, where: str) -> datetime:
    if not isinstance(value, str):
        raise StateError(f"{where}: expected an ISO 8601 time, got {value!r}")
    try:
        return parse_iso_utc(value)
    except ValueError:
        raise StateError(f"{where}: {value!r} is not an ISO 8601 time") from None


def _optional_time(value: object, where: str) -> datetime | None:
    return None if value is None else _time(value, where)


def state_from_json(text: str, path: str) -> GuardState:
    try:
        data = json.loads(text)
    except ValueError as error:
        raise StateError(f"{path} is not JSON: {error}") from None
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        raise StateError(f"{path} is not a version {STATE_VERSION} guard state")
    archives = {}
    entries = data.get("archives")
    if not isinstance(entries, dict):
        raise StateError(f"{path}: 'archives' must be a mapping")
    for archive_id, entry in entries.items():
        where = f"{path}: archives.{archive_id[:16]}"
        if not re.fullmatch(r"[0-9a-f]{64}", archive_id) or not isinstance(entry, dict):
            raise StateError(f"{where}: not a 64-hex archive ID with its entry")
        if not isinstance(entry.get("name"), str):
            raise StateError(f"{where}: 'name' must be a string")
        archives[archive_id] = RecordedArchive(
            name=entry["name"],
            time=_time(entry.get("time"), f"{where}.time"),
            first_seen=_time(entry.get("first_seen"), f"{where}.first_seen"),
            seen_after=_optional_time(entry.get("seen_after"), f"{where}.seen_after"),
        )
    segment = data.get("committed_segment")
    if segment is not None and (not isinstance(segment, int) or isinstance(segment, bool)):
        raise StateError(f"{path}: 'committed_segment' must be a number or null")
    result = data.get("last_result")
    drill = data.get("last_drill")
    identity = data.get("identity")
    if identity is not None and not _is_identity(identity):
        raise StateError(f"{path}: 'identity' must hold a 64-hex id, key_sha256 and settings")
    return GuardState(
        client=str(data.get("client")),
        repository=str(data.get("repository")),
        last_run=_time(data.get("last_run"), f"{path}: last_run"),
        archives=archives,
        last_prune=_optional_time(data.get("last_prune"), f"{path}: last_prune"),
        last_result=result if isinstance(result, dict) else None,
        committed_segment=segment,
        last_drill=drill if isinstance(drill, dict) else None,
        identity=identity,
    )


def _is_identity(value: object) -> bool:
    if not isinstance(value, dict) or set(value) != {"id", "key_sha256", "settings"}:
        return False
    settings = value["settings"]
    return (
        all(
            isinstance(value[k], str) and re.fullmatch(r"[0-9a-f]{64}", value[k])
            for k in ("id", "key_sha256")
        )
        and isinstance(settings, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in settings.items())
    )


def state_to_json(state: GuardState) -> str:
    archives = {
        archive_id: {
            "name": seen.name,
            "time": iso_utc(seen.time),
            "first_seen": iso_utc(seen.first_seen),
            "seen_after": None if seen.seen_after is None else iso_utc(seen.seen_after),
        }
        for archive_id, seen in sorted(state.archives.items())
    }
    data = {
        "version": STATE_VERSION,
        "client": state.client,
        "repository": state.repository,
        "last_run": iso_utc(state.last_run),
        "last_prune": None if state.last_prune is None else iso_utc(state.last_prune),
        "last_result": state.last_result,
        "committed_segment": state.committed_segment,
        "archives": archives,
    }
    if state.last_drill is not None:
        data["last_drill"] = state.last_drill
    if state.identity is not None:
        data["identity"] = state.identity
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


def load_state(state_dir: str, client: str) -> GuardState | None:
    """The recorded state, or None when there is none (see `migrate_old_state` for the
    shell guard's list). Raises StateError for a file that exists but cannot be used."""
    path = guard_state_file(state_dir, client)
    text = _read_text(path)
    return None if text is None else state_from_json(text, path)


def read_old_state(state_dir: str, client: str) -> tuple[dict[str, str], datetime] | None:
    """The shell guard's {ID: name} and its file's mtime, or None when there is none."""
    path = old_state_file(state_dir, client)
    text = _read_text(path)
    if text is None:
        return None
    names = {}
    for number, line in enumerate(text.splitlines(), 1):
        match = _OLD_STATE_LINE_RE.match(line)
        if match is None:
            raise StateError(f"{path}:{number}: not an 'ID NAME' line")
        names[match[1]] = match[2]
    mtime = os.stat(path, follow_symlinks=False).st_mtime
    return names, datetime.fromtimestamp(mtime, timezone.utc)


def migrate_old_state(
    client: str,
    repository: str,
    old_names: dict[str, str],
    written: datetime,
    listing: list[ListedArchive],
    committed_segment: int | None,
) -> GuardState:
    """A state from the shell guard's list, which held no times: a listed ID takes its name
    and time from the listing (an ID fixes both); a missing one keeps the old name and the
    file's time, and will be reported as deleted. `first_seen` = the file's mtime."""
    listed = {archive.id: archive for archive in listing}
    archives = {}
    for archive_id, name in old_names.items():
        archive = listed.get(archive_id)
        archives[archive_id] = RecordedArchive(
            name=archive.name if archive else name,
            time=archive.time if archive else written,
            first_seen=written,
            seen_after=None,
        )
    return GuardState(
        client=client,
        repository=repository,
        last_run=written,
        archives=archives,
        committed_segment=committed_segment,
        migrated=True,
    )


def save_state(state_dir: str, state: GuardState) -> str:
    """Write the state atomically (0600, never through a symlink); returns its path."""
    path = guard_state_file(state_dir, state.client)
    write_private_file(state_dir, path, state_to_json(state))
    return path


def write_private_file(directory: str, path: str, text: str) -> None:
    """A new 0600 file in `directory` (O_EXCL via mkstemp), fsynced, then renamed onto `path`."""
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=".borgkeep-", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
