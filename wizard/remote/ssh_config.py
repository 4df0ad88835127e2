"""Resolve an SSH destination the way OpenSSH does (``~/.ssh/config``), and validate it first.

A destination is what the operator types or what the inventory holds: ``[user@]host[:port]``,
``[v6addr]:port`` or a ``Host`` alias from the operator's ssh config. Nothing here opens a
connection; `wizard.remote.transport` does that with the `SSHTarget` resolved here.
"""

from __future__ import annotations

import fnmatch
import functools
import getpass
import os
import re
import shlex
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from wizard.checks.destination import (
    DEFAULT_SSH_PORT,
    check_hostname,
    parse_destination,
    parse_port,
    reject_unsafe_text,
)

if TYPE_CHECKING:
    import paramiko


HOST_PATTERN_CHARS = frozenset("*?!")


@dataclass(frozen=True)
class SSHTarget:
    """Where and as whom to connect, after ssh config resolution.

    ``destination`` is the text as given; ``hostname`` is what the socket connects to and
    what known_hosts is keyed by; ``alias`` is the ``Host`` alias when the destination named
    one in the ssh config.
    """

    destination: str
    hostname: str
    port: int
    user: str
    identity_files: tuple[str, ...]
    identities_only: bool
    alias: str | None

    @property
    def display(self) -> str:
        """``user@host:port`` for messages and logs."""
        host = f"[{self.hostname}]" if ":" in self.hostname else self.hostname
        return f"{self.user}@{host}:{self.port}"


def operator_ssh_config_path() -> Path:
    """The operator's ssh config: ``BORGKEEP_SSH_CONFIG`` (tests, the lab) or ``~/.ssh/config``."""
    override = os.environ.get("BORGKEEP_SSH_CONFIG")
    return Path(override) if override else Path.home() / ".ssh" / "config"


def operator_known_hosts_path() -> Path:
    """known_hosts to verify against: ``BORGKEEP_KNOWN_HOSTS`` or ``~/.ssh/known_hosts``."""
    override = os.environ.get("BORGKEEP_KNOWN_HOSTS")
    return Path(override) if override else Path.home() / ".ssh" / "known_hosts"


def load_ssh_config(config_path: Path | None = None) -> paramiko.SSHConfig:
    """Parse the ssh config; a missing file is an empty config, as for OpenSSH."""
    path = operator_ssh_config_path() if config_path is None else config_path
    return _parsed_config(str(path), _file_stamp(path))[0]


def _file_stamp(path: Path) -> tuple[int, int, int] | None:
    """What changes when the file does (inode, size, mtime), None when it is not a file."""
    try:
        info = path.stat()
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _parsed_config(
    path: str, stamp: tuple[int, int, int] | None
) -> tuple[paramiko.SSHConfig, tuple[tuple[str, ...], ...]]:
    """The parsed config and its ``Host`` lines, once per version of the file: a fleet's
    destinations all resolve through the same file, which is read once, not per host."""
    import paramiko  # only when a destination is resolved: `borgkeep validate` never needs it

    if stamp is None:
        return paramiko.SSHConfig(), ()
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    return paramiko.SSHConfig.from_text(text), tuple(tuple(p) for p in _parse_host_lines(text))


def _parse_host_lines(text: str) -> list[list[str]]:
    patterns: list[list[str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        match = re.match(r"(?i)host(?:\s*=\s*|\s+)(.+)", line)
        if match:
            patterns.append([p.strip('"') for p in match.group(1).split()])
    return patterns


def _host_lines(config_path: Path) -> tuple[tuple[str, ...], ...]:
    """The pattern lists of each ``Host`` line, in file order."""
    return _parsed_config(str(config_path), _file_stamp(config_path))[1]


def list_config_hosts(config_path: Path | None = None) -> list[str]:
    """Concrete ``Host`` aliases (no wildcards or negations), in file order, for pickers."""
    path = operator_ssh_config_path() if config_path is None else config_path
    aliases: list[str] = []
    for patterns in _host_lines(path):
        for pattern in patterns:
            if HOST_PATTERN_CHARS & set(pattern) or pattern in aliases:
                continue
            try:
                check_hostname(pattern)
            except ValueError:
                continue
            aliases.append(pattern)
    return aliases


LIGHT_KEYS = frozenset({"hostname", "user", "port"})
HEAVY_KEYS = frozenset({"match", "canonicalizehostname"})
"""Directives a plain `Host`-block reading cannot follow: with one of them in the file, the
login is resolved by paramiko (`resolve_target`) instead."""
SETTING_RE = re.compile(r"(\w+)(?:\s*=\s*|\s+)(.+)")


@functools.lru_cache(maxsize=8)
def _host_blocks(
    path: str, stamp: tuple[int, int, int] | None
) -> tuple[tuple[tuple[str, ...], dict[str, str]], ...] | None:
    """The config as (Host patterns, {hostname, user, port}) blocks, read as paramiko reads
    them (the first value of a key in a block counts; quotes around a value go); None when
    the file holds something only paramiko can follow (`Match`, canonicalisation, a line
    it would refuse)."""
    if stamp is None:
        return ()
    blocks: list[tuple[tuple[str, ...], dict[str, str]]] = [(("*",), {})]
    for raw in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = SETTING_RE.match(line)
        if match is None:
            return None
        key, value = match.group(1).lower(), match.group(2)
        if key in HEAVY_KEYS:
            return None
        if key == "host":
            try:
                blocks.append((tuple(shlex.split(value)), {}))
            except ValueError:
                return None
            continue
        if value.startswith('"') and value.endswith('"'):
            value = value[1:-1]
        if key in LIGHT_KEYS:
            blocks[-1][1].setdefault(key, value)
    return tuple(blocks)


def _host_matches(patterns: tuple[str, ...], host: str) -> bool:
    matched = False
    for pattern in patterns:
        if pattern.startswith("!") and fnmatch.fnmatch(host, pattern[1:]):
            return False
        if fnmatch.fnmatch(host, pattern):
            matched = True
    return matched


def resolve_login(
    destination: str, config_path: Path | None = None, default_user: str | None = None
) -> tuple[str, str, int]:
    """(user, hostname, port): the login a destination reaches after the ssh config, the
    same as `resolve_target`'s — two destinations with the same login are one host's one
    account. A config of plain `Host` blocks is read here without paramiko, so `borgkeep
    validate` stays light; anything more (`Match`, canonicalisation) goes to paramiko.
    Raises `ValueError` for a destination or config value that is not valid."""
    user, host, port = parse_destination(destination)
    path = operator_ssh_config_path() if config_path is None else config_path
    blocks = _host_blocks(str(path), _file_stamp(path))
    if blocks is None:
        target = resolve_target(destination, path, default_user)
        return target.user, target.hostname.lower(), target.port
    options: dict[str, str] = {}
    for patterns, values in blocks:
        if _host_matches(patterns, host):
            for key, value in values.items():
                options.setdefault(key, value)
    hostname = check_hostname(options.get("hostname", host).replace("%h", host), destination)
    if port is None:
        port = parse_port(options["port"], destination) if "port" in options else DEFAULT_SSH_PORT
    if user is None:
        user = options.get("user") or default_user or getpass.getuser()
        reject_unsafe_text(user, f"User for {destination!r}")
    return user, hostname.lower(), port


def resolve_target(
    destination: str, config_path: Path | None = None, default_user: str | None = None
) -> SSHTarget:
    """Resolve a destination through the ssh config, like ``ssh -G`` would.

    A user or port written in the destination wins over the config; otherwise the config's
    ``User``/``Port``, then ``default_user`` (or the local user) and port 22.
    """
    user, host, port = parse_destination(destination)
    path = operator_ssh_config_path() if config_path is None else config_path
    options = load_ssh_config(path).lookup(host)

    hostname = check_hostname(options.get("hostname", host), destination)
    if port is None:
        config_port = options.get("port")
        port = parse_port(config_port, destination) if config_port else DEFAULT_SSH_PORT
    if user is None:
        user = options.get("user") or default_user or getpass.getuser()
        reject_unsafe_text(user, f"User for {destination!r}")

    identity_files = tuple(
        os.path.expanduser(entry)
        for entry in options.get("identityfile", [])
        if entry.lower() != "none"
    )
    identities_only = options.get("identitiesonly", "no").lower() == "yes"
    is_alias = any(host in patterns for patterns in _host_lines(path))
    return SSHTarget(
        destination=destination,
        hostname=hostname,
        port=port,
        user=user,
        identity_files=identity_files,
        identities_only=identities_only,
        alias=host if is_alias else None,
    )
