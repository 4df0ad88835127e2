"""Each client's state, judged on the server: error, refused, never, stale, ok."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from wizard.hostside.guard_decision import ListedArchive, RecordedArchive
from wizard.hostside.guard_health import health_problems, judge_client
from wizard.hostside.guard_state import GuardState
from wizard.inventory.parse import parse_inventory
from wizard.pipeline.status import parse_status
from wizard.reports import ago, render_status_text, status_rows

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def _archive(name: str, age: timedelta, archive_id: str | None = None) -> ListedArchive:
    return ListedArchive(archive_id or name.encode().hex().ljust(64, "0"), name, NOW - age)


def _state(archives: list[ListedArchive], result: dict | None = None) -> GuardState:
    recorded = {
        a.id: RecordedArchive(a.name, a.time, a.time + timedelta(hours=4), None) for a in archives
    }
    return GuardState("host1", "/b/host1", NOW - DAY, recorded, NOW - DAY, result)


def test_a_fresh_backup_is_ok_and_names_its_newest_archive_and_when_it_was_first_seen():
    listing = [_archive("host1-a", 2 * DAY), _archive("host1-b", timedelta(hours=9))]
    health = judge_client("host1", listing, _state(listing), 2 * DAY, NOW)
    assert health.state == "ok" and health.problems == []
    assert health.newest == {
        "name": "host1-b",
        "time": "2026-03-10T03:00:00+00:00",
        "first_seen": "2026-03-10T07:00:00+00:00",
    }
    assert health.archives == 2 and health.guard["last_result"] is None


def test_older_than_stale_after_is_stale():
    listing = [_archive("host1-a", 3 * DAY)]
    health = judge_client("host1", listing, _state(listing), 2 * DAY, NOW)
    assert health.state == "stale" and "(3 days ago)" in health.problems[0]
    assert "host1-a" in health.problems[0]


def test_no_archive_is_never():
    assert judge_client("host1", [], _state([]), DAY, NOW).state == "never"


def test_a_refusal_wins_over_staleness_and_names_the_archives():
    listing = [_archive("host1-a", 5 * DAY)]
    refused = {"status": "refused", "time": "2026-03-09T07:30:00+00:00", "message": "REFUSING",
               "archives": ["host1-gone"]}  # fmt: skip
    health = judge_client("host1", listing, _state(listing, refused), DAY, NOW)
    assert health.state == "refused"
    assert "host1-gone" in health.problems[0] and "stale" in health.problems[1]


def test_an_unreadable_repository_or_missing_baseline_is_an_error():
    assert judge_client("host1", None, _state([]), DAY, NOW, "borg list failed").state == "error"
    assert judge_client("host1", [], None, DAY, NOW).state == "error"


def test_hostile_names_are_escaped_in_the_status():
    listing = [_archive("host1-\x1b[2Jx", timedelta(hours=1))]
    health = judge_client("host1", listing, _state(listing), DAY, NOW)
    assert health.newest["name"] == "host1-\\x1b[2Jx"


def test_health_problems_cover_clients_and_low_space():
    status = {
        "server": {"repo_root": "/b", "free": 5 * 2**20, "total": 100 * 2**20, "low_space": True},
        "clients": [
            {"name": "a", "state": "ok", "problems": []},
            {"name": "b", "state": "stale", "problems": ["stale: old"]},
        ],
    }
    assert health_problems(status) == [
        ("server", "low_space", "low disk space at /b: 5 MiB free of 100 MiB"),
        ("b", "stale", "stale: old"),
    ]


INVENTORY = """\
version: 1
server: {name: nas, ssh: root@nas}
retention: {keep_daily: 7}
clients:
  - {name: a, ssh: a, source_directories: [/x]}
  - {name: b, ssh: b, source_directories: [/x]}
  - {name: new, ssh: c, source_directories: [/x]}
"""


def test_the_status_joins_the_inventory_and_puts_problems_first():
    guard_json = {
        "time": "2026-03-10T12:00:00+00:00",
        "server": {"name": "nas", "repo_root": "/b", "free": 10, "total": 20, "low_space": False},
        "clients": [
            {"name": "a", "state": "ok", "archives": 3, "size": 2048,
             "newest_archive": {"name": "a-1", "time": "2026-03-10T09:00:00+00:00",
                                "first_seen": None},
             "quota": {"used": 4096, "limit": None}, "guard": {}, "problems": []},
            {"name": "b", "state": "stale", "archives": 1, "problems": ["stale: x"]},
        ],
    }  # fmt: skip
    report = parse_status(json.dumps(guard_json), parse_inventory(INVENTORY))
    assert [c.state for c in report.by_urgency()] == ["error", "stale", "ok"]
    assert report.by_urgency()[0].problems == ("not set up on the server yet: run borgkeep apply",)
    assert not report.ok
    rows = status_rows(report, NOW)
    assert rows[-1][:4] == ("✓", "a", "ok", "3 h ago")
    text = render_status_text(report, NOW)
    assert "2 client(s) need attention" in text and "b: stale: x" in text
    assert set(json.loads(report.to_json())["clients"][0]) >= {
        "name", "state", "newest_archive", "archives", "size", "guard", "problems"
    }  # fmt: skip


def test_ago_reads_like_a_person():
    assert ago(None, NOW) == "never"
    assert ago(NOW - timedelta(minutes=5), NOW) == "5 min ago"
    assert ago(NOW - timedelta(days=3), NOW) == "3 days ago"
    assert ago(NOW + DAY, NOW) == "in the future"


def test_a_failed_restore_drill_is_an_error_and_the_status_says_when_the_last_ran():
    listing = [_archive("host1-a", timedelta(hours=2))]
    state = _state(listing)
    state.last_drill = {"time": "2026-03-08T13:15:00+00:00", "archive": "host1-a",
                        "status": "failed", "message": "restore drill FAILED: exit 2"}  # fmt: skip
    health = judge_client("host1", listing, state, 2 * DAY, NOW)
    assert health.state == "error" and "the restore drill failed" in health.problems[0]
    assert health.guard["last_drill"]["status"] == "failed"
    state.last_drill = {**state.last_drill, "status": "ok"}
    health = judge_client("host1", listing, state, 2 * DAY, NOW)
    assert health.state == "ok"
    guard_json = {
        "time": "2026-03-10T12:00:00+00:00",
        "server": {"name": "nas", "repo_root": "/b", "free": 10, "total": 20},
        "clients": [health.as_json() | {"name": "host1"}],
    }
    inventory = parse_inventory(INVENTORY.replace("{name: a,", "{name: host1,"))
    report = parse_status(json.dumps(guard_json), inventory)
    text = render_status_text(report, NOW)
    assert "host1: last restore drill: 46 h ago, ok (host1-a)" in text
    assert json.loads(report.to_json())["clients"][0]["guard"]["last_drill"]["status"] == "ok"
