"""`status` from the guard's record: the decision (unchanged, changed, nothing recorded) on
hand-made segment logs and records, and that a cached reading judges like a listing."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from wizard.hostside.guard_decision import ListedArchive
from wizard.hostside.guard_health import judge_client
from wizard.hostside.guard_segments import COMMIT_ENTRY, SEGMENT_MAGIC
from wizard.hostside.guard_status_cache import (
    cached_reading,
    load_record,
    log_marker,
    reading_of,
    record_json,
    save_record,
)

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
OLDER = ListedArchive("a" * 64, "host1-a", NOW - timedelta(days=2))
NEWER = ListedArchive("b" * 64, "host1-b", NOW - timedelta(hours=3, microseconds=7))
READING = reading_of([OLDER, NEWER], 123456)


def _segment(repo: Path, number: int, *, committed: bool, body: bytes = b"x" * 20) -> Path:
    path = repo / "data" / str(number // 1000) / str(number)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(SEGMENT_MAGIC + body + (COMMIT_ENTRY if committed else b""))
    return path


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "host1"
    _segment(repo, 1, committed=True)
    _segment(repo, 2, committed=True)
    return repo


def _record(marker: dict) -> dict:
    return json.loads(record_json(marker, READING))


def test_an_unchanged_log_answers_from_the_record(tmp_path):
    repo = _repo(tmp_path)
    marker = log_marker(str(repo))
    assert marker is not None and marker["transaction"] == 2
    assert cached_reading(_record(marker), log_marker(str(repo))) == READING


def test_nothing_recorded_or_an_unreadable_log_means_borg(tmp_path):
    repo = _repo(tmp_path)
    assert cached_reading(None, log_marker(str(repo))) is None
    assert cached_reading({"garbage": 1}, log_marker(str(repo))) is None
    assert log_marker(str(tmp_path / "nowhere")) is None
    assert cached_reading(_record(log_marker(str(repo))), None) is None
    broken = _record(log_marker(str(repo))) | {"archives": "2"}
    assert cached_reading(broken, log_marker(str(repo))) is None
    other_version = _record(log_marker(str(repo))) | {"version": 99}
    assert cached_reading(other_version, log_marker(str(repo))) is None


def test_a_new_commit_is_a_change(tmp_path):
    repo = _repo(tmp_path)
    record = _record(log_marker(str(repo)))
    _segment(repo, 3, committed=True)
    assert log_marker(str(repo))["transaction"] == 3
    assert cached_reading(record, log_marker(str(repo))) is None


def test_an_unfinished_transaction_is_not_a_change_but_its_commit_is(tmp_path):
    """Segments after the last COMMIT are discarded by borg: they change nothing it reads."""
    repo = _repo(tmp_path)
    record = _record(log_marker(str(repo)))
    _segment(repo, 3, committed=False)
    assert cached_reading(record, log_marker(str(repo))) == READING
    _segment(repo, 3, committed=True)
    assert cached_reading(record, log_marker(str(repo))) is None


def test_a_segment_filled_to_look_committed_is_a_change(tmp_path):
    """A client controls a PUT's bytes: data ending like a COMMIT makes borg take the
    segment as committed too, and it is a higher transaction."""
    repo = _repo(tmp_path)
    record = _record(log_marker(str(repo)))
    _segment(repo, 3, committed=False, body=b"payload" + COMMIT_ENTRY)
    assert cached_reading(record, log_marker(str(repo))) is None


def test_the_same_transaction_number_written_again_is_a_change(tmp_path):
    """After a rollback (the log cut back) the client's next commits reach the recorded
    number again, in a new file: another time, inode or size."""
    repo = _repo(tmp_path)
    marker = log_marker(str(repo))
    record = _record(marker)
    segment = repo / "data" / "0" / "2"
    segment.unlink()
    _segment(repo, 2, committed=True)
    os.utime(segment, ns=(marker["mtime_ns"], marker["mtime_ns"] + 1))
    assert cached_reading(record, log_marker(str(repo))) is None


def test_a_record_of_another_repository_is_not_used(tmp_path):
    repo = _repo(tmp_path)
    marker = log_marker(str(repo))
    assert cached_reading(_record(marker | {"repository": "/elsewhere"}), marker) is None


def test_the_record_round_trips_through_the_state_directory(tmp_path):
    repo = _repo(tmp_path)
    marker = log_marker(str(repo))
    save_record(str(tmp_path), "host1", marker, READING)
    assert (tmp_path / "host1.status.json").stat().st_mode & 0o777 == 0o600
    assert cached_reading(load_record(str(tmp_path), "host1"), marker) == READING
    assert load_record(str(tmp_path), "host2") is None
    save_record(str(tmp_path / "missing"), "host1", marker, READING)  # best effort, no raise


def test_a_cached_reading_judges_exactly_like_the_listing():
    for listing in ([OLDER, NEWER], [], [NEWER, OLDER]):
        fresh = judge_client("host1", listing, None, timedelta(days=1), NOW)
        cached = judge_client("host1", reading_of(listing, None), None, timedelta(days=1), NOW)
        assert cached.as_json() == fresh.as_json()
    assert reading_of([OLDER, NEWER], 5).newest == NEWER
    tie = ListedArchive("c" * 64, "host1-c", NEWER.time)
    assert reading_of([tie, NEWER], None).newest == tie
