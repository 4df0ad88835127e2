"""Refused host keys, as errors: importable without paramiko (the wizard's first screen and
`borgkeep validate` name them before any connection exists)."""

from __future__ import annotations

from pathlib import Path


def known_hosts_name(hostname: str, port: int) -> str:
    """The name OpenSSH files a host under: ``host`` for port 22, ``[host]:port`` otherwise."""
    host = hostname.lower()
    return host if port == 22 else f"[{host}]:{port}"


class HostKeyError(Exception):
    """A host key was refused; the connection must not be used."""


class HostKeyChanged(HostKeyError):
    """The host offered a key that differs from the one on file (or one marked @revoked)."""

    def __init__(
        self,
        hostname: str,
        port: int,
        key_type: str,
        known_fingerprints: tuple[str, ...],
        offered_fingerprint: str,
        known_hosts_path: Path,
        revoked: bool = False,
    ) -> None:
        self.hostname = hostname
        self.port = port
        self.key_type = key_type
        self.known_fingerprints = known_fingerprints
        self.offered_fingerprint = offered_fingerprint
        self.known_hosts_path = known_hosts_path
        self.revoked = revoked
        name = known_hosts_name(hostname, port)
        if revoked:
            message = (
                f"revoked host key for {name} ({key_type}): offered {offered_fingerprint} is "
                f"marked @revoked in {known_hosts_path} — refusing to connect"
            )
        else:
            message = (
                f"changed host key for {name} ({key_type}): known "
                f"{', '.join(known_fingerprints)}, offered {offered_fingerprint} — refusing to "
                f"connect; if the change is expected, remove the old line from "
                f"{known_hosts_path} (ssh-keygen -R '{name}' -f {known_hosts_path})"
            )
        super().__init__(message)


class HostKeyUnknown(HostKeyError):
    """The host's key is not on file and nobody accepted it."""

    def __init__(
        self,
        hostname: str,
        port: int,
        key_type: str,
        fingerprint: str,
        known_hosts_path: Path,
        other_type_fingerprints: tuple[str, ...] = (),
    ) -> None:
        self.hostname = hostname
        self.port = port
        self.key_type = key_type
        self.fingerprint = fingerprint
        self.known_hosts_path = known_hosts_path
        self.other_type_fingerprints = other_type_fingerprints
        name = known_hosts_name(hostname, port)
        message = (
            f"unknown host key for {name}: {key_type} {fingerprint} is not in "
            f"{known_hosts_path}; confirm the fingerprint, or accept new host keys explicitly"
        )
        if other_type_fingerprints:
            message += (
                f" (keys of other types are already known for {name}: "
                f"{', '.join(other_type_fingerprints)}, so it is never accepted automatically)"
            )
        super().__init__(message)
