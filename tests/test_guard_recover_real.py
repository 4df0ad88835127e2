"""The guard's `inspect`, `rollback` and `drill` against real borg, without the SSH lab.

A compromised client deletes through its forced `borg serve --append-only` (see
tests/guard_lab.py); the guard, run as the repository's owner from its rendered one-file
program, rolls the repository back; the drill reads the newest archive and alerts a local
receiver when a segment is damaged.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.guard_lab import CLIENT, GuardLab, day_at, describe, stamp
from tests.real_tools import BORG, BORGMATIC_BINARIES, missing
from wizard.lab.receiver import NotificationReceiver

DAYS = (3, 2, 1)
NAMES = [f"{CLIENT}-{stamp(day_at(days))}" for days in DAYS]


@pytest.fixture
def lab(tmp_path: Path) -> GuardLab:
    variable, default = BORGMATIC_BINARIES["2"]
    borgmatic = os.environ.get(variable, default)
    if not os.access(BORG, os.X_OK) or not os.access(borgmatic, os.X_OK):
        missing("borg and borgmatic 2 are needed")
    lab = GuardLab(tmp_path, borgmatic, "2.1.10")
    source = tmp_path / "source"
    source.mkdir()
    (source / "notes.txt").write_text("genuine data\n")
    lab.client_borg("init", "--encryption", "repokey-blake2", "REPO")
    for name, days in zip(NAMES, DAYS, strict=True):
        (source / f"day-{days}.bin").write_bytes(os.urandom(60_000))
        lab.client_borg("create", "--timestamp", stamp(day_at(days)), f"REPO::{name}", str(source))
    result = lab.run_guard("init", CLIENT)
    assert result.returncode == 0, describe(result)
    return lab


def _inspect(lab: GuardLab) -> dict:
    result = lab.run_guard("inspect", CLIENT)
    assert result.returncode == 0, describe(result)
    return json.loads(result.stdout)


def test_a_rollback_brings_deleted_archives_back_and_keeps_a_copy(lab):
    lab.client_borg("create", f"REPO::{CLIENT}-before-attack", str(lab.root / "source"))
    for name in NAMES[:2]:
        lab.client_borg("delete", f"REPO::{name}")
    lab.client_borg("create", f"REPO::{CLIENT}-after-attack", str(lab.root / "source"))
    assert lab.run_guard("prune", CLIENT).returncode == 3
    report = _inspect(lab)
    assert [v["name"] for v in report["vanished"]] == NAMES[:2]
    rollback = report["rollback"]
    assert rollback["possible"] and rollback["archives_lost"] == [f"{CLIENT}-after-attack"]
    assert lab.run_guard("rollback", CLIENT, str(rollback["transaction"] + 1)).returncode == 3
    result = lab.run_guard("rollback", CLIENT, str(rollback["transaction"]))
    assert result.returncode == 0, describe(result)
    assert set(NAMES) | {f"{CLIENT}-before-attack"} == set(lab.names())
    (copy,) = [p for p in lab.repo_root.iterdir() if p.name.startswith(f".{CLIENT}.rollback-")]
    assert str(copy) in result.stdout
    assert lab.extract_dry_run_all(NAMES) == dict.fromkeys(NAMES, 0)
    assert lab.state()["last_result"]["status"] == "ok"
    pruned = lab.run_guard("prune", CLIENT)
    assert pruned.returncode == 0, describe(pruned)
    # The copy keeps the state before the rollback (same repository ID: to open it with
    # borg, its security record would have to go first; docs/how-to/recover-after-a-refusal.md
    # says so).
    kept = {int(Path(p).name) for p in lab.segments(copy)}
    assert max(kept) >= rollback["current"] and len(kept) > rollback["segments_removed"]
    assert f"transaction {rollback['current']}," in (copy / "transactions").read_text()


def test_no_rollback_over_a_compact_and_none_without_harm(lab):
    assert "nothing to roll back" in _inspect(lab)["rollback"]["reason"]
    lab.client_borg("delete", f"REPO::{NAMES[0]}")
    lab.server_borg("compact", str(lab.repo))
    rollback = _inspect(lab)["rollback"]
    assert not rollback["possible"] and "compact" in rollback["reason"]
    segments = lab.segments()
    result = lab.run_guard("rollback", CLIENT, str(rollback["transaction"] or rollback["current"]))
    assert result.returncode == 3 and "compact" in result.stderr
    assert lab.segments() == segments
    assert not [p for p in lab.repo_root.iterdir() if ".rollback-" in p.name]


def test_the_drill_reads_the_newest_archive_and_alerts_when_a_segment_is_damaged(lab):
    with NotificationReceiver() as receiver:
        (lab.state_dir / "alerts.json").write_text(json.dumps({"webhook": receiver.url("/h")}))
        result = lab.run_guard("drill")
        assert result.returncode == 0, describe(result)
        drill = lab.state()["last_drill"]
        assert (drill["status"], drill["archive"]) == ("ok", NAMES[-1])
        assert not receiver.take()
        newest = max(lab.repo.glob("data/*/*"), key=lambda p: (p.stat().st_size, p.name))
        with open(newest, "r+b") as segment:
            segment.seek(4000)
            segment.write(b"damage" * 8)
        result = lab.run_guard("drill", CLIENT)
        assert result.returncode == 3, describe(result)
        assert "restore drill FAILED" in result.stderr
        assert lab.state()["last_drill"]["status"] == "failed"
        hooks = [n.json for n in receiver.take() if n.path == "/h"]
        assert [(h["client"], h["state"]) for h in hooks] == [(CLIENT, "drill_failed")]
