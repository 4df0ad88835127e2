"""Every borg Borgkeep starts runs without loading a FUSE library (it never runs `borg
mount`): real borg, with the environment the guard and the client scripts give it."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.real_tools import BORG, missing
from wizard.hostside.guard_borg import BorgTools
from wizard.remote import scripts

PYTHON = "/usr/bin/python3"


def _imports(env: dict[str, str], repo: Path) -> str:
    """What `borg init` imports (its self-test included), as `-X importtime` lists it."""
    argv = [PYTHON, "-X", "importtime", BORG, "init", "--encryption", "repokey-blake2", str(repo)]
    done = subprocess.run(argv, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stderr


@pytest.fixture
def base_env(tmp_path: Path) -> dict[str, str]:
    if not os.access(BORG, os.X_OK) or Path(BORG).read_text()[:30].find("python") < 0:
        missing(f"a Python borg at {BORG}")
    passphrase = tmp_path / "pass"
    passphrase.write_text("secret\n")
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "BORG_BASE_DIR": str(tmp_path / "borg"),
        "BORG_PASSCOMMAND": f"cat {passphrase}",
    }


def test_the_guard_and_the_client_scripts_keep_fuse_unloaded(tmp_path, base_env):
    guard = BorgTools(BORG, "/usr/bin/borgmatic", str(tmp_path / "pass"), 5).environment()
    assert guard["BORG_FUSE_IMPL"] == "none"
    client = dict(
        word.split("=", 1)
        for word in shlex.split(scripts.borg_env("/k", "/kh", str(tmp_path / "pass")))
    )
    assert client["BORG_FUSE_IMPL"] == "none"

    without = _imports({**base_env, "BORG_FUSE_IMPL": "none"}, tmp_path / "a")
    assert "pyfuse3" not in without and "llfuse" not in without
    assert "borg.selftest" in without  # the self-test itself still runs
    has_pyfuse3 = subprocess.run([PYTHON, "-c", "import pyfuse3"], capture_output=True)
    if has_pyfuse3.returncode == 0:  # what it saves: borg loads it otherwise
        assert "pyfuse3" in _imports(base_env, tmp_path / "b")
