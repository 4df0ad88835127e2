"""check-all's joint dry runs: borgmatic's per-config `borg --version` is answered by a
stand-in that asked the real borg once; every other command reaches the real borg."""

from __future__ import annotations

import subprocess
from pathlib import Path

from wizard.hostside.guard_borg import BorgTools
from wizard.hostside.guard_check import borg_version_answer, version_stand_in, with_local_path

BORG = "/usr/bin/borg"
CONFIG = """# Managed by borgkeep
repositories:
- path: /srv/backups/c1
local_path: /usr/bin/borg
lock_wait: 600
"""
OLD_FORMAT = """location:
    repositories:
    - /srv/backups/c1
    local_path: /usr/bin/borg
"""


def test_the_one_local_path_line_names_the_stand_in():
    assert 'local_path: "/tmp/x/borg"\nlock_wait' in with_local_path(CONFIG, BORG, "/tmp/x/borg")
    assert '    local_path: "/tmp/x/borg"\n' in with_local_path(OLD_FORMAT, BORG, "/tmp/x/borg")


def test_anything_else_is_left_for_borgmatic_to_ask():
    other = CONFIG.replace("/usr/bin/borg", "/opt/borg/bin/borg")
    assert with_local_path(other, BORG, "/tmp/x/borg") == other
    twice = CONFIG + "local_path: /usr/bin/borg\n"
    assert with_local_path(twice, BORG, "/tmp/x/borg") == twice
    absent = CONFIG.replace("local_path: /usr/bin/borg\n", "")
    assert with_local_path(absent, BORG, "/tmp/x/borg") == absent


def test_the_stand_in_answers_like_borg_and_passes_the_rest(tmp_path: Path):
    tools = BorgTools(BORG, "borgmatic", str(tmp_path / "pass"), 5, read_only=True)
    answer = borg_version_answer(tools)
    assert answer is not None
    stand_in = version_stand_in(str(tmp_path), tools, answer)
    assert Path(stand_in).stat().st_mode & 0o777 == 0o700
    real = subprocess.run([BORG, "--version"], capture_output=True, text=True).stdout
    asked = subprocess.run([stand_in, "--version", "--log-json"], capture_output=True, text=True)
    assert asked.returncode == 0 and asked.stdout == real
    passed = subprocess.run(
        [stand_in, "list", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        env=tools.environment(),
    )
    assert passed.returncode == 2 and "does not exist" in passed.stderr
