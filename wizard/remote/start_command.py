"""Starting a command on an SSH channel, within a limit.

paramiko's `Channel.exec_command` sends the request and then waits for the server's
answer without any limit (`Event.wait()`): a server that accepted the channel but never
answers the request would hold the step for ever, silently. A watchdog closes the channel
after `seconds`, which wakes that wait; the caller gets `StartTimeout` naming the limit.
"""

from __future__ import annotations

import contextlib
import threading

import paramiko


class StartTimeout(paramiko.SSHException):
    """The server did not answer a command request within the limit."""


def exec_within(channel: paramiko.Channel, command: str, seconds: float) -> None:
    """`channel.exec_command(command)`, or `StartTimeout` after `seconds` without an answer
    (the channel is closed then)."""
    fired = threading.Event()

    def give_up() -> None:
        fired.set()
        # The close wakes the waiting request at once; its message to the server may find
        # the transport already gone (the caller moved on and closed it): nothing to say.
        with contextlib.suppress(EOFError, OSError, paramiko.SSHException):
            channel.close()

    watchdog = threading.Timer(seconds, give_up)
    watchdog.daemon = True
    watchdog.start()
    try:
        channel.exec_command(command)
    except paramiko.SSHException:
        if fired.is_set():
            raise StartTimeout(
                f"the server did not answer the command request within {seconds:g} s"
            ) from None
        raise
    finally:
        watchdog.cancel()
    if fired.is_set():  # answered just as the watchdog closed the channel: unusable
        raise StartTimeout(f"the server did not answer the command request within {seconds:g} s")
