"""A lock on the server held for the whole apply, so two applies never interleave.

The lock is `flock` on a file on the server, held by a command whose stdin is our SSH
channel: when the apply ends, or its connection dies, the command gets end-of-file and
the lock is released by the kernel. Nothing is left behind to clean up by hand.
"""

from __future__ import annotations

import contextlib
import shlex
import time
from collections.abc import Iterator

from wizard.remote.start_command import exec_within

LOCK_PATH = "$HOME/.cache/borgkeep/apply.lock"
DEFAULT_TIMEOUT = 120.0
LOCKED = b"borgkeep-locked"
BUSY_EXIT = 75
START_LIMIT = 30.0
"""How long the server may take to open the lock's channel and accept its command."""


class LockBusy(Exception):
    """Another apply holds the lock and did not finish in time."""


def lock_command(timeout: float) -> str:
    wait = max(0, int(timeout))
    return (
        'mkdir -p "$HOME/.cache/borgkeep" && '
        "command -v flock >/dev/null || { echo 'flock is not installed (util-linux)' >&2; exit 1; }; "
        f'exec flock -w {wait} -E {BUSY_EXIT} "{LOCK_PATH}" '
        f"sh -c {shlex.quote(f'echo {LOCKED.decode()}; exec cat >/dev/null')}"
    )


@contextlib.contextmanager
def hold_server_lock(conn, host: str, timeout: float = DEFAULT_TIMEOUT) -> Iterator[None]:
    """Block until the lock is ours (or raise `LockBusy` after `timeout` seconds)."""
    channel = conn.transport.open_session(timeout=START_LIMIT)
    try:
        exec_within(channel, f"sh -c {shlex.quote(lock_command(timeout))}", START_LIMIT)
        channel.settimeout(1.0)
        received = b""
        deadline = time.monotonic() + timeout + 30
        while LOCKED not in received:
            if channel.exit_status_ready() and not channel.recv_ready():
                status = channel.recv_exit_status()
                error = b""
                while channel.recv_stderr_ready():
                    error += channel.recv_stderr(4096)
                if status == BUSY_EXIT:
                    raise LockBusy(
                        f"{host}: another borgkeep apply is running against this server "
                        f"(waited {int(timeout)} s for its lock); try again when it is done"
                    )
                message = error.decode("utf-8", "replace").strip() or f"exit code {status}"
                raise LockBusy(f"{host}: cannot take the apply lock: {message}")
            if time.monotonic() > deadline:
                raise LockBusy(f"{host}: no answer while waiting for the apply lock")
            with contextlib.suppress(TimeoutError):
                chunk = channel.recv(64)
                if chunk:
                    received += chunk
        yield
    finally:
        with contextlib.suppress(Exception):
            channel.shutdown_write()
        with contextlib.suppress(Exception):
            channel.close()
