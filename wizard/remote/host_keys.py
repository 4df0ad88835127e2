"""Host key verification against an OpenSSH known_hosts file.

Borgkeep decides every host key itself instead of letting paramiko load known_hosts:
paramiko's loader keeps one key per type, ignores ``@revoked``/``@cert-authority`` markers
and wildcards, and would silently accept what it matched. Here a known key is accepted, an
unknown key needs the operator's yes (or accept-new), and a changed key is always a hard stop.

The file is only ever appended to (one line per accepted key); existing lines are never
rewritten.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import paramiko

from wizard.remote.host_key_errors import (  # noqa: F401 (re-exported)
    HostKeyChanged,
    HostKeyError,
    HostKeyUnknown,
    known_hosts_name,
)

HostKeyStatus = Literal["known", "unknown", "changed"]
UnknownKeyCallback = Callable[[str, int, str, str], bool]

_RSA_SIGNATURE_ALGORITHMS = ("rsa-sha2-512", "rsa-sha2-256")
_record_lock = threading.Lock()
_decision_lock = threading.Lock()


@dataclass(frozen=True)
class HostKeyCheck:
    """What known_hosts says about an offered key.

    ``known_fingerprints`` are the keys of the offered type on file for that host;
    ``other_type_fingerprints`` the keys of other types (a host known only by another key
    type is "unknown", as in OpenSSH, but is never accepted automatically).
    """

    status: HostKeyStatus
    key_type: str
    offered_fingerprint: str
    known_fingerprints: tuple[str, ...]
    other_type_fingerprints: tuple[str, ...]
    revoked: bool = False


@dataclass(frozen=True)
class KnownHostsEntry:
    """One key line of a known_hosts file (markers kept, so they can be honoured or skipped)."""

    marker: str | None
    patterns: tuple[str, ...]
    key: paramiko.PKey
    line_number: int


def fingerprint_sha256(key: paramiko.PKey) -> str:
    """``SHA256:<base64 without padding>``, exactly as ``ssh-keygen -lf`` prints it."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def split_known_hosts_name(name: str) -> tuple[str, int]:
    """Inverse of `known_hosts_name` (paramiko hands its policy the combined form)."""
    match = re.fullmatch(r"\[(.+)\]:(\d+)", name)
    if match:
        return match.group(1), int(match.group(2))
    return name, 22


def _hashed_name_matches(entry: str, name: str) -> bool:
    parts = entry.split("|")
    if len(parts) != 4 or parts[1] != "1":
        return False
    try:
        salt = base64.b64decode(parts[2], validate=True)
        expected = base64.b64decode(parts[3], validate=True)
    except (binascii.Error, ValueError):
        return False
    actual = hmac.new(salt, name.encode("utf-8"), hashlib.sha1).digest()
    return hmac.compare_digest(actual, expected)


def _wildcard_matches(pattern: str, name: str) -> bool:
    """OpenSSH pattern match: only ``*`` and ``?`` are special, case-insensitive."""
    regex = "".join(
        ".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern.lower()
    )
    return re.fullmatch(regex, name.lower(), flags=re.DOTALL) is not None


def entry_matches_name(patterns: tuple[str, ...], name: str) -> bool:
    """True when the host field matches ``name``; any matching ``!pattern`` vetoes the line."""
    matched = False
    for pattern in patterns:
        if pattern.startswith("|"):
            matched = matched or _hashed_name_matches(pattern, name)
        elif pattern.startswith("!"):
            if _wildcard_matches(pattern[1:], name):
                return False
        elif _wildcard_matches(pattern, name):
            matched = True
    return matched


def parse_known_hosts(text: str) -> list[KnownHostsEntry]:
    """Parse known_hosts text; lines that are not understood (key types paramiko lacks,
    garbage) are skipped, never fatal, as OpenSSH does."""
    entries: list[KnownHostsEntry] = []
    for line_number, raw in enumerate(text.splitlines(), 1):
        fields = raw.strip().split()
        if not fields or fields[0].startswith("#"):
            continue
        marker = None
        if fields[0].startswith("@"):
            marker, fields = fields[0], fields[1:]
        if len(fields) < 3:
            continue
        host_field, key_type, key_b64 = fields[:3]
        try:
            key = paramiko.PKey.from_type_string(key_type, base64.b64decode(key_b64, validate=True))
        except Exception:  # unknown key types and corrupt base64 alike: skip the line
            continue
        entries.append(KnownHostsEntry(marker, tuple(host_field.split(",")), key, line_number))
    return entries


def _read_known_hosts(known_hosts_path: Path) -> str:
    try:
        return known_hosts_path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def evaluate_host_key(
    entries: list[KnownHostsEntry], hostname: str, port: int, key: paramiko.PKey
) -> HostKeyCheck:
    """Pure core of `check_host_key`: classify ``key`` against parsed entries."""
    name = known_hosts_name(hostname, port)
    key_type = key.get_name()
    offered = key.asbytes()
    same_type: list[paramiko.PKey] = []
    other_type: list[paramiko.PKey] = []
    revoked = False
    for entry in entries:
        if not entry_matches_name(entry.patterns, name):
            continue
        if entry.marker == "@revoked":
            revoked = revoked or entry.key.asbytes() == offered
        elif entry.marker is None:
            (same_type if entry.key.get_name() == key_type else other_type).append(entry.key)
    known_fps = tuple(dict.fromkeys(fingerprint_sha256(k) for k in same_type))
    other_fps = tuple(dict.fromkeys(fingerprint_sha256(k) for k in other_type))
    if revoked:
        status: HostKeyStatus = "changed"
    elif any(k.asbytes() == offered for k in same_type):
        status = "known"
    elif same_type:
        status = "changed"
    else:
        status = "unknown"
    return HostKeyCheck(status, key_type, fingerprint_sha256(key), known_fps, other_fps, revoked)


def check_host_key(
    known_hosts_path: Path, hostname: str, port: int, key: paramiko.PKey
) -> HostKeyCheck:
    """Classify an offered host key as known, unknown or changed (a missing file: unknown)."""
    entries = parse_known_hosts(_read_known_hosts(known_hosts_path))
    return evaluate_host_key(entries, hostname, port, key)


def known_host_key_types(known_hosts_path: Path, hostname: str, port: int) -> list[str]:
    """Host key algorithms to prefer for this host, from the keys on file (in file order).

    OpenSSH asks a server for the key types it already knows, so a host known by its ECDSA
    key is not reported as "unknown" just because it also has an Ed25519 key.
    """
    name = known_hosts_name(hostname, port)
    algorithms: list[str] = []
    for entry in parse_known_hosts(_read_known_hosts(known_hosts_path)):
        if entry.marker is not None or not entry_matches_name(entry.patterns, name):
            continue
        key_type = entry.key.get_name()
        names = _RSA_SIGNATURE_ALGORITHMS if key_type == "ssh-rsa" else (key_type,)
        algorithms.extend(a for a in names if a not in algorithms)
    return algorithms


def format_known_hosts_line(
    hostname: str, port: int, key: paramiko.PKey, hashed: bool = False
) -> str:
    """One known_hosts line (with newline) for this host and key."""
    name = known_hosts_name(hostname, port)
    if hashed:
        salt = os.urandom(20)
        digest = hmac.new(salt, name.encode("utf-8"), hashlib.sha1).digest()
        name = f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"
    return f"{name} {key.get_name()} {key.get_base64()}\n"


def record_host_key(
    known_hosts_path: Path, hostname: str, port: int, key: paramiko.PKey, hashed: bool = False
) -> None:
    """Append one line for this key; create the file 0600 (and its directory 0700) if needed.

    Existing lines are never rewritten: the file is opened for append only, and a missing
    final newline is completed first so the new line cannot merge into the last one.
    """
    line = format_known_hosts_line(hostname, port, key, hashed=hashed)
    with _record_lock:
        if not known_hosts_path.parent.exists():
            known_hosts_path.parent.mkdir(mode=0o700, parents=True)
        fd = os.open(known_hosts_path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "r+b") as handle:
            size = os.fstat(fd).st_size
            if size:
                handle.seek(size - 1)
                if handle.read(1) != b"\n":
                    line = "\n" + line
            handle.write(line.encode("utf-8"))


class VerifyingPolicy(paramiko.MissingHostKeyPolicy):
    """Decide every host key against ``known_hosts_path`` (paramiko's own store stays empty).

    Known: accept. Changed or @revoked: `HostKeyChanged`, always. Unknown: accept and record
    when ``accept_new`` (only if no key of another type is known for the host) or when
    ``on_unknown(hostname, port, key_type, fingerprint)`` returns True; else `HostKeyUnknown`.
    ``on_unknown`` is called from the connecting thread, one prompt at a time.
    """

    def __init__(
        self,
        known_hosts_path: Path,
        on_unknown: UnknownKeyCallback | None = None,
        accept_new: bool = False,
    ) -> None:
        self.known_hosts_path = known_hosts_path
        self.on_unknown = on_unknown
        self.accept_new = accept_new
        self.accepted: HostKeyCheck | None = None

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey):
        host, port = split_known_hosts_name(hostname)
        result = self._verify(host, port, key)
        if result.status == "unknown":
            with _decision_lock:
                result = self._verify(host, port, key)
                if result.status == "unknown":
                    if not self._operator_accepts(host, port, result):
                        raise HostKeyUnknown(
                            host,
                            port,
                            result.key_type,
                            result.offered_fingerprint,
                            self.known_hosts_path,
                            result.other_type_fingerprints,
                        )
                    record_host_key(self.known_hosts_path, host, port, key)
        self.accepted = result

    def _verify(self, host: str, port: int, key: paramiko.PKey) -> HostKeyCheck:
        result = check_host_key(self.known_hosts_path, host, port, key)
        if result.status == "changed":
            raise HostKeyChanged(
                host,
                port,
                result.key_type,
                result.known_fingerprints,
                result.offered_fingerprint,
                self.known_hosts_path,
                revoked=result.revoked,
            )
        return result

    def _operator_accepts(self, host: str, port: int, result: HostKeyCheck) -> bool:
        if self.accept_new and not result.other_type_fingerprints:
            return True
        if self.on_unknown is None:
            return False
        return bool(self.on_unknown(host, port, result.key_type, result.offered_fingerprint))
