"""What a takeover finds in the repository, read before anything is written: the probe script
run for real with the real `borg` on local repositories (archives counted, the newest named;
a locked repository and a Borg 2 one refused with one clear line; anything else left to the
plan's own checks), and the plan's line and JSON."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest

from wizard.pipeline.desired.items import DesiredStateError, Passphrase
from wizard.pipeline.takeover_probe import FoundArchives, probe_takeovers, read_probe

BORG = shutil.which("borg") or "/usr/bin/borg"
SECRET = "probe-secret-Kx2"

pytestmark = pytest.mark.skipif(not os.access(BORG, os.X_OK), reason="borg is not installed")


def borg(*args: str, home: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "BORG_PASSPHRASE": SECRET}
    return subprocess.run([BORG, *args], env=env, capture_output=True, text=True, check=check)


def local_run(home: Path):
    def run(script: str, stdin: bytes) -> tuple[int, bytes, bytes]:
        env = {"PATH": os.environ["PATH"], "HOME": str(home)}
        done = subprocess.run(
            ["/bin/sh", "-c", script], input=stdin, env=env, capture_output=True, timeout=60
        )
        return done.returncode, done.stdout, done.stderr

    return run


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("probe")
    home, repo, data = base / "home", base / "repo", base / "data"
    home.mkdir()
    data.mkdir()
    (data / "f").write_text("x")
    borg("init", "-e", "repokey-blake2", str(repo), home=home)
    for name in ("host1-2026-12-01", "host1-2026-12-02"):
        borg("create", f"{repo}::{name}", str(data), home=home)
    return repo, home


def probe(repo: Path, home: Path, passphrase: str = SECRET):
    return probe_takeovers(
        local_run(home), {"host1": str(repo)}, {"host1": Passphrase(passphrase)}, BORG
    )["host1"]


def test_the_archives_are_counted_and_the_newest_named(repository):
    found = probe(*repository)
    assert isinstance(found, FoundArchives)
    assert found.count == 2 and found.newest == "host1-2026-12-02"
    assert found.newest_time and found.newest_time.startswith(str(datetime.now().year))


def test_a_wrong_passphrase_is_left_to_the_plans_own_check(repository):
    assert probe(*repository, passphrase="not-it") is None


def test_a_locked_repository_is_refused_saying_so(repository):
    repo, home = repository
    holder = subprocess.Popen(
        [BORG, "with-lock", str(repo), "sleep", "30"],
        env={"PATH": os.environ["PATH"], "HOME": str(home), "BORG_PASSPHRASE": SECRET},
    )
    try:
        deadline = time.monotonic() + 20
        while not list(repo.glob("lock.exclusive*")) and time.monotonic() < deadline:
            time.sleep(0.1)
        with pytest.raises(DesiredStateError) as info:
            probe(repo, home)
    finally:
        holder.kill()
        holder.wait()
    message = str(info.value)
    assert message.startswith("host1: cannot take over") and "it is locked" in message
    assert "plan again" in message and SECRET not in message


def test_a_borg2_repository_is_refused_and_a_non_repository_left_to_the_plan(tmp_path):
    borg2 = tmp_path / "borg2"
    (borg2 / "config").mkdir(parents=True)
    (borg2 / "data").mkdir()
    with pytest.raises(DesiredStateError) as info:
        probe(borg2, tmp_path)
    assert "it is a Borg 2 repository" in str(info.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert probe(empty, tmp_path) is None
    assert list(borg2.rglob("*")) == [borg2 / "config", borg2 / "data"]  # read only


def test_the_plans_line_and_json():
    found = read_probe(
        "host1",
        "/srv/old/host1",
        0,
        json.dumps(
            {
                "archives": [
                    {"name": "host1-a", "time": "2026-12-07T18:00:00.000000"},
                    {"name": "host1-b", "time": "2026-12-07T21:00:00.000000"},
                ]
            }
        ).encode(),
        b"",
    )
    line = found.describe("host1", now=datetime(2026, 12, 8, 0, 5))
    assert (
        line == "baseline: 2 existing archives of host1, newest host1-b (2026-12-07 21:00, 3 h ago)"
    )
    assert found.to_json() == {
        "count": 2,
        "newest": "host1-b",
        "newest_time": "2026-12-07T21:00:00.000000",
    }
    none = read_probe("host1", "/r", 0, b'{"archives": []}', b"")
    assert none.describe("host1") == "baseline: 0 existing archives of host1"
