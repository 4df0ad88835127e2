"""Ctrl-C and SIGTERM on the command line (`wizard.cli.interrupts`), the interrupt report's
words (`interrupted_lines`), the command that finishes an interrupted lifecycle command, and
the progress lines on stderr (`wizard.cli.progress`). The whole CLI, interrupted at every
step of a real apply, is in tests/e2e/test_interrupted_apply.py."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from wizard.cli import build_parser
from wizard.cli.interrupts import finish_apply, interrupt_message
from wizard.cli.lifecycle import finishing_command
from wizard.cli.progress import ERASE, ProgressLines
from wizard.pipeline.apply import ApplyResult, ApplyStepError, HostOutcome
from wizard.reports import interrupted_lines

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import os, signal, sys, threading, time
    from wizard.cli.interrupts import cancel_on_interrupt
    cancel = threading.Event()
    with cancel_on_interrupt(cancel, "run `borgkeep apply` again") as event:
        os.kill(os.getpid(), getattr(signal, sys.argv[1]))
        for _ in range(100):  # a step in progress: it goes on after the interrupt
            if event.is_set():
                break
            time.sleep(0.01)
        print("step finished", event.is_set(), flush=True)
        if sys.argv[2] == "twice":
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
            print("not reached", flush=True)
    print("handlers restored:", signal.getsignal(signal.SIGINT) is signal.default_int_handler)
    """
)


def run_script(signal_name: str, times: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, signal_name, times],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


def test_an_interrupt_sets_cancel_and_the_step_in_progress_finishes() -> None:
    for name in ("SIGINT", "SIGTERM"):
        done = run_script(name, "once")
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == ["step finished True", "handlers restored: True"]
        assert done.stderr == (
            "borgkeep: interrupted: finishing the step in progress, then skipping the rest "
            "(interrupt again to stop at once)\n"
        )


def test_a_second_interrupt_stops_at_once() -> None:
    started = time.monotonic()
    stopped = run_script("SIGINT", "twice")
    assert time.monotonic() - started < 4
    assert stopped.returncode == 1
    assert stopped.stdout == "step finished True\n"
    assert stopped.stderr.splitlines()[-1] == (
        "borgkeep: interrupted again: stopping at once. To finish: run `borgkeep apply` again"
    )


def outcomes() -> ApplyResult:
    server = HostOutcome("nas", done=["run create-user", "create /srv/backups"])
    server.skipped = ["create crontab:borg"]
    client = HostOutcome("client1", done=["run generate-key"])
    client.error = ApplyStepError("client1", "run init-repo", "exit code 2")
    client.skipped = ["create crontab:root"]
    return ApplyResult({"nas": server, "client1": client, "client2": HostOutcome("client2")})


def test_the_report_says_what_was_done_and_skipped_and_how_to_finish() -> None:
    finish = finish_apply(Path("/srv/inv.yaml"))
    assert interrupted_lines(outcomes(), finish) == [
        "Interrupted: the step in progress was finished, the rest skipped.",
        "  ✓ nas: done: run create-user; create /srv/backups",
        "  - nas: skipped: create crontab:borg",
        "  ✓ client1: done: run generate-key",
        "  ✗ client1: failed: run init-repo: exit code 2",
        "  - client1: skipped: create crontab:root",
        "  - client2: nothing ran",
        "To finish: run `borgkeep --inventory /srv/inv.yaml apply` again: the plan picks up "
        "where this one stopped",
    ]


def test_the_finishing_commands() -> None:
    assert finish_apply(None) == (
        "run `borgkeep apply` again: the plan picks up where this one stopped"
    )
    assert finish_apply(None, Path("/srv/my inv.yaml")) == (
        "run `borgkeep --inventory '/srv/my inv.yaml' apply` (the saved plan no longer "
        "matches the hosts): the plan picks up where this one stopped"
    )
    parser = build_parser()
    cases = {
        ("remove", "c1", "--yes", "--purge-repository", "c1"): (
            "borgkeep remove c1 --purge-repository c1"
        ),
        ("rotate-key", "c1", "--json", "--yes"): "borgkeep rotate-key c1",
        ("recover", "c1", "--rollback", "--yes"): "borgkeep recover c1 --rollback",
        ("restore", "c1", "/etc/hosts", "--to", "/tmp/x", "--overwrite"): (
            "borgkeep restore c1 /etc/hosts --to /tmp/x --overwrite"
        ),
        ("--inventory", "/i.yaml", "restore", "c1", "/a b", "--archive", "c1-2026"): (
            "borgkeep --inventory /i.yaml restore c1 '/a b' --archive c1-2026"
        ),
    }
    for argv, expected in cases.items():
        assert finishing_command(parser.parse_args(list(argv))) == expected


def test_an_interrupt_before_anything_changed_says_so() -> None:
    assert interrupt_message("apply") == "interrupted: nothing was applied"
    assert interrupt_message("rotate-key") == "interrupted: nothing was applied"
    assert interrupt_message("verify") == "interrupted"


def test_progress_lines_and_the_ticking_line() -> None:
    stream = io.StringIO()
    progress = ProgressLines(stream, ticking=False)
    progress.event("c1", "step", "borg info", "  · c1: borg info")
    start = progress.running["c1"][1]
    progress.tick(start + 0.5)  # output less than a second ago: nothing
    assert stream.getvalue() == "  · c1: borg info\n"
    progress.event("nas", "step", "check-all", "  · nas: check-all")
    progress.tick(start + 12)
    assert stream.getvalue().endswith(f"{ERASE}  … c1: borg info (12 s; 1 more host(s) working)")
    progress.event("c1", "done", "borg info", "  ✓ c1: borg info")
    assert stream.getvalue().endswith(f"{ERASE}  ✓ c1: borg info\n")
    progress.tick(start + 30)
    progress.event("nas", "error", "check-all failed", None)  # the last step ends: erased
    assert stream.getvalue().endswith(f"{ERASE}  … nas: check-all (30 s){ERASE}")
    assert not progress.running
