"""Holding the server's apply lock (`wizard.remote.lock`) over the front door's connection:
one apply or lifecycle change at a time across operators."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from wizard.remote.errors import ServerUnavailable
from wizard.remote.lock import DEFAULT_TIMEOUT, hold_server_lock

if TYPE_CHECKING:
    from wizard.remote.transport import Connection

LOCK_TIMEOUT_ENV = "BORGKEEP_LOCK_TIMEOUT"


@contextlib.contextmanager
def holding_server_lock(
    connect: Callable[[str], Connection], server: str, timeout: float | None = None
) -> Iterator[None]:
    """Hold the lock on `server` for the duration: `ServerUnavailable` if it cannot be
    reached; the wait is bounded by `timeout`, else `BORGKEEP_LOCK_TIMEOUT`, else the
    lock's default."""
    if timeout is None:
        timeout = float(os.environ.get(LOCK_TIMEOUT_ENV, DEFAULT_TIMEOUT))
    try:
        conn = connect(server)
    except Exception as exc:
        raise ServerUnavailable(f"{server}: {exc}") from exc
    with hold_server_lock(conn, server, timeout):
        yield
