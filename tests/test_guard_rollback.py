"""The rollback's decision (which transaction, or why none) on hand-made segment logs, and
its file operations on a hand-made repository directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wizard.hostside.guard_rollback import (
    choose_rollback_target,
    hard_link_copy,
    live_objects,
    parse_transactions,
    remove_later_transactions,
    security_record,
)
from wizard.hostside.guard_segments import MANIFEST_OBJECT_ID, TAG_COMMIT, TAG_DELETE, TAG_PUT

A, B, C, D = (bytes([n]) * 32 for n in (1, 2, 3, 4))


def put(segment: int, object_id: bytes):
    return (segment, TAG_PUT, object_id)


def delete(segment: int, object_id: bytes):
    return (segment, TAG_DELETE, object_id)


def commit(segment: int):
    return (segment, TAG_COMMIT, None)


# baseline at 2: A and B recorded; 4: a backup (C); 6: the attack deletes A; 8: a backup (D)
LOG = [
    put(1, A),
    put(1, MANIFEST_OBJECT_ID),
    commit(1),
    put(2, B),
    delete(2, MANIFEST_OBJECT_ID),
    put(2, MANIFEST_OBJECT_ID),
    commit(2),
    put(3, C),
    delete(4, MANIFEST_OBJECT_ID),
    put(4, MANIFEST_OBJECT_ID),
    commit(4),
    delete(5, A),
    put(6, MANIFEST_OBJECT_ID),
    commit(6),
    put(7, D),
    commit(8),
]


def test_the_target_is_the_last_commit_before_the_first_harmful_one():
    target = choose_rollback_target(LOG, 2, {4, 6, 8}, segments=range(1, 10))
    assert target.possible and target.reason is None
    assert (target.transaction, target.first_bad, target.current) == (4, 6, 8)
    assert target.later_segments == (5, 6, 7, 8, 9)


def test_the_manifest_rewritten_by_every_commit_is_not_harm():
    harmless = [entry for entry in LOG if entry[2] != A or entry[0] < 5]
    target = choose_rollback_target(harmless, 2, {4, 6, 8})
    assert not target.possible and "nothing to roll back" in target.reason


def test_an_object_added_and_deleted_after_the_baseline_is_not_harm():
    log = [*LOG[:7], put(3, C), commit(3), delete(4, C), commit(4)]
    assert "nothing to roll back" in choose_rollback_target(log, 2, {3, 4}).reason


def test_an_overwrite_of_a_recorded_object_is_harm_too():
    log = [*LOG[:7], delete(3, B), put(3, B), commit(3)]
    target = choose_rollback_target(log, 2, {3})
    assert (target.transaction, target.first_bad) == (2, 3)


def test_a_commit_after_the_target_missing_from_the_transactions_log_refuses():
    target = choose_rollback_target(LOG, 2, {4, 6})  # 8: compact, or a delete on the server
    assert not target.possible
    assert "transaction 8" in target.reason and "compact" in target.reason
    assert target.transaction == 4


def test_the_baseline_must_still_be_in_the_log():
    target = choose_rollback_target(LOG[7:], 2, {4, 6, 8})
    assert not target.possible and "no longer in the segment log" in target.reason


def test_unlogged_commits_up_to_the_target_are_fine():
    """The guard's own prune and compact (up to its baseline) never reach the log."""
    assert choose_rollback_target(LOG, 2, {6, 8}).transaction == 4


def test_live_objects_at_a_transaction():
    assert live_objects(LOG, 4) == {A, B, C, MANIFEST_OBJECT_ID}
    assert live_objects(LOG, 8) == {B, C, D, MANIFEST_OBJECT_ID}


def test_the_transactions_log_is_parsed_and_foreign_lines_ignored():
    text = (
        "transaction 4, UTC time 2026-01-02T03:00:00.123456\n"
        "garbage\n"
        "transaction 12, UTC time 2026-01-03T03:00:00.5\n"
    )
    assert parse_transactions(text) == {
        4: "2026-01-02T03:00:00.123456",
        12: "2026-01-03T03:00:00.5",
    }


def test_the_security_record_follows_borgs_own_directories():
    repo = "ab" * 32
    assert security_record(repo, {"HOME": "/home/borg"}) == (
        f"/home/borg/.config/borg/security/{repo}/manifest-timestamp"
    )
    assert security_record(repo, {"HOME": "/h", "XDG_CONFIG_HOME": "/x"}).startswith(
        "/x/borg/security/"
    )
    assert security_record(repo, {"BORG_SECURITY_DIR": "/s"}) == f"/s/{repo}/manifest-timestamp"


def _fake_repository(root: Path) -> Path:
    repo = root / "repo"
    (repo / "data" / "0").mkdir(parents=True)
    for number in range(1, 8):
        (repo / "data" / "0" / str(number)).write_bytes(b"BORG_SEG" + bytes([number]))
    for name in ("hints.4", "index.4", "integrity.4", "hints.7", "index.7", "integrity.7"):
        (repo / name).write_text(name)
    (repo / "config").write_text("[repository]\n")
    (repo / "transactions").write_text(
        "transaction 2, UTC time 2026-01-01T00:00:00\n"
        "transaction 4, UTC time 2026-01-02T00:00:00\n"
        "transaction 7, UTC time 2026-01-03T00:00:00\n"
    )
    return repo


def test_a_rollback_removes_what_came_later_and_the_copy_keeps_it(tmp_path):
    repo = _fake_repository(tmp_path)
    copy = tmp_path / ".repo.rollback"
    hard_link_copy(str(repo), str(copy))
    assert os.stat(repo / "data/0/5").st_ino == os.stat(copy / "data/0/5").st_ino
    assert os.stat(repo / "transactions").st_ino != os.stat(copy / "transactions").st_ino
    removed = remove_later_transactions(str(repo), 4)
    assert sorted(removed) == sorted(
        ["hints.7", "index.7", "integrity.7", "data/0/5", "data/0/6", "data/0/7"]
    )
    assert sorted(os.listdir(repo / "data/0")) == ["1", "2", "3", "4"]
    assert (repo / "index.4").exists()
    assert "transaction 7" not in (repo / "transactions").read_text()
    assert "transaction 7" in (copy / "transactions").read_text()
    assert sorted(os.listdir(copy / "data/0")) == [str(n) for n in range(1, 8)]
    with pytest.raises(FileExistsError):
        hard_link_copy(str(repo), str(copy))
