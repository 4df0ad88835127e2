"""SSH transport: one verified paramiko connection per host per run, reused for every step.

Authentication is explicit and predictable: identity files from the ssh config (an
encrypted one is used through the agent when the agent holds it), then, unless
``IdentitiesOnly``, the agent's other keys, then the default ``~/.ssh/id_*`` keys when the
config names no IdentityFile. Host keys are decided by `wizard.remote.host_keys.VerifyingPolicy`.

Remote commands are ``sh -c`` strings whose every value is ``shlex.quote``d (see
`wizard.remote.scripts`); secrets travel on stdin, never in the command line.
"""

from __future__ import annotations

import logging
import shlex
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import paramiko
from paramiko.ssh_exception import NoValidConnectionsError

from wizard.remote.auth import PublicKeyAuth
from wizard.remote.errors import (
    AuthenticationFailed,
    ConnectionLost,
    HostUnreachable,
    RemoteCommandError,
    RemoteCommandTimeout,
    TransportError,
)
from wizard.remote.host_keys import (
    HostKeyError,
    UnknownKeyCallback,
    VerifyingPolicy,
    fingerprint_sha256,
    known_host_key_types,
)
from wizard.remote.ssh_config import SSHTarget
from wizard.remote.start_command import exec_within
from wizard.remote.step_timeouts import BORG, step_silence

__all__ = [
    "AuthenticationFailed",
    "CommandResult",
    "Connection",
    "ConnectionLost",
    "HostUnreachable",
    "RemoteCommandError",
    "RemoteCommandTimeout",
    "TransportError",
    "wrap_command",
]

KEEPALIVE_SECONDS = 30
READ_CHUNK = 65536
HANDSHAKE_GRACE_SECONDS = 10

# paramiko logs every failed handshake with a traceback from its own thread (Python's
# last-resort handler prints it on stderr, over the CLI's output or the wizard's screen).
# Each failure reaches the caller as one exception with one line, so its log stays silent.
_PARAMIKO_LOG = logging.getLogger("paramiko")
if not _PARAMIKO_LOG.handlers:
    _PARAMIKO_LOG.addHandler(logging.NullHandler())
    _PARAMIKO_LOG.propagate = False


def _handshake_failure(address: str, exc: BaseException, timeout: float) -> HostUnreachable:
    """One line for an SSH handshake that failed, saying what the other end did."""
    text = str(exc)
    if "protocol banner" in text:
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, TimeoutError | socket.timeout):
            return HostUnreachable(
                address, "", f"no SSH banner from {address} within {timeout:g} s"
            )
        return HostUnreachable(address, "", f"connection closed by {address} before the SSH banner")
    if isinstance(exc, EOFError) or "EOF" in text:
        return HostUnreachable(
            address, "", f"connection closed by {address} during the SSH handshake"
        )
    return HostUnreachable(address, f"SSH handshake failed ({text or type(exc).__name__})")


@dataclass(frozen=True)
class CommandResult:
    """Exit status and raw output of one remote command."""

    rc: int
    stdout: bytes
    stderr: bytes

    @property
    def text(self) -> str:
        """stdout as text (undecodable bytes replaced)."""
        return self.stdout.decode("utf-8", errors="replace")

    @property
    def stderr_text(self) -> str:
        return self.stderr.decode("utf-8", errors="replace")

    @property
    def ok(self) -> bool:
        return self.rc == 0


def summarize_command(command: str, limit: int = 120) -> str:
    """First line of a command, shortened, for messages (commands never hold secrets)."""
    lines = command.strip().splitlines() or [""]
    summary = lines[0] + (" ..." if len(lines) > 1 else "")
    return summary if len(summary) <= limit else summary[: limit - 3] + "..."


def wrap_command(command: str, use_sudo: bool) -> str:
    """The exact command line sent to sshd: always POSIX ``sh -c``, whatever the login shell,
    behind ``sudo -n`` (which fails instead of prompting) when ``use_sudo``."""
    if use_sudo:
        return f"sudo -n sh -c {shlex.quote(command)}"
    return f"sh -c {shlex.quote(command)}"


def _host_key_preferring_transport(
    known_types: list[str],
) -> Callable[..., paramiko.Transport] | None:
    """A transport factory that asks the server for the key types already on file first."""
    if not known_types:
        return None

    def factory(sock: socket.socket, **kwargs: object) -> paramiko.Transport:
        transport = paramiko.Transport(sock, **kwargs)
        options = transport.get_security_options()
        available = list(options.key_types)
        preferred = [t for t in known_types if t in available]
        options.key_types = preferred + [t for t in available if t not in preferred]
        return transport

    return factory


class Connection:
    """One authenticated SSH connection to a host; run as many commands on it as needed.

    Thread-safe for concurrent `run` calls (each opens its own channel on the transport).
    """

    def __init__(self, target: SSHTarget, client: paramiko.SSHClient, host_key: paramiko.PKey):
        self.target = target
        self.client = client
        self.host_key = host_key
        self._identity: tuple[int, str] | None = None
        self._identity_lock = threading.Lock()

    @classmethod
    def connect(
        cls,
        target: SSHTarget,
        known_hosts_path: Path,
        on_unknown: UnknownKeyCallback | None = None,
        accept_new: bool = False,
        timeout: float = 15,
    ) -> Connection:
        """Open, verify the host key, authenticate; raise `HostUnreachable`,
        `AuthenticationFailed`, `HostKeyChanged` or `HostKeyUnknown`."""
        client = paramiko.SSHClient()
        policy = VerifyingPolicy(known_hosts_path, on_unknown=on_unknown, accept_new=accept_new)
        client.set_missing_host_key_policy(policy)
        auth = PublicKeyAuth(target)
        address = target.display.split("@", 1)[1]
        try:
            # The TCP connect is ours, so the banner wait (`timeout`) ends before paramiko's
            # negotiation deadline does, and a silent host is reported as such.
            sock = socket.create_connection((target.hostname, target.port), timeout=timeout)
            # Every request here is a few small packets answered by the host; with Nagle on,
            # a message sent while the previous one is still unacknowledged waits for the
            # host's delayed ACK (40 ms on Linux): every command would cost 40 ms more.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            client.connect(
                target.hostname,
                port=target.port,
                username=target.user,
                sock=sock,
                timeout=timeout + HANDSHAKE_GRACE_SECONDS,
                banner_timeout=timeout,
                auth_timeout=max(timeout, 30),
                allow_agent=False,
                look_for_keys=False,
                auth_strategy=auth,
                transport_factory=_host_key_preferring_transport(
                    known_host_key_types(known_hosts_path, target.hostname, target.port)
                ),
            )
        except (HostKeyError, AuthenticationFailed):
            client.close()
            raise
        except socket.gaierror as exc:
            client.close()
            raise HostUnreachable(address, f"cannot resolve host name ({exc.strerror})") from exc
        except NoValidConnectionsError as exc:
            client.close()
            reasons = {err.strerror or str(err) for err in exc.errors.values()}
            raise HostUnreachable(address, "; ".join(sorted(reasons))) from exc
        except TimeoutError as exc:
            client.close()
            raise HostUnreachable(address, f"no answer within {timeout:g} s") from exc
        except OSError as exc:
            client.close()
            raise HostUnreachable(address, exc.strerror or str(exc)) from exc
        except (paramiko.SSHException, EOFError) as exc:
            client.close()
            raise _handshake_failure(address, exc, timeout) from exc
        transport = client.get_transport()
        assert transport is not None
        transport.set_keepalive(KEEPALIVE_SECONDS)
        return cls(target, client, transport.get_remote_server_key())

    @property
    def transport(self) -> paramiko.Transport:
        transport = self.client.get_transport()
        if transport is None or not transport.is_active():
            raise ConnectionLost(f"connection to {self.target.display} is closed")
        return transport

    @property
    def host_key_fingerprint(self) -> str:
        return fingerprint_sha256(self.host_key)

    @property
    def is_active(self) -> bool:
        transport = self.client.get_transport()
        return transport is not None and transport.is_active()

    def _learn_identity(self) -> tuple[int, str]:
        with self._identity_lock:
            if self._identity is None:
                result = self.run("id -u; id -un", check=True)
                uid_text, name = (result.text.split() + ["", ""])[:2]
                if not uid_text.isdigit() or not name:
                    raise TransportError(
                        f"unexpected output of `id` on {self.target.display}: {result.text!r}"
                    )
                self._identity = (int(uid_text), name)
            return self._identity

    def remember_identity(self, uid: int, user: str) -> None:
        """Record who the login is when a caller already learned it (fact gathering), so
        `is_root` and `login_user` cost no extra round trip."""
        with self._identity_lock:
            self._identity = (uid, user)

    @property
    def is_root(self) -> bool:
        """Whether the login is uid 0 (one round trip, the first time it is asked)."""
        return self._learn_identity()[0] == 0

    @property
    def login_user(self) -> str:
        """The remote login's user name as the host reports it."""
        return self._learn_identity()[1]

    def run(
        self,
        command: str,
        stdin: bytes | None = None,
        sudo: bool = False,
        timeout: float | None = None,
        check: bool = False,
        kind: str = BORG,
        silence: float | None = None,
    ) -> CommandResult:
        """Run ``command`` with ``sh -c`` (through ``sudo -n`` if ``sudo`` and not root).

        ``stdin`` is written in full and then closed (EOF is sent even without stdin);
        stdout and stderr are read concurrently, so neither side can block the other.
        The command is stopped (`RemoteCommandTimeout`) when it sends nothing for
        ``silence`` seconds (default: its ``kind``'s limit, see `step_silence`), or when
        it runs longer than ``timeout`` seconds in all, if given.
        """
        wire_command = wrap_command(command, use_sudo=sudo and not self.is_root)
        summary = summarize_command(command)
        quiet_limit = step_silence(kind) if silence is None else silence
        try:
            channel = self.transport.open_session(timeout=quiet_limit)
            exec_within(channel, wire_command, quiet_limit)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise ConnectionLost(
                f"on {self.target.display}: could not start `{summary}`: {exc}"
            ) from exc

        stdout_chunks: list[bytes] = []
        stderr_chunks: list[bytes] = []
        heard = [time.monotonic()]  # when the command last sent anything

        def read_all(receive, chunks: list[bytes]) -> None:
            try:
                while data := receive(READ_CHUNK):
                    chunks.append(data)
                    heard[0] = time.monotonic()
            except (OSError, EOFError, paramiko.SSHException):
                pass

        def write_all() -> None:
            try:
                if stdin:
                    channel.sendall(stdin)
                    heard[0] = time.monotonic()
                channel.shutdown_write()
            except (OSError, EOFError, paramiko.SSHException):
                pass  # the command exited without reading all of it, like EPIPE

        workers = [
            threading.Thread(target=write_all, daemon=True),
            threading.Thread(target=read_all, args=(channel.recv, stdout_chunks), daemon=True),
            threading.Thread(
                target=read_all, args=(channel.recv_stderr, stderr_chunks), daemon=True
            ),
        ]
        for worker in workers:
            worker.start()
        deadline = None if timeout is None else time.monotonic() + timeout
        readers = workers[1:]
        while True:
            readers = [worker for worker in readers if worker.is_alive()]
            if not readers and channel.status_event.is_set():
                break
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                channel.close()
                raise RemoteCommandTimeout(self.target.display, summary, timeout or 0)
            if now - heard[0] >= quiet_limit:
                channel.close()
                raise RemoteCommandTimeout(self.target.display, summary, quiet_limit, silent=True)
            wait = heard[0] + quiet_limit - now
            if deadline is not None:
                wait = min(wait, deadline - now)
            if readers:
                readers[0].join(max(0.0, wait))
            else:
                channel.status_event.wait(max(0.0, wait))
        rc = channel.recv_exit_status()
        channel.close()
        if not self.is_active and rc == -1:
            raise ConnectionLost(f"on {self.target.display}: connection lost during `{summary}`")
        result = CommandResult(rc, b"".join(stdout_chunks), b"".join(stderr_chunks))
        if check and rc != 0:
            raise RemoteCommandError(self.target.display, summary, rc, result.stderr)
        return result

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "open" if self.is_active else "closed"
        return f"<Connection {self.target.display} {state}>"
