"""What can go wrong between Borgkeep and a host, as exceptions with one-line messages."""

from __future__ import annotations

STDERR_IN_MESSAGE = 2000


class ServerUnavailable(Exception):
    """Without the server there is nothing to plan."""


class TransportError(Exception):
    """A connection or remote command failed (host key refusals are `HostKeyError`)."""


class HostUnreachable(TransportError):
    """No SSH session could be set up: name lookup, TCP connect or SSH handshake failed."""

    def __init__(self, address: str, reason: str, message: str | None = None) -> None:
        self.address = address
        self.reason = reason or (message or "")
        super().__init__(message or f"cannot reach {address}: {reason}")


class AuthenticationFailed(TransportError):
    """The server refused every key borgkeep tried (or there were none to try)."""

    def __init__(self, login: str, tried: tuple[str, ...], skipped: tuple[str, ...]) -> None:
        self.login = login
        self.tried = tried
        self.skipped = skipped
        if tried:
            detail = "tried " + "; ".join(tried)
        else:
            detail = "no usable key (load one into ssh-agent or set IdentityFile)"
        if skipped:
            detail += "; skipped " + "; ".join(skipped)
        super().__init__(f"authentication failed for {login}: {detail}")


class ConnectionLost(TransportError):
    """The connection broke while a command was being started or run."""


class RemoteCommandError(TransportError):
    """A command exited non-zero (raised by ``run(check=True)``)."""

    def __init__(self, host: str, command_summary: str, rc: int, stderr: bytes) -> None:
        self.host = host
        self.command_summary = command_summary
        self.rc = rc
        self.stderr = stderr
        text = stderr.decode("utf-8", errors="replace").strip()
        if len(text) > STDERR_IN_MESSAGE:
            text = "..." + text[-STDERR_IN_MESSAGE:]
        super().__init__(
            f"on {host}: `{command_summary}` exited with status {rc}"
            + (f": {text}" if text else " (no error output)")
        )


class RemoteCommandTimeout(TransportError):
    """A command did not finish in time, or sent nothing for too long (`silent`); its
    channel was closed."""

    def __init__(
        self, host: str, command_summary: str, timeout: float, silent: bool = False
    ) -> None:
        self.host = host
        self.command_summary = command_summary
        self.timeout = timeout
        self.silent = silent
        super().__init__(f"on {host}: `{command_summary}`: {self.what}")

    @property
    def what(self) -> str:
        """`no answer for 60 s` (or `did not finish within 60 s`), without host or command."""
        if self.silent:
            return f"no answer for {self.timeout:g} s"
        return f"did not finish within {self.timeout:g} s"
