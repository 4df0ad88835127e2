"""SSH transport: one verified paramiko connection per host per run, reused for every step.

Authentication is explicit and predictable: identity files from the ssh config (an
encrypted one is used through the agent when the agent holds it), then, unless
``IdentitiesOnly``, the agent's other keys, then the default ``~/.ssh/id_*`` keys when the
config names no IdentityFile. Host keys are decided by `wizard.host_keys.VerifyingPolicy`.

Remote commands are ``sh -c`` strings: build them with `sh_quote` (``shlex.quote``) and
pass secrets on stdin, never in the command line.
"""

from __future__ import annotations

import base64
import shlex
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import paramiko
from paramiko.ssh_exception import NoValidConnectionsError

from wizard.host_keys import (
    HostKeyError,
    UnknownKeyCallback,
    VerifyingPolicy,
    fingerprint_sha256,
    known_host_key_types,
)
from wizard.ssh_config import SSHTarget

DEFAULT_KEY_NAMES = ("id_ed25519", "id_ecdsa", "id_rsa")
KEEPALIVE_SECONDS = 30
READ_CHUNK = 65536
STDERR_IN_MESSAGE = 2000


def sh_quote(value: str) -> str:
    """Quote one word for a POSIX shell (``shlex.quote``); the only way to build commands."""
    return shlex.quote(value)


def sh_join(words: Iterable[str]) -> str:
    """Quote and join words into one POSIX shell command line."""
    return shlex.join(list(words))


class TransportError(Exception):
    """A connection or remote command failed (host key refusals are `HostKeyError`)."""


class HostUnreachable(TransportError):
    """No SSH session could be set up: name lookup, TCP connect or SSH handshake failed."""

    def __init__(self, address: str, reason: str) -> None:
        self.address = address
        self.reason = reason
        super().__init__(f"cannot reach {address}: {reason}")


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
    """A command did not finish in time; its channel was closed."""

    def __init__(self, host: str, command_summary: str, timeout: float) -> None:
        self.host = host
        self.command_summary = command_summary
        self.timeout = timeout
        super().__init__(f"on {host}: `{command_summary}` did not finish within {timeout:g}s")


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


@dataclass
class _KeyCandidate:
    label: str
    key: paramiko.PKey


class _PublicKeyAuth:
    """Tries keys in OpenSSH-like order, remembering what was tried for the error message."""

    def __init__(self, target: SSHTarget) -> None:
        self.target = target
        self.tried: list[str] = []
        self.skipped: list[str] = []
        self._agent: paramiko.Agent | None = None
        self._agent_keys: tuple[paramiko.PKey, ...] | None = None

    def agent_keys(self) -> tuple[paramiko.PKey, ...]:
        if self._agent_keys is None:
            try:
                self._agent = paramiko.Agent()
                self._agent_keys = tuple(self._agent.get_keys())
            except (paramiko.SSHException, OSError) as exc:
                self.skipped.append(f"ssh-agent ({exc})")
                self._agent_keys = ()
        return self._agent_keys

    def close(self) -> None:
        if self._agent is not None:
            self._agent.close()

    def _from_file(self, path: str) -> _KeyCandidate | None:
        public = Path(path + ".pub")
        if public.is_file():
            try:
                key_type, blob_b64 = public.read_text().split()[:2]
                blob = paramiko.PKey.from_type_string(
                    key_type, base64.b64decode(blob_b64)
                ).asbytes()
                # OpenSSH uses an agent-held copy of a listed IdentityFile, even with
                # IdentitiesOnly, so an encrypted key on disk works as it does with ssh.
                for agent_key in self.agent_keys():
                    if agent_key.asbytes() == blob:
                        return _KeyCandidate(f"{path} via agent", agent_key)
            except (ValueError, paramiko.SSHException, OSError):
                pass
        try:
            return _KeyCandidate(path, paramiko.PKey.from_path(path))
        except paramiko.PasswordRequiredException:
            self.skipped.append(f"{path} (encrypted and not in ssh-agent)")
        except FileNotFoundError:
            self.skipped.append(f"{path} (missing)")
        except (paramiko.SSHException, OSError, ValueError) as exc:
            self.skipped.append(f"{path} ({exc})")
        return None

    def candidates(self) -> Iterator[_KeyCandidate]:
        seen: set[bytes] = set()

        def fresh(candidate: _KeyCandidate | None) -> bool:
            if candidate is None or candidate.key.asbytes() in seen:
                return False
            seen.add(candidate.key.asbytes())
            return True

        for path in self.target.identity_files:
            candidate = self._from_file(path)
            if fresh(candidate):
                yield candidate
        if self.target.identities_only:
            return
        for agent_key in self.agent_keys():
            candidate = _KeyCandidate(f"agent key {fingerprint_sha256(agent_key)}", agent_key)
            if fresh(candidate):
                yield candidate
        if self.target.identity_files:
            return
        for name in DEFAULT_KEY_NAMES:
            path = Path.home() / ".ssh" / name
            if path.is_file():
                candidate = self._from_file(str(path))
                if fresh(candidate):
                    yield candidate

    def authenticate(self, transport: paramiko.Transport) -> list[str]:
        """Called by ``SSHClient.connect(auth_strategy=...)`` once the host key is accepted."""
        user = self.target.user
        try:
            for candidate in self.candidates():
                description = (
                    f"{candidate.label} ({candidate.key.get_name()} "
                    f"{fingerprint_sha256(candidate.key)})"
                )
                try:
                    remaining = transport.auth_publickey(user, candidate.key)
                except paramiko.AuthenticationException:
                    self.tried.append(description)
                    continue
                except (paramiko.SSHException, EOFError, OSError) as exc:
                    # e.g. sshd's MaxAuthTries reached: still an authentication failure
                    self.tried.append(f"{description} (server ended the session: {exc})")
                    break
                if not remaining:
                    return []
                self.tried.append(f"{description} (server wants more: {', '.join(remaining)})")
        finally:
            self.close()
        raise AuthenticationFailed(self.target.display, tuple(self.tried), tuple(self.skipped))


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
        auth = _PublicKeyAuth(target)
        address = target.display.split("@", 1)[1]
        try:
            client.connect(
                target.hostname,
                port=target.port,
                username=target.user,
                timeout=timeout,
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
            raise HostUnreachable(address, f"timed out after {timeout:g}s") from exc
        except OSError as exc:
            client.close()
            raise HostUnreachable(address, exc.strerror or str(exc)) from exc
        except (paramiko.SSHException, EOFError) as exc:
            client.close()
            reason = f"SSH handshake failed ({exc or type(exc).__name__})"
            raise HostUnreachable(address, reason) from exc
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
    ) -> CommandResult:
        """Run ``command`` with ``sh -c`` (through ``sudo -n`` if ``sudo`` and not root).

        ``stdin`` is written in full and then closed (EOF is sent even without stdin);
        stdout and stderr are read concurrently, so neither side can block the other.
        """
        wire_command = wrap_command(command, use_sudo=sudo and not self.is_root)
        summary = summarize_command(command)
        try:
            channel = self.transport.open_session()
            channel.exec_command(wire_command)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise ConnectionLost(
                f"on {self.target.display}: could not start `{summary}`: {exc}"
            ) from exc

        stdout_chunks: list[bytes] = []
        stderr_chunks: list[bytes] = []

        def read_all(receive, chunks: list[bytes]) -> None:
            try:
                while data := receive(READ_CHUNK):
                    chunks.append(data)
            except (OSError, EOFError, paramiko.SSHException):
                pass

        def write_all() -> None:
            try:
                if stdin:
                    channel.sendall(stdin)
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
        for worker in workers[1:]:
            worker.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if worker.is_alive():
                channel.close()
                raise RemoteCommandTimeout(self.target.display, summary, timeout or 0)
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        if not channel.status_event.wait(remaining):
            channel.close()
            raise RemoteCommandTimeout(self.target.display, summary, timeout or 0)
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


def open_connection(
    target: SSHTarget,
    known_hosts_path: Path,
    on_unknown: UnknownKeyCallback | None = None,
    accept_new: bool = False,
    timeout: float = 15,
) -> Connection:
    """Function form of `Connection.connect`."""
    return Connection.connect(target, known_hosts_path, on_unknown, accept_new, timeout)


def connect_many(
    targets: Iterable[SSHTarget],
    known_hosts_path: Path,
    on_unknown: UnknownKeyCallback | None = None,
    accept_new: bool = False,
    timeout: float = 15,
    max_parallel: int = 8,
) -> dict[str, Connection | Exception]:
    """Connect to every target in parallel threads; map each destination to its
    `Connection` or to the exception that stopped it (never raises for one host).

    ``on_unknown`` runs in a worker thread; the policy asks one host at a time.
    """
    pool = ConnectionPool(known_hosts_path, on_unknown, accept_new, timeout, max_parallel)
    return pool.connect_all(targets)


class ConnectionPool:
    """The run's connections: at most one per (user, host, port), opened on first use."""

    def __init__(
        self,
        known_hosts_path: Path,
        on_unknown: UnknownKeyCallback | None = None,
        accept_new: bool = False,
        timeout: float = 15,
        max_parallel: int = 8,
    ) -> None:
        self.known_hosts_path = known_hosts_path
        self.on_unknown = on_unknown
        self.accept_new = accept_new
        self.timeout = timeout
        self.max_parallel = max_parallel
        self._connections: dict[tuple[str, str, int], Connection] = {}
        self._locks: dict[tuple[str, str, int], threading.Lock] = {}
        self._guard = threading.Lock()

    @staticmethod
    def _key(target: SSHTarget) -> tuple[str, str, int]:
        return (target.user, target.hostname.lower(), target.port)

    def get(self, target: SSHTarget) -> Connection:
        """The open connection for this target, connecting (once) if needed."""
        key = self._key(target)
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            existing = self._connections.get(key)
            if existing is not None and existing.is_active:
                return existing
            connection = Connection.connect(
                target, self.known_hosts_path, self.on_unknown, self.accept_new, self.timeout
            )
            self._connections[key] = connection
            return connection

    def connect_all(self, targets: Iterable[SSHTarget]) -> dict[str, Connection | Exception]:
        """Open every target in parallel (bounded); per-destination connection or exception."""
        target_list = list(targets)

        def attempt(target: SSHTarget) -> Connection | Exception:
            try:
                return self.get(target)
            except Exception as exc:  # reported per host, by design
                return exc

        with ThreadPoolExecutor(max_workers=max(1, self.max_parallel)) as pool:
            outcomes = list(pool.map(attempt, target_list))
        return {
            target.destination: outcome
            for target, outcome in zip(target_list, outcomes, strict=True)
        }

    def close(self) -> None:
        with self._guard:
            connections = list(self._connections.values())
            self._connections.clear()
        for connection in connections:
            connection.close()

    def __enter__(self) -> ConnectionPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
