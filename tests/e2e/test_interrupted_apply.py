"""Interrupt a from-scratch `borgkeep apply --yes` at each step boundary, then run it again.

Each case starts a fresh lab (a server and one client: about a second), runs the real CLI
as a subprocess, watches its progress lines on stderr, and right after the line that says a
given step is done sends SIGINT (or SIGKILL). SIGINT must finish the step in progress, skip
the rest and say so, with the command that finishes the job; then, for either signal, that
command (`borgkeep apply --yes`) exits 0 with its proofs, a second `borgkeep plan` has
nothing to change and the client's cron line backs up; after SIGINT the server's guard jobs
also run clean (after SIGKILL the proofs' guard check stands for them).
SIGINT comes after every step (the first half here, the second in
`test_interrupted_apply_late`), SIGKILL after every step in `test_killed_apply` and
`test_killed_apply_late` (files of their own, so that CI runs them side by side). The connection to the
server is dropped once as its last phase starts, and a lifecycle command (`rotate-key`) is
interrupted the same way once.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.cutting_proxy import CuttingProxy
from wizard.lab import Lab, start_lab

from .helpers import (  # noqa: F401  (root_required is an autouse fixture)
    BORG_USER,
    Operator,
    archives,
    crontab_commands,
    make_operator,
    root_required,
    run_cron_command,
)

pytestmark = pytest.mark.lab

CLIENT = "client1"
SERVER = "nas"
STEP_DONE = re.compile(r"^\s*✓ (\S+): (.+)$")
"""A progress line on stderr saying a step is done: `  ✓ HOST: TITLE`."""
NOT_A_STEP = ("facts gathered",)
REPORT_LINE = re.compile(r"^  [✓-] (\S+): (done|skipped): (.+)$")
"""The interrupt report's lines: `  ✓ HOST: done: TITLE; TITLE` and `  - HOST: skipped: ...`."""
CLI_TIMEOUT = 120

STEPS = [
    (CLIENT, "run generate-key"),
    (SERVER, "run create-user"),
    (SERVER, "create /srv/backups"),
    (SERVER, "create /home/borg/.ssh/authorized_keys"),
    (CLIENT, "create /root/.ssh/borgkeep_known_hosts"),
    (CLIENT, "create /etc/borgkeep/client1.passphrase"),
    (CLIENT, "create /etc/borgkeep/borgkeep-client1.yaml"),
    (SERVER, "create /home/borg/.config/borgkeep/guard.py"),
    (SERVER, "create /home/borg/.config/borgkeep/client1.passphrase"),
    (SERVER, "create /home/borg/.config/borgkeep/prune-client1.yaml"),
    (CLIENT, "run init-repo"),
    (CLIENT, "create crontab:root"),
    (SERVER, "run init-guard"),
    (SERVER, "create /home/borg/.config/borgkeep/alerts.json"),
    (SERVER, "create crontab:borg"),
]
"""Every step of the first apply, in the order a run usually reports them (the server's
and the client's steps of a phase run side by side)."""
HALF = len(STEPS) // 2
INTERRUPT_AFTER = STEPS[:HALF]
"""Where Ctrl-C comes here: after each of the first half of the steps in turn (the second
half: `test_interrupted_apply_late`; SIGKILL: `test_killed_apply` and its `_late` half).
Each half is a file of its own so that CI's workers run them side by side."""


@pytest.fixture
def operator(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Operator]:
    """A fresh lab (nas, client1: about a second to start) and an operator with its
    inventory, nothing applied yet: every case starts from scratch."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)[:40]
    base = Path(tempfile.mkdtemp(prefix=f"borgkeep-lab-{name}-", dir="/var/tmp"))
    lab = start_lab(base=base, clients=[(CLIENT, "root", "1.7")])
    try:
        operator = make_operator(lab, tmp_path / "operator")
        operator.write_inventory(lab.inventory_yaml(repo_root="/srv/backups"))
        yield operator
    finally:
        lab.stop()


@dataclass
class Interrupted:
    """A CLI run stopped by a signal right after a step's done line."""

    returncode: int
    stdout: str
    stderr: str
    steps_seen: list[tuple[str, str]]

    def describe(self) -> str:
        return f"exit {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


def watch(
    operator: Operator,
    args: list[str],
    when: Callable[[str], bool],
    act: Callable[[subprocess.Popen], None],
    env: dict[str, str] | None = None,
) -> Interrupted:
    """`borgkeep ARGS` as a subprocess; `act(process)` once, right after the first line on
    stderr for which `when(line)` holds. stdout goes to a file, so nothing blocks on it."""
    out_path = operator.workdir / "interrupted.stdout"
    argv = [sys.executable, "-m", "screens.launcher", "--inventory", str(operator.inventory)]
    seen: list[tuple[str, str]] = []
    lines: list[str] = []
    with out_path.open("w") as out:
        process = subprocess.Popen(
            [*argv, *args],
            env=env or operator.env(),
            stdout=out,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            cwd=operator.workdir,
        )
        deadline = time.monotonic() + CLI_TIMEOUT
        acted = False
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            match = STEP_DONE.match(line)
            if match and match.group(2) not in NOT_A_STEP:
                seen.append((match.group(1), match.group(2)))
            if not acted and when(line):
                act(process)
                acted = True
            if time.monotonic() > deadline:
                process.kill()
                break
        returncode = process.wait(timeout=CLI_TIMEOUT)
    assert acted, f"the awaited line never came:\n{''.join(lines)}"
    return Interrupted(returncode, out_path.read_text(), "".join(lines), seen)


def run_and_interrupt(
    operator: Operator, args: list[str], after: tuple[str, str] | None, signum: int
) -> Interrupted:
    """`borgkeep ARGS`, and `signum` right after the done line of `after` (or of the first
    step done, for None)."""

    def done_line(line: str) -> bool:
        match = STEP_DONE.match(line)
        if not match or match.group(2) in NOT_A_STEP:
            return False
        return after is None or (match.group(1), match.group(2)) == after

    return watch(operator, args, done_line, lambda process: process.send_signal(signum))


def assert_reported(run: Interrupted, operator: Operator, after: tuple[str, str]) -> None:
    """SIGINT: the step in progress finished, the rest were skipped, and the report says
    what was done, what was skipped and the command that finishes the job."""
    if set(run.steps_seen) == set(STEPS) and run.returncode in (0, -signal.SIGINT):
        # every step was done before the signal came (the last ones run beside the one it
        # followed): the apply had nothing left to skip, and Ctrl-C ends the final report
        assert "Traceback" not in run.stderr, run.describe()
        return
    assert run.returncode == 1, run.describe()
    finish = f"run `borgkeep --inventory {operator.inventory} apply` again"
    assert "Interrupted: the step in progress was finished, the rest skipped." in run.stdout
    assert f"To finish: {finish}: the plan picks up where this one stopped" in run.stdout
    reported = {}
    for line in run.stdout.splitlines():
        if match := REPORT_LINE.match(line):
            for title in match.group(3).split("; "):
                reported[(match.group(1), title)] = match.group(2)
    assert reported.get(after) == "done", run.describe()
    assert set(reported) == set(STEPS), run.describe()  # every step is done or skipped
    skipped = [step for step, said in reported.items() if said == "skipped"]
    assert ("(cancelled)" in run.stderr) == bool(skipped), run.describe()
    assert "Traceback" not in run.stderr, run.describe()


def assert_converges(operator: Operator, lab: Lab, cron: bool, server_jobs: bool = True) -> None:
    """The rerun exits 0 with its proofs; a second plan is empty; the client's cron job
    backs up and (with `server_jobs`) the server's guard jobs run clean."""
    rerun = operator.run("apply", "--yes")
    assert rerun.returncode == 0, rerun.describe()
    if "all proofs passed" not in rerun.stdout:  # nothing was left to apply: no proofs ran
        proofs = operator.run("verify")
        assert proofs.returncode == 0, rerun.describe() + proofs.describe()
    again = operator.run("plan")
    assert again.returncode == 0, again.describe()
    if not cron:
        return
    (backup,) = crontab_commands(lab, CLIENT, "root")
    run_cron_command(lab, CLIENT, backup, user="root")
    assert [name.startswith(f"{CLIENT}-") for name, _ in archives(lab, CLIENT)] == [True]
    jobs = crontab_commands(lab, SERVER, BORG_USER)
    assert any(f" prune {CLIENT}" in job for job in jobs), jobs
    for job in jobs if server_jobs else ():
        run_cron_command(lab, SERVER, job, user=BORG_USER)


def step_id(step: tuple[str, str]) -> str:
    return f"{step[0]}-{step[1].replace(' ', '-').strip('/')}"


def interrupted_then_converges(operator: Operator, after: tuple[str, str], signum: int) -> None:
    """`signum` right after the step `after` of a from-scratch apply; SIGINT's report;
    then the rerun converges: its proofs, an empty plan, the client's cron job backs up,
    and after Ctrl-C the server's guard jobs run clean too. After SIGKILL the server's jobs
    are not run (half a case's time): the empty plan says every file, key line and crontab
    is the desired one, byte for byte, and the rerun's proofs run the guard's check of the
    repository against its baseline with the prune's dry run; the Ctrl-C case after the
    same step runs the jobs themselves."""
    run = run_and_interrupt(operator, ["apply", "--yes", "--no-verify"], after, signum)
    if signum == signal.SIGKILL:
        assert run.returncode == -signal.SIGKILL, run.describe()
    else:
        assert_reported(run, operator, after)
    assert_converges(operator, operator.lab, cron=True, server_jobs=signum != signal.SIGKILL)


@pytest.mark.parametrize("after", INTERRUPT_AFTER, ids=step_id)
def test_ctrl_c_after_a_step_reports_and_the_rerun_converges(
    operator: Operator, after: tuple[str, str]
) -> None:
    interrupted_then_converges(operator, after, signal.SIGINT)


def test_sigterm_is_ctrl_c(operator: Operator) -> None:
    after = (SERVER, "create /srv/backups")
    run = run_and_interrupt(operator, ["apply", "--yes", "--no-verify"], after, signal.SIGTERM)
    assert_reported(run, operator, after)


def test_a_connection_dropped_in_the_servers_last_phase(operator: Operator, tmp_path: Path) -> None:
    """The operator reaches the server through a proxy that cuts the connection as the
    server's last phase starts (its guard baseline): the apply fails naming the server, and
    the next one (connected directly) converges."""
    lab = operator.lab
    proxy = CuttingProxy(lab.server.port)
    try:
        port = lab.server.port
        config = re.sub(
            rf"(Host {re.escape(lab.server.alias)}\n(?:[ \t]+.*\n)*?[ \t]+Port ){port}\b",
            lambda m: m.group(1) + str(proxy.port),
            lab.ssh_config.read_text(),
        )
        assert str(proxy.port) in config
        (tmp_path / "ssh_config").write_text(config)
        pinned = lab.host_key_line(SERVER).replace(f"]:{port} ", f"]:{proxy.port} ")
        known = [pinned, *(lab.host_key_line(c.name) for c in lab.clients)]
        (tmp_path / "known_hosts").write_text("\n".join(known) + "\n")
        env = {
            **operator.env(),
            "BORGKEEP_SSH_CONFIG": str(tmp_path / "ssh_config"),
            "BORGKEEP_KNOWN_HOSTS": str(tmp_path / "known_hosts"),
        }
        run = watch(
            operator,
            ["apply", "--yes", "--no-verify"],
            lambda line: line.strip() == f"· {SERVER}: run init-guard",
            lambda process: proxy.arm(0),  # cut at the next byte either way
            env,
        )
    finally:
        proxy.close()
    assert proxy.cut and run.returncode == 1, run.describe()
    assert f"✗ {SERVER}: failed at run init-guard" in run.stdout, run.describe()
    assert "Traceback" not in run.stderr, run.describe()
    assert_converges(operator, lab, cron=False)


def test_the_steps_covered_are_every_step_of_a_first_apply(operator: Operator) -> None:
    """STEPS is what a from-scratch apply does: a new step gets its own interrupt case."""
    full = operator.run("apply", "--yes", "--no-verify")
    assert full.returncode == 0, full.describe()
    done = {
        (m.group(1), m.group(2))
        for line in full.stderr.splitlines()
        if (m := STEP_DONE.match(line)) and m.group(2) not in NOT_A_STEP
    }
    assert done == set(STEPS)
    rotate_key_interrupted_then_rerun(operator)


def rotate_key_interrupted_then_rerun(operator: Operator) -> None:
    """`rotate-key` interrupted as the server's key line changes (the signal comes at a
    step's start line: after a done line the next step may have begun already): it says
    so and how to finish; the same command again completes the rotation, and the plan is
    empty."""
    run = watch(
        operator,
        ["rotate-key", CLIENT, "--yes"],
        lambda line: line.strip() == f"· {SERVER}: update /home/borg/.ssh/authorized_keys",
        lambda process: process.send_signal(signal.SIGINT),
    )
    assert run.returncode == 1, run.describe()
    assert "Interrupted: the step in progress was finished" in run.stdout, run.describe()
    # mid-way, unless a loaded machine let the client's last step run before the signal
    # reached the process (the watcher reads its progress lines late): then all is done
    done = {("client1", "run switch-key")} <= set(run.steps_seen)
    assert done or f"  - {CLIENT}: skipped: " in run.stdout, run.describe()
    finish = f"run `borgkeep --inventory {operator.inventory} rotate-key {CLIENT}` again"
    assert f"To finish: {finish}: its plan picks up where this one stopped" in run.stdout
    rerun = operator.run("rotate-key", CLIENT, "--yes")
    assert rerun.returncode == 0, rerun.describe()
    again = operator.run("plan")
    assert again.returncode == 0, again.describe()
    verified = operator.run("verify")
    assert verified.returncode == 0, verified.describe()


def test_a_second_ctrl_c_stops_at_once(operator: Operator) -> None:
    """Two interrupts: the process ends without waiting for the step in progress; the next
    apply still converges."""
    out_path = operator.workdir / "twice.stdout"
    argv = [sys.executable, "-m", "screens.launcher", "--inventory", str(operator.inventory)]
    with out_path.open("w") as out:
        process = subprocess.Popen(
            [*argv, "apply", "--yes", "--no-verify"],
            env=operator.env(),
            stdout=out,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        assert process.stderr is not None
        lines = []
        for line in process.stderr:
            lines.append(line)
            if line.strip() == f"· {CLIENT}: run init-repo":
                process.send_signal(signal.SIGINT)
                time.sleep(0.05)
                process.send_signal(signal.SIGINT)
                break
        _, rest = process.communicate(timeout=CLI_TIMEOUT)
    stderr = "".join(lines) + rest
    assert process.returncode == 1, stderr
    assert "borgkeep: interrupted again: stopping at once. To finish: run `borgkeep" in stderr
