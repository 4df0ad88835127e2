"""One client's settings from CONFIG, the per-client lock, and the outcome of a command.

CONFIG is rendered by borgkeep (see `wizard/artefacts/guard_program.py` for its schema); the
guard checks it again here, so a hand-edited copy fails with a message, not a traceback.
"""

from __future__ import annotations

import fcntl
import os
import re
import shlex
from dataclasses import dataclass
from dataclasses import field
from datetime import timedelta

from wizard.hostside.guard_borg import BorgTools
from wizard.hostside.guard_borg import hidden_path_of
from wizard.hostside.guard_decision import Policy
from wizard.hostside.guard_identity import repokey_copy_file
from wizard.hostside.guard_retention import retention_problem

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3
CLIENT_NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}\Z")


class UsageError(Exception):
    """A wrong command line or an unknown client (exit 2)."""


class ConfigError(Exception):
    """CONFIG lacks or mangles a setting (exit 1)."""


class LockBusy(Exception):
    """Another guard run for this client holds the flock (exit 1)."""


@dataclass
class Outcome:
    """How a command ended: the status word for the state, the line's text, the exit code."""

    status: str
    text: str
    exit_code: int
    names: list[str] = field(default_factory=list)

    @classmethod
    def ok(cls, text: str) -> Outcome:
        return cls("ok", text, EXIT_OK)

    @classmethod
    def refused(cls, text: str, names: list[str] | None = None) -> Outcome:
        return cls("refused", text, EXIT_REFUSED, list(names or []))

    @classmethod
    def failed(cls, text: str) -> Outcome:
        return cls("failed", text, EXIT_FAILED)


@dataclass(frozen=True)
class ClientSetup:
    server: str
    client: str
    state_dir: str
    repository: str
    hidden: str
    prune_config: str
    policy: Policy
    tools: BorgTools
    python: str
    guard: str

    @property
    def repokey_copy(self) -> str:
        """The server's copy of the repository key (see `guard_identity`)."""
        return repokey_copy_file(self.state_dir, self.client)

    def command(self, action: str) -> str:
        """The exact command line the operator runs for `action` on this client."""
        return shlex.join([self.python, "-I", self.guard, action, self.client])


def _absolute(config: dict, key: str, where: str = "CONFIG") -> str:
    value = config.get(key)
    if not isinstance(value, str) or not value.startswith("/") or "\n" in value:
        raise ConfigError(f"{where}[{key!r}] must be an absolute path, got {value!r}")
    return value


def _whole(config: dict, key: str, minimum: int, where: str = "CONFIG") -> int:
    value = config.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"{where}[{key!r}] must be a whole number >= {minimum}, got {value!r}")
    return value


def client_repository(config: dict, client: str) -> str:
    """The client's repository: its own `repository` (one adopted where it already was) or
    `{repo_root}/{client}`. ConfigError when that is not an absolute, normalised path."""
    entry = config["clients"][client]
    if "repository" not in entry:
        return os.path.join(_absolute(config, "repo_root"), client)
    where = f"CONFIG['clients'][{client!r}]"
    repository = _absolute(entry, "repository", where)
    if repository == "/" or "//" in repository or os.path.normpath(repository) != repository:
        raise ConfigError(
            f"{where}['repository'] must be a normalised path below '/' (no '..', '.', '//' "
            f"or trailing '/'), got {repository!r}"
        )
    return repository


def client_setup(config: dict, client: str, python: str, guard: str) -> ClientSetup:
    """The settings for `client`; UsageError if CONFIG does not know it, ConfigError if broken."""
    clients = config.get("clients")
    if not CLIENT_NAME_RE.match(client) or not isinstance(clients, dict) or client not in clients:
        known = ", ".join(sorted(clients)) if isinstance(clients, dict) else "none"
        raise UsageError(f"unknown client {client!r} (this guard knows: {known or 'none'})")
    entry = clients[client]
    where = f"CONFIG['clients'][{client!r}]"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be a mapping")
    retention = entry.get("retention")
    if not isinstance(retention, dict) or (problem := retention_problem(retention)):
        raise ConfigError(f"{where}['retention']: {problem if retention else 'missing'}")
    prefix = entry.get("prefix")
    if not isinstance(prefix, str) or not prefix:
        raise ConfigError(f"{where}['prefix'] must be a non-empty string")
    repository = client_repository(config, client)
    policy = Policy(
        prefix=prefix,
        retention=dict(retention),
        max_new_per_day=_whole(entry, "max_new_per_day", 1, where),
        clock_skew=timedelta(seconds=_whole(config, "clock_skew", 0)),
    )
    tools = BorgTools(
        borg=_absolute(config, "borg"),
        borgmatic=_absolute(config, "borgmatic"),
        passphrase_file=_absolute(entry, "passphrase_file", where),
        lock_wait=_whole(config, "lock_wait", 0),
    )
    return ClientSetup(
        server=str(config.get("server", "")),
        client=client,
        state_dir=_absolute(config, "state_dir"),
        repository=repository,
        hidden=hidden_path_of(repository),
        prune_config=_absolute(entry, "prune_config", where),
        policy=policy,
        tools=tools,
        python=python,
        guard=guard,
    )


def client_lock_file(state_dir: str, client: str) -> str:
    return os.path.join(state_dir, f"{client}.lock")


def take_client_lock(state_dir: str, client: str) -> int:
    """A non-blocking flock on `{state_dir}/{client}.lock` (never through a symlink); the
    descriptor stays open for the process's life. Raises LockBusy when another run holds it."""
    path = client_lock_file(state_dir, client)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise LockBusy(
            f"another guard run holds the lock {path}; not starting a second one"
        ) from None
    return descriptor


def read_private_text(path: str) -> str:
    """A config file's text, never through a symlink."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(descriptor, encoding="utf-8") as handle:
        return handle.read()
