"""The rendered guard program against real borg 1.2 and both borgmatic releases.

A compromised client attacks through its own forced `borg serve --append-only` command (see
tests/guard_lab.py); the guard runs the rendered one-file program with `python3 -I`, as the
repository's owner, like the server's cron does. Every attack must end in a refusal that
names the archives, with every genuine archive still listed and extractable and every
segment file still on disk.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.guard_lab import (
    CLIENT,
    CLOCK_SKEW,
    MAX_NEW_PER_DAY,
    RETENTION,
    SYSTEM_PYTHON,
    GuardLab,
    copy_repository,
    day_at,
    describe,
    stamp,
)
from tests.real_tools import (  # noqa: F401 (fixture)
    BORG,
    BORGMATIC_BINARIES,
    Borgmatic,
    borgmatic_fixture,
    missing,
)
from wizard.hostside.guard_decision import ListedArchive
from wizard.hostside.guard_retention import PruneCandidate, borg_prune, matches_prefix
from wizard.hostside.guard_text import parse_iso_utc

GENUINE_DAYS = (4, 3, 2, 1)
GENUINE = [f"{CLIENT}-{stamp(day_at(days))}" for days in GENUINE_DAYS]
REFUSED, FAILED, USAGE = 3, 1, 2


def _require_tools() -> None:
    if not os.access(BORG, os.X_OK):
        missing(f"borg not found at {BORG}")
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        missing(f"{SYSTEM_PYTHON} (the server's interpreter, with borg's library) not found")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One repository with four genuine daily backups made through the client's key; each
    test works on its own copy."""
    _require_tools()
    lab = GuardLab(tmp_path_factory.mktemp("template"), "/nonexistent/borgmatic", "2.1.10")
    source = lab.root / "source"
    source.mkdir()
    (source / "notes.txt").write_text("genuine data\n")
    (source / "blob.bin").write_bytes(os.urandom(200_000))
    lab.client_borg("init", "--encryption", "repokey-blake2", "REPO")
    for name, days in zip(GENUINE, GENUINE_DAYS, strict=True):
        lab.client_borg("create", "--timestamp", stamp(day_at(days)), f"REPO::{name}", str(source))
    return lab.repo


@pytest.fixture(name="one_borgmatic")
def one_borgmatic_fixture() -> Borgmatic:
    """borgmatic 2.x, for tests where the release does not matter."""
    variable, default = BORGMATIC_BINARIES["2"]
    path = os.environ.get(variable, default)
    if not os.access(path, os.X_OK):
        missing(f"borgmatic 2 not found at {path} (set {variable})")
    return Borgmatic(path, "2.1.10")


def _lab(tmp_path: Path, template: Path, borgmatic: Borgmatic) -> GuardLab:
    lab = GuardLab(tmp_path, borgmatic.path, borgmatic.version)
    copy_repository(template, lab)
    return lab


@pytest.fixture
def lab(tmp_path: Path, template: Path, one_borgmatic: Borgmatic) -> GuardLab:
    return _lab(tmp_path, template, one_borgmatic)


@pytest.fixture
def lab_each(tmp_path: Path, template: Path, borgmatic: Borgmatic) -> GuardLab:
    return _lab(tmp_path, template, borgmatic)


def _init(lab: GuardLab) -> None:
    result = lab.run_guard("init", CLIENT)
    assert result.returncode == 0, describe(result)


def _expected_survivors(lab: GuardLab) -> list[str]:
    """What borg's rules keep (the guard's port, itself proven in test_guard_retention)."""
    listing = [ListedArchive(a["id"], a["name"], parse_iso_utc(a["time"])) for a in lab.listing()]
    candidates = [
        PruneCandidate(a.id, a.name, a.time) for a in listing if matches_prefix(a.name, "host1-")
    ]
    outcome = borg_prune(candidates, RETENTION, datetime.now(UTC))
    return sorted(a.name for a in listing if a.id not in outcome.removed)


def _assert_refused_and_intact(
    lab: GuardLab, result, segments: dict[str, int], genuine: list[str]
) -> str:
    """Exit 3, one escaped line on stderr, nothing hidden, no segment gone, genuine intact."""
    assert result.returncode == REFUSED, describe(result)
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"borgkeep-guard: {CLIENT}: REFUSING to prune {lab.repo}: ")
    assert "every segment is still on disk" in line
    assert f"-I {lab.guard} acknowledge {CLIENT}" in line
    assert not lab.hidden.exists()
    after = lab.segments()
    assert {path: after.get(path) for path in segments} == segments
    assert set(genuine) <= set(lab.names())
    assert lab.extract_dry_run_all(genuine) == dict.fromkeys(genuine, 0)
    assert lab.state()["last_result"]["status"] == "refused"
    return line


# --- the scheduled job doing its work ---------------------------------------------------------


def test_check_writes_nothing_and_prune_keeps_by_the_rules(lab_each: GuardLab) -> None:
    lab = lab_each
    _init(lab)
    state = lab.state()
    assert sorted(e["name"] for e in state["archives"].values()) == sorted(GENUINE)
    assert {e["seen_after"] for e in state["archives"].values()} == {None}
    assert oct(lab.state_file.stat().st_mode & 0o777) == "0o600"

    files_before = {p.name: p.read_bytes() for p in lab.state_dir.iterdir()}
    segments_before = lab.segments()
    checked = lab.run_guard("check", CLIENT)
    assert checked.returncode == 0, describe(checked)
    assert checked.stdout == (
        f"borgkeep-guard: {CLIENT}: check {lab.repo}: ok; 4 archive(s); prune would keep 3 "
        "and remove 1\n"
    )
    assert {p.name: p.read_bytes() for p in lab.state_dir.iterdir()} == files_before
    assert lab.segments() == segments_before

    pruned = lab.run_guard("prune", CLIENT)
    assert pruned.returncode == 0, describe(pruned)
    assert pruned.stderr == ""
    assert pruned.stdout == (
        f"borgkeep-guard: {CLIENT}: pruned {lab.repo}: removed 1 archive(s) ({GENUINE[0]}), "
        "kept 3 (0 new since the previous run); compacted; baseline recorded\n"
    )
    assert lab.names() == sorted(GENUINE[-3:])
    state = lab.state()
    assert sorted(e["name"] for e in state["archives"].values()) == sorted(GENUINE[-3:])
    assert state["last_result"]["status"] == "ok" and state["last_prune"] is not None
    assert [p.name for p in lab.state_dir.iterdir() if p.name.startswith(".")] == []
    assert not set(segments_before) <= set(lab.segments())  # compacted this time
    assert lab.extract_dry_run_all(GENUINE[-3:]) == dict.fromkeys(GENUINE[-3:], 0)


def test_the_next_night_is_pruned_after_restoring_a_repository_left_hidden(lab: GuardLab) -> None:
    _init(lab)
    # A day later: the client's nightly backup arrived; a killed run left the repo hidden.
    lab.age_state(1)
    previous_run = lab.state()["last_run"]
    new = f"{CLIENT}-{stamp(datetime.now(UTC) - timedelta(hours=1))}"
    source = lab.root / "source"
    source.mkdir()
    (source / "today.txt").write_text("today\n")
    lab.client_borg("create", "--timestamp", new.removeprefix(f"{CLIENT}-"), f"REPO::{new}",
                    str(source))  # fmt: skip
    expected = _expected_survivors(lab)
    assert new in expected
    os.rename(lab.repo, lab.hidden)

    pruned = lab.run_guard("prune", CLIENT)
    assert pruned.returncode == 0, describe(pruned)
    assert pruned.stderr == (
        f"borgkeep-guard: {CLIENT}: restored {lab.repo} from {lab.hidden}, where an "
        "interrupted guard run had left it\n"
    )
    assert "(1 new since the previous run); compacted; baseline recorded" in pruned.stdout
    assert lab.names() == expected
    archives = {e["name"]: e for e in lab.state()["archives"].values()}
    assert archives[new]["seen_after"] == previous_run
    assert all(archives[name]["seen_after"] is None for name in expected if name != new)
    assert lab.extract_dry_run_all(expected) == dict.fromkeys(expected, 0)


def test_a_deleted_chunk_is_refused_before_prune_and_again_by_borg_check(lab: GuardLab) -> None:
    _init(lab)
    chunk = lab.data_chunks(GENUINE[-1])[0]
    lab.client_borg("debug", "delete-obj", "REPO", chunk)
    assert lab.names() == sorted(GENUINE)  # the listing does not show it
    segments = lab.segments()

    refused = lab.run_guard("prune", CLIENT)
    line = _assert_refused_and_intact(lab, refused, segments, [])
    assert f"object {chunk[:16]} deleted" in line

    acknowledged = lab.run_guard("acknowledge", CLIENT)
    assert acknowledged.returncode == 0, describe(acknowledged)
    assert "accepted 0 new archive(s) and 1 changed stored object(s)" in acknowledged.stdout

    checked = lab.run_guard("prune", CLIENT)
    assert checked.returncode == REFUSED, describe(checked)
    (line,) = checked.stderr.splitlines()
    assert line.startswith(f"borgkeep-guard: {CLIENT}: REFUSING to compact {lab.repo}: ")
    assert (
        "borg check failed: archive data is missing or damaged — not compacting; every "
        "segment is still on disk" in line
    )
    after = lab.segments()
    assert {path: after.get(path) for path in segments} == segments  # nothing compacted
    assert lab.state()["last_result"]["status"] == "refused"


# --- attacks -------------------------------------------------------------------------------------


def test_a_future_dated_flood_is_refused(lab: GuardLab) -> None:
    _init(lab)
    source = lab.root / "empty"
    source.mkdir()
    lab.client_borg("create", "--timestamp", "2100-01-01T00:00:00", "REPO::host1-future-0",
                    str(source))  # fmt: skip
    future = datetime(2100, 1, 1, tzinfo=UTC)
    lab.forge([(f"{CLIENT}-future-{n}", future) for n in range(1, 20)])
    segments = lab.segments()

    line = _assert_refused_and_intact(lab, lab.run_guard("prune", CLIENT), segments, GENUINE)
    assert "20 new archive(s) dated in the future (host1-future-0, host1-future-1, " in line
    assert "and 17 more)" in line
    assert (
        f"20 new archive(s) since the previous guard run, more than the {MAX_NEW_PER_DAY}" in line
    )
    assert "nothing was pruned or compacted" in line


def test_a_back_dated_flood_is_refused(lab: GuardLab) -> None:
    _init(lab)
    # Days counted from a moment more than the allowed clock skew ago, so that even just
    # after midnight (UTC) the newest one is dated before the run by more than the skew.
    before = datetime.now(UTC) - timedelta(seconds=CLOCK_SKEW + 600)
    lab.forge(
        [(f"{CLIENT}-late-{days}", day_at(days, 23, now=before) + timedelta(minutes=59, seconds=59))
         for days in range(1, 41)]
    )  # fmt: skip
    line = _assert_refused_and_intact(lab, lab.run_guard("prune", CLIENT), lab.segments(), GENUINE)
    assert "40 new archive(s) dated before the previous guard run, which did not see them" in line


def test_a_burst_of_plausible_archives_is_refused(lab: GuardLab) -> None:
    _init(lab)
    now = datetime.now(UTC)
    burst = [(f"{CLIENT}-burst-{n}", now - timedelta(minutes=n)) for n in range(7)]
    lab.forge(burst)
    line = _assert_refused_and_intact(lab, lab.run_guard("prune", CLIENT), lab.segments(), GENUINE)
    reasons = line.split(": REFUSING to prune ", 1)[1]
    assert reasons.count("new archive(s)") == 1
    assert "7 new archive(s) since the previous guard run, more than the 6 allowed" in line


def test_a_deleted_archive_is_refused_until_acknowledged(lab: GuardLab) -> None:
    _init(lab)
    deleted = GENUINE[-1]
    lab.client_borg("delete", f"REPO::{deleted}")
    assert deleted not in lab.names()  # append-only: borg "succeeded"
    segments = lab.segments()
    rest = [name for name in GENUINE if name != deleted]

    line = _assert_refused_and_intact(lab, lab.run_guard("prune", CLIENT), segments, rest)
    assert f"1 archive(s) deleted outside the server's prune ({deleted})" in line

    acknowledged = lab.run_guard("acknowledge", CLIENT)
    assert acknowledged.returncode == 0, describe(acknowledged)
    assert f"accepted as deleted: {deleted}; accepted 0 new archive(s)" in acknowledged.stdout
    state = lab.state()
    assert state["last_result"]["status"] == "ok"
    assert sorted(e["name"] for e in state["archives"].values()) == sorted(rest)


def test_an_overwritten_chunk_is_refused(lab: GuardLab) -> None:
    _init(lab)
    chunk = lab.data_chunks(GENUINE[0])[0]
    junk = lab.root / "junk"
    junk.write_bytes(b"not your data")
    lab.client_borg("debug", "put-obj", "REPO", chunk, str(junk))
    segments = lab.segments()
    result = lab.run_guard("prune", CLIENT)
    assert result.returncode == REFUSED, describe(result)
    assert f"object {chunk[:16]} overwritten" in result.stderr
    after = lab.segments()
    assert {path: after.get(path) for path in segments} == segments
    assert lab.names() == sorted(GENUINE)


def test_hostile_names_are_refused_and_printed_escaped(lab: GuardLab) -> None:
    _init(lab)
    now = datetime.now(UTC)
    forged = f"{CLIENT}-x\nborgkeep-guard: {CLIENT}: pruned everything"
    lab.forge([(f"{CLIENT}-nul\x00", now), (f"{CLIENT}-esc\x1b[2J", now), (forged, now)])
    line = _assert_refused_and_intact(lab, lab.run_guard("prune", CLIENT), lab.segments(), GENUINE)
    assert "3 archive name(s) with control characters or invalid text" in line
    assert "host1-nul\\x00" in line and "host1-esc\\x1b[2J" in line
    assert "host1-x\\x0aborgkeep-guard: host1: pruned everything" in line
    assert "\x1b" not in line and "\x00" not in line
    assert "host1-esc\\x1b[2J" in lab.state()["last_result"]["archives"]


# --- the baseline and the repository path ------------------------------------------------------


def test_no_baseline_refuses_without_touching_anything(lab: GuardLab) -> None:
    segments = lab.segments()
    result = lab.run_guard("prune", CLIENT)
    assert result.returncode == REFUSED, describe(result)
    assert result.stderr == (
        f"borgkeep-guard: {CLIENT}: no baseline recorded for {CLIENT}; nothing pruned; record "
        f"one with: {SYSTEM_PYTHON} -I {lab.guard} init {CLIENT}\n"
    )
    assert lab.segments() == segments
    assert not lab.state_file.exists() and not lab.hidden.exists()


def test_init_twice_is_a_usage_error_and_a_held_lock_fails(lab: GuardLab) -> None:
    _init(lab)
    again = lab.run_guard("init", CLIENT)
    assert again.returncode == USAGE, describe(again)
    assert f"-I {lab.guard} acknowledge {CLIENT}" in again.stderr
    with open(lab.state_dir / f"{CLIENT}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        blocked = lab.run_guard("prune", CLIENT)
    assert blocked.returncode == FAILED, describe(blocked)
    assert "another guard run holds the lock" in blocked.stderr
    assert lab.names() == sorted(GENUINE)
    unknown = lab.run_guard("prune", "host2")
    assert unknown.returncode == USAGE and "unknown client 'host2'" in unknown.stderr


def test_both_paths_present_fails_touching_neither(lab: GuardLab) -> None:
    _init(lab)
    lab.hidden.mkdir()
    (lab.hidden / "marker").write_text("left by someone\n")
    segments = lab.segments()
    result = lab.run_guard("prune", CLIENT)
    assert result.returncode == FAILED, describe(result)
    assert f"both {lab.repo} and {lab.hidden} exist" in result.stderr
    assert (lab.hidden / "marker").read_text() == "left by someone\n"
    assert lab.segments() == segments


def test_a_repository_created_again_during_the_run_is_not_clobbered(lab: GuardLab) -> None:
    _init(lab)
    wrapper = lab.root / "borgmatic-with-a-client-init"
    wrapper.write_text(
        "#!/bin/sh\n# a client runs `borg init` at its path while the guard holds the repo\n"
        f"mkdir -p {lab.repo} && echo new > {lab.repo}/README\n"
        f'exec {lab.config()["borgmatic"]} "$@"\n'
    )
    wrapper.chmod(0o700)
    lab.render(borgmatic=str(wrapper))
    result = lab.run_guard("prune", CLIENT)
    assert result.returncode == FAILED, describe(result)
    assert f"{lab.repo} was created again while the guard held the repository at {lab.hidden}" in (
        result.stderr
    )
    assert (lab.repo / "README").read_text() == "new\n"
    # The guard's own work on the hidden repository is intact; moving it back is the operator's.
    assert sorted(a["name"] for a in lab.listing(lab.hidden)) == sorted(GENUINE[-3:])
    shutil.rmtree(lab.repo)
    os.rename(lab.hidden, lab.repo)


def test_the_rendered_program_imports_only_the_standard_library(lab: GuardLab) -> None:
    probe = (
        "import runpy, sys\n"
        f"sys.argv = [{str(lab.guard)!r}, '--help']\n"
        "try:\n"
        f"    runpy.run_path({str(lab.guard)!r}, run_name='__main__')\n"
        "except SystemExit as exit:\n"
        "    assert exit.code == 0, exit.code\n"
        "import json\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [SYSTEM_PYTHON, "-I", "-S", "-c", probe], capture_output=True, text=True, check=True
    )
    modules = json.loads(result.stdout.splitlines()[-1])
    stdlib = subprocess.run(
        [SYSTEM_PYTHON, "-I", "-c", "import sys; print(' '.join(sys.stdlib_module_names))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    outside = [m for m in modules if m.split(".")[0] not in {*stdlib, "__main__"}]
    assert outside == []


def test_the_shell_guards_list_becomes_the_baseline(lab: GuardLab) -> None:
    """A server upgraded from the shell guard: its "ID NAME" list is the baseline, and an
    archive in it that is gone now is refused like any deletion."""
    lines = [f"{a['id']} {a['name']}" for a in lab.listing()] + [f"{'e' * 64} host1-gone"]
    old = lab.state_dir / f"{CLIENT}.archives"
    old.write_text("\n".join(sorted(lines, key=lambda line: line.split(" ", 1)[1])) + "\n")
    day_ago = (datetime.now(UTC) - timedelta(days=1)).timestamp()
    os.utime(old, (day_ago, day_ago))

    result = lab.run_guard("prune", CLIENT)
    assert result.returncode == REFUSED, describe(result)
    note, line = result.stderr.splitlines()
    assert note == (
        f"borgkeep-guard: {CLIENT}: took the old shell guard's list {old} as the baseline "
        "(first seen = that file's time)"
    )
    assert "1 archive(s) deleted outside the server's prune (host1-gone)" in line
    state = lab.state()
    assert len(state["archives"]) == 5 and state["last_result"]["status"] == "refused"
    assert datetime.fromisoformat(state["last_run"]).timestamp() == pytest.approx(day_ago)
    assert lab.names() == sorted(GENUINE)


def test_a_terminated_run_puts_the_repository_back(lab: GuardLab) -> None:
    _init(lab)
    stuck = lab.root / "stuck-borgmatic"
    stuck.write_text("#!/bin/sh\nexec sleep 60\n")
    stuck.chmod(0o700)
    lab.render(borgmatic=str(stuck))
    guard = subprocess.Popen(
        [SYSTEM_PYTHON, "-I", str(lab.guard), "prune", CLIENT],
        env=lab.server_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not lab.hidden.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lab.hidden.exists() and not lab.repo.exists()
    time.sleep(0.5)  # let it reach the (stuck) borgmatic prune
    guard.terminate()
    _, stderr = guard.communicate(timeout=60)
    assert guard.returncode == FAILED, stderr
    assert stderr.startswith(f"borgkeep-guard: {CLIENT}: interrupted (signal 15) while holding")
    assert lab.repo.is_dir() and not lab.hidden.exists()
    assert not [p for p in lab.state_dir.iterdir() if p.name.startswith(".")]
    assert lab.names() == sorted(GENUINE)


def test_a_key_made_unreadable_is_refused_and_restore_key_puts_the_config_back(lab: GuardLab):
    """A client's `save_key` can plant a bare CR in the key: no borg can read `config` any
    more (DuplicateOptionError). The guard refuses (not a crash), and `restore-key` rebuilds
    the config from the server's copy, under the client's lock and out of its reach."""
    _init(lab)
    copy = lab.state_dir / f"{CLIENT}.repokey"
    assert copy.exists() and copy.stat().st_mode & 0o777 == 0o600
    config = lab.repo / "config"
    original = config.read_text()
    config.write_text(original.replace("\nkey = ", "\nkey = AAAA\rappend_only = 1\n\t", 1))
    assert lab.server_borg("list", str(lab.repo), check=False).returncode != 0
    segments = lab.segments()

    refused = lab.run_guard("prune", CLIENT)
    assert refused.returncode == REFUSED, describe(refused)
    assert "its config was rewritten so that Borg cannot read it" in refused.stderr
    assert "borgkeep apply" in refused.stderr and not lab.hidden.exists()
    assert lab.run_guard("check", CLIENT).returncode == REFUSED
    assert lab.run_guard("acknowledge", CLIENT).returncode == REFUSED

    restored = lab.run_guard("restore-key", CLIENT)
    assert restored.returncode == 0, describe(restored)
    assert "restored the repository key" in restored.stdout
    assert not lab.hidden.exists() and config.stat().st_mode & 0o777 == 0o600
    assert lab.server_borg("list", str(lab.repo)).returncode == 0
    assert set(GENUINE) <= set(lab.names())
    assert {p: lab.segments().get(p) for p in segments} == segments
    again = lab.run_guard("restore-key", CLIENT)
    assert again.returncode == 0 and "nothing done" in again.stdout
    pruned = lab.run_guard("prune", CLIENT)
    assert pruned.returncode == 0, describe(pruned)


def test_a_changed_passphrase_through_the_clients_key_is_refused_and_restored(lab: GuardLab):
    """`borg key change-passphrase` through the client's own append-only key."""
    _init(lab)
    lab.client_env["BORG_NEW_PASSPHRASE"] = "attacker"
    changed = lab.client_borg("key", "change-passphrase", "REPO", check=False)
    assert changed.returncode == 0, describe(changed)
    refused = lab.run_guard("prune", CLIENT)
    assert refused.returncode == REFUSED, describe(refused)
    assert f"{CLIENT}: REFUSING to prune {lab.repo}: the repository key in its config was " in (
        refused.stderr
    )
    assert lab.state()["last_result"]["status"] == "refused"
    restored = lab.run_guard("restore-key", CLIENT)
    assert restored.returncode == 0, describe(restored)
    assert set(GENUINE) <= set(lab.names())
    assert lab.run_guard("prune", CLIENT).returncode == 0


def test_a_nonce_set_out_of_range_is_refused_and_reset_by_restore_key(lab: GuardLab):
    """Set near 2**64 (what a client's commit_nonce_reservation can do), the nonce stops
    every encrypted write; the guard refuses before its prune fails, restore-key removes it
    (Borg reserves anew from its own records) and the prune runs."""
    _init(lab)
    (lab.repo / "nonce").write_text("fffffffffffff000")
    refused = lab.run_guard("prune", CLIENT)
    assert refused.returncode == REFUSED, describe(refused)
    assert "near the end of its range" in refused.stderr
    restored = lab.run_guard("restore-key", CLIENT)
    assert restored.returncode == 0, describe(restored)
    assert "its nonce was reset" in restored.stdout
    assert not (lab.repo / "nonce").exists() or int((lab.repo / "nonce").read_text(), 16) < 2**63
    pruned = lab.run_guard("prune", CLIENT)
    assert pruned.returncode == 0, describe(pruned)
