"""The installed `borgkeep` in a real terminal (tmux) on the lab, through to the review."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wizard.lab import start_lab

pytestmark = pytest.mark.lab
BORGKEEP = Path(sys.executable).with_name("borgkeep")


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout


def wait_screen(session: str, text: str, seconds: float = 60) -> str:
    screen = ""
    for _ in range(int(seconds * 5)):
        screen = tmux("capture-pane", "-p", "-t", session)
        if text in screen:
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{text!r} never appeared:\n{screen}")


def test_borgkeep_in_tmux_reaches_review_and_quits(tmp_path: Path):
    if os.geteuid() != 0 or not shutil.which("tmux"):
        pytest.skip("needs root (the lab) and tmux")
    lab = start_lab(clients=[("client1", "root", "1.7")])
    session = f"borgkeep-test-{os.getpid()}"
    try:
        env = {
            **lab.env(),
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "XDG_DATA_HOME": str(tmp_path / "data"),
            "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        }
        exports = " ".join(f"{k}={v}" for k, v in env.items())
        tmux(
            "new-session", "-d", "-s", session, "-x", "100", "-y", "32",
            f"env {exports} {BORGKEEP}; echo EXITED=$?; sleep 30",
        )  # fmt: skip
        wait_screen(session, "1/7 Welcome")
        tmux("send-keys", "-t", session, "C-n")
        wait_screen(session, "2/7 Backup server")
        tmux("send-keys", "-t", session, "lab-nas")
        time.sleep(0.3)
        for _ in range(3):
            tmux("send-keys", "-t", session, "Tab")
            time.sleep(0.2)
        tmux("send-keys", "-t", session, "/srv/backups")
        time.sleep(0.3)
        tmux("send-keys", "-t", session, "C-o")
        screen = wait_screen(session, "repos in   /srv/backups")
        assert "borg       1.2.4" in screen
        tmux("send-keys", "-t", session, "C-n")
        wait_screen(session, "3/7 Clients")
        tmux("send-keys", "-t", session, "Space")  # tick lab-client1
        screen = wait_screen(session, "✓ Debian")
        tmux("send-keys", "-t", session, "C-n")
        wait_screen(session, "4/7 Retention")
        tmux("send-keys", "-t", session, "C-n")
        screen = wait_screen(session, "change(s) to apply", 120)
        assert "lab-nas (server)" in screen and "lab-client1" in screen
        tmux("send-keys", "-t", session, "C-q")
        wait_screen(session, "EXITED=0")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
        lab.stop()
