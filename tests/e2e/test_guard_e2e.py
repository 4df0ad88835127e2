"""A compromised client attacks on purpose, through its own append-only key, on the lab.

Each client of the lab plays one attack against the guard that Borgkeep installed on the
server (the installed cron command, run as cron would). After each attack: the guard
refused (non-zero exit, a line naming the client), every genuine archive is still listed
and `borg extract --dry-run` of it works, no segment was removed, and once the operator has
cleaned up, the next scheduled run and `borgkeep plan` are quiet again.

The attacker's tool for what the borg CLI cannot do (names with NUL, one transaction for
many archives, a chunk's ID) is `tests/guard_forge.py`: borg's own Python API over the
client's forced `borg serve --append-only` connection, run on the client by its login.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.helpers import (
    BORG_USER,
    REPO_ROOT,
    client_borg,
    client_borg_env,
    crontab_commands,
    inventory_text,
    make_operator,
    repository_url,
    run_cron_command,
    segment_sizes,
    server_borg,
)
from wizard.lab import start_lab

pytestmark = pytest.mark.lab

FORGE = Path(__file__).resolve().parents[1] / "guard_forge.py"
ATTACKERS = ("future", "backdated", "burst", "window", "chunks", "names", "nostate")
# The future and back-dated rules refuse one such archive; a burst must exceed the day's
# budget (a daily schedule plus MANUAL_BACKUP_ALLOWANCE: 5), checked against the refusal.
BURST = 12


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """One lab whose clients each get a repository, two genuine archives (the installed
    cron command, and a plain `borg create` through the key), and a first guarded prune."""
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    base = Path(tempfile.mkdtemp(prefix="borgkeep-lab-guard-", dir="/var/tmp"))
    lab = start_lab(base=base, clients=[(name, "root", "1.7") for name in ATTACKERS])
    try:
        with pytest.MonkeyPatch.context() as patch:
            for key, value in lab.env().items():
                patch.setenv(key, value)
            operator = make_operator(lab, tmp_path_factory.mktemp("guard-operator"))
            operator.write_inventory(inventory_text(lab))
            applied = operator.run("apply", "--yes", "--no-verify")
            assert applied.returncode == 0, applied.describe()
            with ThreadPoolExecutor(max_workers=4) as pool:
                list(pool.map(lambda name: _genuine_archives(lab, name), ATTACKERS))
            yield lab, operator
    finally:
        lab.stop()


def _genuine_archives(lab, client: str) -> None:
    (backup,) = [c for c in crontab_commands(lab, client, "root") if "borgmatic" in c]
    run_cron_command(lab, client, backup, "root")
    created = client_borg(
        lab, client, f"create {repository_url(lab, client)}::{client}-manual-1 /srv/data"
    )
    assert created.returncode == 0, created.stderr
    guard = _guard(lab, client)
    first = lab.run_as_cron("nas", guard, user=BORG_USER)
    assert first.returncode == 0, first.stderr.decode()


def _guard(lab, client: str, action: str = "prune") -> str:
    (command,) = [c for c in crontab_commands(lab, "nas", BORG_USER) if f" prune {client} " in c]
    return command.replace(f" prune {client} ", f" {action} {client} ")


def _run_guard(lab, client: str, action: str = "prune") -> subprocess.CompletedProcess:
    return lab.run_as_cron("nas", _guard(lab, client, action), user=BORG_USER)


def _names(lab, client: str) -> list[str]:
    listed = server_borg(lab, client, f"list --json --consider-checkpoints {REPO_ROOT}/{client}")
    assert listed.returncode == 0, listed.stderr
    return [a["name"] for a in json.loads(listed.stdout)["archives"]]


def _forge(lab, client: str, *args: str, data: object = None) -> subprocess.CompletedProcess:
    command = f"{client_borg_env(lab, client)} /usr/bin/python3 {shlex.quote(str(FORGE))}"
    command += " " + shlex.join([*args])
    stdin = None if data is None else json.dumps(data).encode()
    return lab.run(client, command, input=stdin)


def _genuine(lab, client: str) -> list[str]:
    return [n for n in _names(lab, client) if n.startswith(f"{client}-")]


def _assert_genuine_survive(lab, client: str, genuine: list[str], segments: dict | None) -> None:
    """Listed and extractable; and, when `segments` is given (no legitimate compact ran
    since), every segment file is still there, unchanged."""
    listed = _names(lab, client)
    assert set(genuine) <= set(listed), f"genuine archives lost: {set(genuine) - set(listed)}"
    for name in genuine:
        extracted = client_borg(
            lab, client, f"extract --dry-run {repository_url(lab, client)}::{shlex.quote(name)}"
        )
        assert extracted.returncode == 0, extracted.stderr
    if segments is not None:
        after = segment_sizes(lab, client)
        assert all(after.get(path) == size for path, size in segments.items()), "a segment went"


def _refused(result: subprocess.CompletedProcess, client: str) -> str:
    stderr = result.stderr.decode()
    assert result.returncode == 3, (result.returncode, stderr)
    assert f"borgkeep-guard: {client}: REFUSING" in stderr, stderr
    return stderr


def _clean_up_and_converge(lab, operator, client: str, forged: list[str]) -> None:
    """What the operator does after reading the refusal: delete what the attacker added (as
    the borg user, on the server), acknowledge, and see everything quiet again."""
    if forged:  # one borg start-up and one commit for all of them
        names = " ".join(shlex.quote(name) for name in forged)
        deleted = server_borg(lab, client, f"delete {REPO_ROOT}/{client} {names}")
        assert deleted.returncode == 0, deleted.stderr
        assert not set(forged) & set(_names(lab, client)), "a forged archive is still listed"
    acknowledged = _run_guard(lab, client, "acknowledge")
    assert acknowledged.returncode == 0, acknowledged.stderr
    again = _run_guard(lab, client)
    assert again.returncode == 0, again.stderr
    planned = operator.run("plan")
    assert planned.returncode == 0, planned.describe()


def _utc(days_ago: float = 0, at: str | None = None) -> datetime:
    moment = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=days_ago)
    return datetime.fromisoformat(f"{moment:%Y-%m-%d}T{at}") if at else moment


def _future(client: str) -> list[list[str]]:
    return [
        [f"{client}-2100-01-{d:02d}T00:00:00", f"2100-01-{d:02d}T00:00:00"] for d in range(1, 6)
    ]


def _backdated(client: str) -> list[list[str]]:
    return [
        [f"{client}-old-{day:02d}", f"{_utc(day, '23:59:59'):%Y-%m-%dT%H:%M:%S}"]
        for day in range(1, 6)
    ]


def _burst(client: str) -> list[list[str]]:
    now = _utc()
    return [
        [f"{client}-burst-{i:02d}", f"{now - timedelta(seconds=i):%Y-%m-%dT%H:%M:%S}"]
        for i in range(BURST)
    ]


@pytest.mark.parametrize(
    ("client", "flood", "reason"),
    [
        ("future", _future, "dated in the future"),
        ("backdated", _backdated, "dated before the previous guard run"),
        ("burst", _burst, "more than the"),
    ],
    ids=["future-dated", "back-dated", "burst"],
)
def test_a_flood_of_forged_archives_is_refused_and_prunes_nothing(fleet, client, flood, reason):
    lab, operator = fleet
    genuine, segments = _genuine(lab, client), segment_sizes(lab, client)
    forged = flood(client)
    assert _forge(lab, client, "create", repository_url(lab, client), data=forged).returncode == 0
    stderr = _refused(_run_guard(lab, client), client)
    assert reason in stderr
    if client == "burst":
        budget = int(stderr.split("more than the ", 1)[1].split(" ", 1)[0])
        assert len(forged) >= 2 * budget, (len(forged), budget)
    _assert_genuine_survive(lab, client, genuine, segments)
    _clean_up_and_converge(lab, operator, client, [name for name, _ in forged])


def test_a_delete_while_the_guard_runs_cannot_reach_the_repository(fleet):
    lab, operator = fleet
    client = "window"
    genuine, segments = _genuine(lab, client), segment_sizes(lab, client)
    hidden = f"{REPO_ROOT}/.{client}.borgkeep-guard"
    with ThreadPoolExecutor(max_workers=1) as pool:
        running = pool.submit(_run_guard, lab, client)
        deadline = time.monotonic() + 60
        while lab.run("nas", ["test", "-e", hidden]).returncode != 0:
            assert not running.done() and time.monotonic() < deadline, "the guard never hid it"
            time.sleep(0.05)
        target = f"{repository_url(lab, client)}::{genuine[0]}"
        attempt = client_borg(lab, client, f"delete {shlex.quote(target)}")
        assert attempt.returncode != 0, "the repository was reachable while the guard ran"
        finished = running.result(timeout=300)
    assert finished.returncode == 0, finished.stderr.decode()
    _assert_genuine_survive(lab, client, genuine, None)
    segments = segment_sizes(lab, client)
    # The same delete after the run succeeds in append-only mode — and the guard refuses.
    deleted = client_borg(lab, client, f"delete {repository_url(lab, client)}::{genuine[0]}")
    assert deleted.returncode == 0, deleted.stderr
    stderr = _refused(_run_guard(lab, client), client)
    assert "deleted outside the server's prune" in stderr and genuine[0] in stderr
    assert set(segments.items()) <= set(segment_sizes(lab, client).items())


def test_deleting_chunks_of_a_recorded_archive_is_refused_and_nothing_is_compacted(fleet):
    lab, operator = fleet
    client = "chunks"
    genuine, segments = _genuine(lab, client), segment_sizes(lab, client)
    found = _forge(lab, client, "chunks", repository_url(lab, client), genuine[0])
    assert found.returncode == 0, found.stderr
    chunk_ids = json.loads(found.stdout)
    assert chunk_ids
    url = repository_url(lab, client)
    removed = client_borg(lab, client, f"debug delete-obj {url} {chunk_ids[0]}")
    assert removed.returncode == 0, removed.stderr
    assert _genuine(lab, client) == genuine  # the manifest does not show it
    stderr = _refused(_run_guard(lab, client), client)
    assert "deleted or overwritten" in stderr
    assert all(segment_sizes(lab, client).get(p) == s for p, s in segments.items())


def test_control_characters_in_archive_names_are_refused_and_printed_escaped(fleet):
    lab, operator = fleet
    client = "names"
    genuine, segments = _genuine(lab, client), segment_sizes(lab, client)
    now = f"{_utc():%Y-%m-%dT%H:%M:%S}"
    forged = [[f"{client}-a\x00b", now], [f"{client}-\x1b[2Jgone\nborgkeep-guard: ok", now]]
    assert _forge(lab, client, "create", repository_url(lab, client), data=forged).returncode == 0
    stderr = _refused(_run_guard(lab, client), client)
    assert "control characters" in stderr
    assert "\x1b" not in stderr and "\x00" not in stderr
    assert "\\x1b" in stderr or "\\x00" in stderr
    assert len([line for line in stderr.splitlines() if line.startswith("borgkeep-guard:")]) == 1
    _assert_genuine_survive(lab, client, genuine, segments)


def test_a_lost_baseline_makes_the_guard_refuse_until_apply_records_it_again(fleet):
    """The guard refuses without a baseline; the plan records it again (Borgkeep's own
    repository: the server's copy holds its key), and apply converges."""
    lab, operator = fleet
    client = "nostate"
    genuine, segments = _genuine(lab, client), segment_sizes(lab, client)
    state = f"/home/{BORG_USER}/.config/borgkeep/{client}.guard.json"
    assert lab.run("nas", ["rm", state]).returncode == 0
    result = _run_guard(lab, client)
    assert result.returncode == 3 and b"no baseline recorded for nostate" in result.stderr
    planned = operator.run("plan")
    assert planned.returncode == 2, planned.describe()
    assert "record the guard's baseline for nostate's repository" in planned.output
    assert "which has none" in planned.output
    _assert_genuine_survive(lab, client, genuine, segments)
    applied = operator.run("apply", "--yes", "--no-verify")
    assert applied.returncode == 0, applied.describe()
    assert _run_guard(lab, client).returncode == 0
    assert operator.run("plan").returncode == 0


def test_verify_runs_the_guards_check_and_fails_while_it_refuses(fleet):
    lab, operator = fleet
    client = "burst"
    victim = _genuine(lab, client)[0]
    deleted = client_borg(lab, client, f"delete {repository_url(lab, client)}::{victim}")
    assert deleted.returncode == 0, deleted.stderr
    _refused(_run_guard(lab, client), client)
    verified = operator.run("verify")
    lines = verified.stdout.splitlines()
    assert any(line.startswith("  ✓ nas: the guard's check for future — check ") for line in lines)
    (refusal,) = [
        line for line in lines if line.startswith(f"  ✗ nas: the guard's check for {client}")
    ]
    assert (
        "REFUSED" in refusal and victim in refusal and "the last scheduled run refused" in refusal
    )
    assert verified.returncode == 1


def test_the_guard_on_a_borgmatic_1_7_server(tmp_path):
    """The same installed guard on Debian's borgmatic 1.7.7 (the fleet above runs 2.x)."""
    base = Path(tempfile.mkdtemp(prefix="borgkeep-lab-guard17-", dir="/var/tmp"))
    lab = start_lab(base=base, clients=[("old", "root", "1.7")], server_borgmatic="1.7")
    try:
        with pytest.MonkeyPatch.context() as patch:
            for key, value in lab.env().items():
                patch.setenv(key, value)
            operator = make_operator(lab, tmp_path)
            operator.write_inventory(inventory_text(lab))
            applied = operator.run("apply", "--yes", "--no-verify")
            assert applied.returncode == 0, applied.describe()
            assert "/usr/bin/python3 -I" in _guard(lab, "old")
            _genuine_archives(lab, "old")
            genuine, segments = _genuine(lab, "old"), segment_sizes(lab, "old")
            url = repository_url(lab, "old")
            deleted = client_borg(lab, "old", f"delete {url}::{genuine[-1]}")
            assert deleted.returncode == 0, deleted.stderr
            assert genuine[-1] in _refused(_run_guard(lab, "old"), "old")
            assert all(segment_sizes(lab, "old").get(p) == s for p, s in segments.items())
            assert _run_guard(lab, "old", "acknowledge").returncode == 0
            assert _run_guard(lab, "old").returncode == 0
            assert operator.run("plan").returncode == 0
    finally:
        lab.stop()
