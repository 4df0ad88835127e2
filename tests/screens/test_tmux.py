"""The installed `borgkeep` in a real terminal (tmux) on the lab: through to the review at
100x32; and at 80x24, renaming a client, leaving it out and reading that in the
confirmation, with nothing saved when the apply is declined."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wizard.lab import start_lab

pytestmark = pytest.mark.lab
BORGKEEP = Path(sys.executable).with_name("borgkeep")


def keys(session: str, *names: str, pause: float = 0.25) -> None:
    for name in names:
        tmux("send-keys", "-t", session, name)
        time.sleep(pause)


def type_text(session: str, text: str) -> None:
    tmux("send-keys", "-t", session, "-l", text)
    time.sleep(0.4)


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


def typed(session: str, text: str, seconds: float = 20) -> None:
    """Type `text`, then wait until the screen shows it once more than before (a loaded
    machine draws late, and keys sent before a redraw land wherever focus then is)."""
    before = tmux("capture-pane", "-p", "-t", session).count(text)
    tmux("send-keys", "-t", session, "-l", text)
    for _ in range(int(seconds * 10)):
        if tmux("capture-pane", "-p", "-t", session).count(text) > before:
            return
        time.sleep(0.1)
    raise AssertionError(f"{text!r} was typed but never shown")


def type_into_server_fields(session: str) -> None:
    """The server's ssh destination, then three fields on, its repo_root."""
    time.sleep(1.0)  # the screen focuses its first field once mounted
    typed(session, "lab-nas")
    keys(session, "Tab", "Tab", "Tab", pause=0.5)
    typed(session, "/srv/backups")


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
        type_into_server_fields(session)
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


def test_rename_and_leave_out_in_tmux_at_80x24(tmp_path: Path):
    if os.geteuid() != 0 or not shutil.which("tmux"):
        pytest.skip("needs root (the lab) and tmux")
    lab = start_lab(clients=[("client1", "root", "1.7"), ("client2", "root", "1.7")])
    session = f"borgkeep-test-rename-{os.getpid()}"
    inventory = tmp_path / "config" / "borgkeep" / "inventory.yaml"
    try:
        env = {
            **lab.env(),
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "XDG_DATA_HOME": str(tmp_path / "data"),
            "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        }
        exports = " ".join(f"{k}={v}" for k, v in env.items())
        tmux(
            "new-session", "-d", "-s", session, "-x", "80", "-y", "24",
            f"env {exports} {BORGKEEP}; echo EXITED=$?; sleep 30",
        )  # fmt: skip
        wait_screen(session, "1/7 Welcome")
        keys(session, "C-n")
        wait_screen(session, "2/7 Backup server")
        type_into_server_fields(session)
        keys(session, "C-o")
        wait_screen(session, "repos in   /srv/backups")
        keys(session, "C-n")
        wait_screen(session, "3/7 Clients")
        keys(session, "Space", "Down", "Space")  # tick lab-client1 and lab-client2
        screen = wait_screen(session, "lab-client2  lab-client2  ✓ ready")
        assert "lab-client1  lab-client1  ✓ ready" in screen
        # The last one added is selected: rename it in its Name field.
        keys(session, "Tab", "Tab", "Tab", "Tab", "C-u")
        type_text(session, "Web 1")
        screen = wait_screen(session, "'Web 1' is not")
        assert "name of the client at lab-client2" in screen
        keys(session, "C-u")
        type_text(session, "web-1")
        screen = wait_screen(session, "web-1 (lab-client2)")
        assert re.search(r"web-1\s+lab-client2\s+✓ ready", screen), screen
        keys(session, "C-n")
        wait_screen(session, "4/7 Retention")
        assert "backup web-1" in wait_screen(session, "backup web-1")
        keys(session, "C-n")
        wait_screen(session, "change(s) to apply", 120)
        # Enter only opens and closes a host; x leaves it out.
        # One Down at a time, each waited for until the screen redraws: on a loaded
        # machine queued keys would run past the row between two captures.
        screen = tmux("capture-pane", "-p", "-t", session)
        for _ in range(40):
            if re.search(r"││ web-1\s+│", screen):
                break
            before = screen
            keys(session, "Down", pause=0.05)
            for _ in range(50):
                screen = tmux("capture-pane", "-p", "-t", session)
                if screen != before:
                    break
                time.sleep(0.1)
            time.sleep(0.2)
            screen = tmux("capture-pane", "-p", "-t", session)
        else:
            raise AssertionError(f"never reached web-1's row:\n{screen}")
        keys(session, "Enter", "Enter")
        screen = tmux("capture-pane", "-p", "-t", session)
        assert "[x] web-1" in screen and "[ ] web-1" not in screen
        keys(session, "x")
        screen = wait_screen(session, "[ ] web-1")
        assert "left out" in screen and "web-1: left out of this apply" in screen
        keys(session, "C-n")
        screen = wait_screen(session, "Apply the plan?")
        assert "Left out of this apply (nothing is written there): web-1" in screen
        keys(session, "n")
        wait_screen(session, "5/7 Review")
        keys(session, "C-q")
        wait_screen(session, "EXITED=0")
        assert not inventory.exists()  # nothing applied, so nothing saved
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
        lab.stop()
