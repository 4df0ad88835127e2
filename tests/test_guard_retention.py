"""The guard's port of borg 1.2's prune rules, proven against borg itself.

Two ways: (1) hundreds of random cases against borg's own `prune_within`/`prune_split` (run
by the system Python that has borg, in one process); (2) real `borg prune --dry-run --list`
on a generated repository with ties, several archives a day, checkpoints, a foreign name and
a name with '/', for several policies including keep_within and the "[oldest]" rule.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.guard_lab import CLIENT, SYSTEM_PYTHON, GuardLab
from tests.real_tools import BORG, missing
from wizard.hostside.guard_borg import parse_archive_listing, parse_prune_list
from wizard.hostside.guard_retention import (
    PruneCandidate,
    borg_prune,
    matches_prefix,
    retention_problem,
    within_hours,
)

ORACLE = str(Path(__file__).with_name("guard_borg_oracle.py"))
NOW = datetime(2026, 3, 10, 5, 30, 12, 345678, tzinfo=UTC)


def _require_borg() -> None:
    if not os.access(BORG, os.X_OK) or not os.access(SYSTEM_PYTHON, os.X_OK):
        missing(f"borg ({BORG}) and its Python ({SYSTEM_PYTHON}) are needed")


def _random_case(rng: random.Random, index: int) -> dict:
    base = NOW - timedelta(seconds=rng.randrange(0, 3 * 24 * 3600))
    archives = []
    for n in range(rng.randrange(0, 25)):
        if archives and rng.random() < 0.15:
            time = datetime.fromisoformat(archives[-1][2])  # a tie
        else:
            scale = rng.choice([60, 3600, 86400, 7 * 86400, 40 * 86400])
            time = base - timedelta(seconds=rng.randrange(0, 20) * scale + rng.randrange(0, 60))
        name = f"host1-{n}" + rng.choice(["", "", "", ".checkpoint", ".checkpoint.1"])
        archives.append([f"{index:04d}{n:060d}", name, time.isoformat()])
    retention: dict = {}
    for key, top in (("keep_secondly", 4), ("keep_minutely", 4), ("keep_hourly", 5),
                     ("keep_daily", 8), ("keep_weekly", 5), ("keep_monthly", 5),
                     ("keep_yearly", 3)):  # fmt: skip
        if rng.random() < 0.4:
            retention[key] = rng.randrange(0, top)
    if rng.random() < 0.3:
        retention["keep_within"] = rng.choice(["1H", "12H", "2d", "1w", "1m"])
    return {"now": NOW.isoformat(), "retention": retention, "archives": archives}


def test_the_port_matches_borgs_own_rule_functions() -> None:
    _require_borg()
    rng = random.Random(20260310)
    cases = [_random_case(rng, index) for index in range(600)]
    result = subprocess.run(
        [SYSTEM_PYTHON, ORACLE],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        env={**os.environ, "TZ": "UTC"},
        check=True,
    )
    expected = json.loads(result.stdout)
    for case, borg_removed in zip(cases, expected, strict=True):
        candidates = [
            PruneCandidate(i, n, datetime.fromisoformat(t)) for i, n, t in case["archives"]
        ]
        outcome = borg_prune(candidates, case["retention"], NOW)
        assert sorted(outcome.removed) == borg_removed, case
        assert set(outcome.kept) | outcome.removed == {c.id for c in candidates}


# --- real borg prune --dry-run --list ---------------------------------------------------------


@pytest.fixture(scope="module")
def pruning_lab(tmp_path_factory: pytest.TempPathFactory) -> GuardLab:
    """A repository with archives spread over 800 days, as borg's rules see them."""
    _require_borg()
    lab = GuardLab(tmp_path_factory.mktemp("retention"), "/nonexistent/borgmatic", "2.1.10")
    lab.client_borg("init", "--encryption", "repokey-blake2", "REPO")
    now = datetime.now(UTC)
    archives = [(f"{CLIENT}-{d}", now - timedelta(days=d, minutes=30))
                for d in (1, 2, 3, 5, 8, 13, 20, 35, 50, 70, 100, 150, 200, 300, 400, 800, 801)]  # fmt: skip
    tie = now - timedelta(days=4, hours=2)
    archives += [
        (f"{CLIENT}-today-a", now - timedelta(hours=1)),
        (f"{CLIENT}-today-b", now - timedelta(hours=2)),
        (f"{CLIENT}-tie-a", tie),
        (f"{CLIENT}-tie-b", tie),
        (f"{CLIENT}-day4", tie - timedelta(hours=3)),
        (f"{CLIENT}-old.checkpoint", now - timedelta(days=6)),
        (f"{CLIENT}-new.checkpoint.1", now - timedelta(minutes=5)),
        ("other-3", now - timedelta(days=3)),
        (f"{CLIENT}-a/b", now - timedelta(days=9)),
    ]
    lab.forge(archives)
    listed = lab.server_borg("list", "--json", "--consider-checkpoints", str(lab.repo)).stdout
    lab.archives = parse_archive_listing(listed)
    return lab


POLICIES = [
    {"keep_daily": 7, "keep_weekly": 4, "keep_monthly": 6, "keep_yearly": 2},
    {"keep_within": "3d", "keep_daily": 2},
    {"keep_secondly": 3, "keep_hourly": 2},
    {"keep_yearly": 10},  # fewer years than asked for: the "[oldest]" rule
    {"keep_daily": 3, "keep_monthly": 30},
]


@pytest.mark.parametrize(
    "retention", POLICIES, ids=lambda r: ",".join(f"{k}={v}" for k, v in r.items())
)
def test_the_port_matches_borg_prune_dry_run(pruning_lab: GuardLab, retention: dict) -> None:
    lab = pruning_lab
    listing = lab.archives
    flags = [f"--{key.replace('_', '-')}={value}" for key, value in retention.items()]
    now = datetime.now(UTC)
    dry_run = lab.server_borg(
        "prune", "--dry-run", "--list", "--glob-archives", f"{CLIENT}-*", *flags, str(lab.repo)
    )
    report = parse_prune_list(dry_run.stderr)
    candidates = [
        PruneCandidate(a.id, a.name, a.time) for a in listing if matches_prefix(a.name, "host1-")
    ]
    outcome = borg_prune(candidates, retention, now)
    assert sorted(outcome.removed) == sorted(report.removed)
    assert sorted(outcome.kept) == sorted(report.kept)
    names = {a.id: a.name for a in listing}
    # Prune sees nothing `borg list --consider-checkpoints` does not (a '/' hides a name from
    # both: `*` does not cross '/'), and nothing outside the prefix.
    assert "other-3" not in {names[i] for i in (*report.kept, *report.removed)}
    assert {*report.kept, *report.removed} <= set(names)


def test_the_oldest_rule_is_there_in_borg_1_2(pruning_lab: GuardLab) -> None:
    dry_run = pruning_lab.server_borg(
        "prune", "--dry-run", "--list", "--glob-archives", f"{CLIENT}-*", "--keep-yearly=10",
        str(pruning_lab.repo),
    )  # fmt: skip
    assert "(rule: yearly[oldest] #" in dry_run.stderr


def test_within_and_retention_checks_follow_borg() -> None:
    assert within_hours("2d") == 48 and within_hours("1m") == 744 and within_hours("1y") == 8760
    for bad in ("0d", "d", "2x", "-1d", ""):
        with pytest.raises(ValueError):
            within_hours(bad)
    assert retention_problem({"keep_daily": 7}) is None
    assert retention_problem({"keep_daily": 0}) == "at least one keep_* option must be set"
    assert "unknown" in retention_problem({"keep_forever": 1})
    assert matches_prefix("host1-x.checkpoint", "host1-")
    assert not matches_prefix("host1-a/b", "host1-") and not matches_prefix("host10-a", "host1-")
