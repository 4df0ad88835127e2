"""`status` from the guard's record, against real borg: after backups, a client's append,
a client's delete through its append-only key, and the guard's prune, the recorded answer
is exactly the one Borg gives, and Borg is not started for a repository whose log has not
changed. A `borg` shim records each start and execs the real borg."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.guard_lab import CLIENT, GuardLab, describe, python_ok, stamp
from tests.real_tools import BORG, BORGMATIC_BINARIES, missing

# one archive a day, the newest 18 hours old: inside the lab's one-day `stale_after`
# whatever the time of day (a fixed hour made it stale after 03:00 UTC)
_NOW = datetime.now(UTC)
MOMENTS = [_NOW - timedelta(days=days, hours=-6) for days in (4, 3, 2, 1)]
GENUINE = [f"{CLIENT}-{stamp(moment)}" for moment in MOMENTS]


@pytest.fixture
def lab(tmp_path: Path) -> GuardLab:
    if not os.access(BORG, os.X_OK) or not python_ok():
        missing("borg and /usr/bin/python3 are needed")
    variable, default = BORGMATIC_BINARIES["2"]
    borgmatic = os.environ.get(variable, default)
    if not os.access(borgmatic, os.X_OK):
        missing(f"borgmatic 2 not found at {borgmatic} (set {variable})")
    lab = GuardLab(tmp_path, borgmatic, "2.1.10")
    shim = tmp_path / "borg-shim"
    shim.write_text(f'#!/bin/sh\necho "$1" >> {tmp_path}/borg-starts\nexec {BORG} "$@"\n')
    shim.chmod(0o700)
    lab.render(borg=str(shim))
    source = tmp_path / "source"
    source.mkdir()
    (source / "blob.bin").write_bytes(os.urandom(300_000))
    lab.client_borg("init", "--encryption", "repokey-blake2", "REPO")
    for name, moment in zip(GENUINE, MOMENTS, strict=True):
        lab.client_borg("create", "--timestamp", stamp(moment), f"REPO::{name}", str(source))
    result = lab.run_guard("init", CLIENT)
    assert result.returncode == 0, describe(result)
    return lab


def _starts(lab: GuardLab) -> list[str]:
    log = lab.root / "borg-starts"
    starts = log.read_text().split() if log.exists() else []
    log.unlink(missing_ok=True)
    return starts


def _status(lab: GuardLab) -> tuple[list[dict], list[str]]:
    """The clients' part of `status --json` (the server's free space moves as files are
    written) and the borg commands it started."""
    _starts(lab)
    result = lab.run_guard("status", "--json")
    assert result.returncode == 0, describe(result)
    return json.loads(result.stdout)["clients"], _starts(lab)


def _fresh(lab: GuardLab) -> list[dict]:
    """Today's answer: nothing recorded, so Borg reads the repository."""
    (lab.state_dir / f"{CLIENT}.status.json").unlink(missing_ok=True)
    clients, starts = _status(lab)
    assert starts == ["list", "info"]
    return clients


def _assert_cached_equals_borg(lab: GuardLab) -> list[dict]:
    """Borg reads the changed repository once; the next status starts no borg and gives
    the same answer, which is also what Borg gives with nothing recorded."""
    read, starts = _status(lab)
    assert starts == ["list", "info"]
    cached, starts = _status(lab)
    assert starts == []
    assert cached == read == _fresh(lab)
    cached_again, starts = _status(lab)
    assert starts == [] and cached_again == read
    return read


def test_the_recorded_answer_is_borgs_and_borg_starts_only_after_a_change(lab: GuardLab):
    (client,) = _assert_cached_equals_borg(lab)
    assert client["archives"] == 4 and client["newest_archive"]["name"] == GENUINE[-1]
    assert client["size"] > 0 and client["state"] == "ok"

    # the client appends a backup
    appended = f"{CLIENT}-{stamp(datetime.now(UTC))}"
    lab.client_borg("create", f"REPO::{appended}", str(lab.root / "source"))
    (client,) = _assert_cached_equals_borg(lab)
    assert client["archives"] == 5 and client["newest_archive"]["name"] == appended

    # a client deletes its newest archive through its append-only key
    lab.client_borg("delete", f"REPO::{appended}")
    (client,) = _assert_cached_equals_borg(lab)
    assert client["archives"] == 4 and client["newest_archive"]["name"] == GENUINE[-1]

    # the guard prunes (and compacts): the oldest daily goes
    pruned = lab.run_guard("prune", CLIENT)
    assert pruned.returncode == 0, describe(pruned)
    (client,) = _assert_cached_equals_borg(lab)
    assert client["archives"] == 3


def test_an_unfinished_client_transaction_keeps_the_answer_and_its_commit_changes_it(
    lab: GuardLab,
):
    """A client's writes without a commit change nothing Borg reads; the commit does."""
    before = _assert_cached_equals_borg(lab)
    data = lab.repo / "data" / "0"
    newest = max(int(name) for name in os.listdir(data))
    (data / str(newest + 1)).write_bytes(b"BORG_SEG" + os.urandom(64))  # uncommitted
    (cached,), starts = _status(lab)
    assert starts == []
    assert cached["quota"]["used"] == before[0]["quota"]["used"] + 72  # read live, always
    assert {**cached, "quota": None} == {**before[0], "quota": None}
    appended = f"{CLIENT}-{stamp(datetime.now(UTC))}"
    lab.client_borg("create", f"REPO::{appended}", str(lab.root / "source"))
    (client,) = _assert_cached_equals_borg(lab)
    assert client["newest_archive"]["name"] == appended


def test_after_a_rollback_and_new_backups_status_is_borgs_again(lab: GuardLab):
    """The guard cuts the log back to an earlier transaction; the client's next commits
    can reach a recorded transaction number again, in a new file: Borg reads each time."""
    lab.client_borg("delete", f"REPO::{GENUINE[0]}")
    attacked = f"{CLIENT}-after-attack"
    lab.client_borg("create", f"REPO::{attacked}", str(lab.root / "source"))
    (client,) = _assert_cached_equals_borg(lab)
    assert client["archives"] == 4 and client["newest_archive"]["name"] == attacked
    assert lab.run_guard("prune", CLIENT).returncode == 3
    inspected = lab.run_guard("inspect", CLIENT)
    transaction = json.loads(inspected.stdout)["rollback"]["transaction"]
    rolled = lab.run_guard("rollback", CLIENT, str(transaction))
    assert rolled.returncode == 0, describe(rolled)
    (client,) = _assert_cached_equals_borg(lab)
    assert client["archives"] == 4 and client["newest_archive"]["name"] == GENUINE[-1]
    # the client's borg remembers the newer manifest and cache: it starts afresh
    for kept in (".config/borg/security", ".cache/borg"):
        shutil.rmtree(lab.root / "client-home" / kept, ignore_errors=True)
    for n in range(2):
        lab.client_borg("create", f"REPO::{CLIENT}-again-{n}", str(lab.root / "source"))
        (client,) = _assert_cached_equals_borg(lab)
        assert client["newest_archive"]["name"] == f"{CLIENT}-again-{n}"
