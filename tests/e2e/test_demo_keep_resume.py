"""`borgkeep demo --cli --keep`, then `--stop`, then `--resume`: the kept lab comes back (the
server on a new port, because its old one is taken meanwhile), a new host joins the applied
fleet, the old clients still back up (Borg was told its repository moved), and the commands
the demo prints work as printed, and so do the day-two commands in a shell that sourced the
lab's `env` file."""

from __future__ import annotations

import re
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.helpers import root_required  # noqa: F401 (autouse fixture)
from wizard.lab.demo import first_backups, operator_env
from wizard.lab.resume import resume_lab, stop_kept_lab

pytestmark = pytest.mark.lab
DEMO_TIMEOUT = 400


def demo(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "screens.launcher", "demo", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=DEMO_TIMEOUT,
        cwd=cwd,
    )


def printed_commands(output: str, client: str) -> dict[str, list[str]]:
    """The 'Try it yourself' ssh command lines printed for `client`."""
    block = output.split(f"  {client} (logs in as", 1)[1]
    commands = {}
    for what in ("back up now", "list archives", "restore a file"):
        line = re.search(rf"{what}:\s+(ssh .*)", block)[1]
        argv = shlex.split(line)
        argv.remove("-t")  # no terminal here
        commands[what] = argv
    return commands


def test_kept_demo_resumes_on_a_new_port_and_adds_a_host(tmp_path):
    first = demo("--cli", "--keep", cwd=tmp_path)
    output = first.stdout + first.stderr
    base = Path(re.search(r"lab started in (\S+):", output)[1])
    try:
        assert first.returncode == 0, output
        # The plan once, the guard program summarised, then what happened and how to try it.
        assert first.stdout.count("=== nas:") == 1
        assert "more line(s) not shown here" in first.stdout
        assert "$ borgkeep apply " + str(base / "operator" / "demo.plan") in first.stdout
        assert "What happened:" in first.stdout and "Try it yourself" in first.stdout
        assert f"borgkeep demo --resume {base}" in first.stdout
        assert "PID" not in output and "kill" not in output
        assert (base / "lab.json").exists()
        # It ends by showing the protection work (on by default with --cli), every step as
        # shown: the refusal, status, the alert that reached the demo's receiver, the ack.
        shown = first.stdout.split("See the protection work:", 1)[1]
        for step in (
            "[3/8] client1 is compromised: it deletes its oldest archive with its own key",
            "✓ exit 3: REFUSED: nothing pruned or compacted",
            "borgkeep-guard: client1: REFUSING to prune /srv/backups/client1: 1 archive(s) "
            "deleted outside the server's prune",
            "✓ client1 is refused",
            "POST /hook: {",
            "✓ the webhook says client1 was refused",
            "nas# runuser -u borg -- ",
            "guard.py acknowledge client1",
            "✓ borgkeep status: client1 is ok",
        ):
            assert step in shown, step
        assert "  ✗ " not in shown, shown
        assert re.search(r"alerts:\n  webhook: http://127\.0\.0\.1:\d+/hook", _inventory(base))

        # The day-two commands work on the kept lab in a shell that sourced DIR/env, and in
        # nothing else: no variable of the demo's own process is inherited.
        assert f". {base / 'env'}" in first.stdout
        assert f"export BORGKEEP_SSH_CONFIG={base}/" in first.stdout
        day_two = subprocess.run(
            [
                "bash",
                "-c",
                f". {shlex.quote(str(base / 'env'))} && borgkeep status && borgkeep plan",
            ],
            capture_output=True,
            text=True,
            timeout=DEMO_TIMEOUT,
            cwd=tmp_path,
            env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path)},
        )
        assert day_two.returncode == 0, day_two.stdout + day_two.stderr
        assert "client1" in day_two.stdout and "Nothing to change" in day_two.stdout

        stopped = demo("--stop", str(base), cwd=tmp_path)
        assert stopped.returncode == 0 and "stopped 3 lab host(s)" in stopped.stdout
        old_port = int(re.search(r"address: 127\.0\.0\.1:(\d+)", _inventory(base))[1])
        with socket.socket() as squatter:  # the server's old port is taken meanwhile
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            squatter.bind(("127.0.0.1", old_port))
            squatter.listen(1)
            resumed = demo("--resume", str(base), "--cli", cwd=tmp_path)
        output = resumed.stdout + resumed.stderr
        assert resumed.returncode == 0, output
        assert f"the server's port {old_port} was taken" in output
        assert "not in the fleet yet: client3" in output
        new_port = int(re.search(r"address: 127\.0\.0\.1:(\d+)", _inventory(base))[1])
        assert new_port != old_port
        assert "client3" in _inventory(base)
        assert "Nothing to change" in resumed.stdout.split("a second run changes nothing")[1]

        # The lab keeps running: the printed commands work as printed.
        commands = printed_commands(resumed.stdout, "client3")
        for what in ("back up now", "list archives", "restore a file"):
            run = subprocess.run(commands[what], capture_output=True, text=True, timeout=120)
            assert run.returncode == 0, (what, run.stdout, run.stderr)
        lab, moved = resume_lab(base)  # adopts the running hosts
        try:
            assert moved == {}
            restored = lab.read_file("client3", "/tmp/srv/data/hello.txt")
            assert restored == b"Hello from the Borgkeep lab.\n"
            # The old clients back up to the moved server without Borg's relocation prompt.
            with pytest.MonkeyPatch.context() as patch:
                for key, value in operator_env(lab).items():  # the demo's own operator dirs
                    patch.setenv(key, value)
                backed_up = first_backups(lab)
            assert all(line.startswith("✓") for line in backed_up), backed_up
        finally:
            lab.detach()
    finally:
        stop_kept_lab(base)
        shutil.rmtree(base, ignore_errors=True)


def _inventory(base: Path) -> str:
    return (base / "operator" / "config" / "borgkeep" / "inventory.yaml").read_text()
