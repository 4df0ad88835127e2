"""`init-repo` run again over a repository that an earlier, killed apply went on to create
(the client's `borg init` outlives the operator's process): taken as done when the
repository opens with this passphrase, refused otherwise. Real borg, local repositories."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from wizard.remote.scripts import init_repo_script

pytestmark = pytest.mark.skipif(shutil.which("borg") is None, reason="borg is not installed")


def run(script: str, home: Path) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ["PATH"], "HOME": str(home)}
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, env=env)


def test_a_repository_made_with_this_passphrase_is_taken_as_done_another_refused(tmp_path):
    secret = tmp_path / "passphrase"
    secret.write_text("first-passphrase\n")
    repo = tmp_path / "repo"
    script = init_repo_script(str(repo), str(tmp_path / "key"), str(tmp_path / "kh"), str(secret))
    first = run(script, tmp_path)
    assert first.returncode == 0, first.stderr
    again = run(script, tmp_path)
    assert again.returncode == 0, again.stderr
    assert "already created with this passphrase" in again.stderr
    secret.write_text("another-passphrase\n")
    other = run(script, tmp_path)
    assert other.returncode == 1
    assert "A repository already exists" in other.stderr
    assert "taken as done" not in other.stderr
