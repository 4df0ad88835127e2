"""Ctrl-C (SIGINT) and SIGTERM on the command line.

While a command changes hosts, an interrupt does not raise inside paramiko: it sets the
executor's `cancel` event, so the step in progress finishes, the rest are skipped (reason
"cancelled"), and the command then says what was done, what was skipped and which command
finishes the job. A second interrupt stops the process at once. Outside such a stretch,
SIGTERM is an interrupt like Ctrl-C (`KeyboardInterrupt`): nothing was being changed.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

EXIT_INTERRUPTED = 1
SIGNALS = (signal.SIGINT, signal.SIGTERM)
CHANGING = threading.Event()
"""Set once this process starts changing hosts (an interrupt before it changed nothing)."""


def _say(text: str) -> None:
    """One line on stderr from a signal handler: a plain write, no buffered stream."""
    with contextlib.suppress(OSError):
        os.write(2, f"borgkeep: {text}\n".encode())


@contextlib.contextmanager
def cancel_on_interrupt(cancel: threading.Event, finish: str) -> Iterator[threading.Event]:
    """For the stretch that changes hosts: the first SIGINT or SIGTERM sets `cancel`; the
    second exits at once (exit 1), saying that `finish` completes the job."""
    if threading.current_thread() is not threading.main_thread():
        CHANGING.set()
        yield cancel
        return

    def interrupted(signum: int, frame: object) -> None:
        if cancel.is_set():
            _say(f"interrupted again: stopping at once. To finish: {finish}")
            with contextlib.suppress(Exception):
                sys.stdout.flush()
            os._exit(EXIT_INTERRUPTED)
        cancel.set()
        _say(
            "interrupted: finishing the step in progress, then skipping the rest "
            "(interrupt again to stop at once)"
        )

    previous = {signum: signal.signal(signum, interrupted) for signum in SIGNALS}
    CHANGING.set()
    try:
        yield cancel
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def on_sigterm(engine: bool = True) -> Iterator[None]:
    """For an engine command (`engine`; the wizard and the demo handle their own): SIGTERM
    raises `KeyboardInterrupt`, like Ctrl-C, for the duration (main thread only)."""
    if not engine or threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminated(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def command_line(*words: str, inventory: Path | None = None) -> str:
    """`borgkeep [--inventory PATH] WORDS...`, quoted for a shell."""
    prefix = ["--inventory", str(inventory)] if inventory else []
    return shlex.join(["borgkeep", *prefix, *words])


def interrupt_message(command: str | None) -> str:
    """What an interrupt outside `cancel_on_interrupt` says: a command that changes hosts
    had not started to."""
    changes = command in ("apply", "remove", "rotate-key", "recover", "restore")
    return (
        "interrupted: nothing was applied" if changes and not CHANGING.is_set() else "interrupted"
    )


def finish_apply(inventory: Path | None, saved_from: Path | None = None) -> str:
    """The command that completes an interrupted `apply` (of a saved plan made from the
    inventory `saved_from`, which no longer matches the hosts)."""
    again = command_line("apply", inventory=saved_from or inventory)
    if saved_from is not None:
        return (
            f"run `{again}` (the saved plan no longer matches the hosts): "
            "the plan picks up where this one stopped"
        )
    return f"run `{again}` again: the plan picks up where this one stopped"
