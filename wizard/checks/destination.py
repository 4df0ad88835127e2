"""The ssh destination grammar: `[user@]host[:port]`, `[user@][v6addr]:port` or an ssh config
alias (a bare host word). Pure: nothing here reads a file or opens a connection."""

from __future__ import annotations

import ipaddress
import re

from wizard.checks.fields import FieldError

DEFAULT_SSH_PORT = 22
HOST_RE = re.compile(r"[A-Za-z0-9._-]+\Z")
USER_RE = re.compile(r"[a-z_][a-z0-9_.-]*\Z")
MAX_HOST_LENGTH = 253
MAX_USER_LENGTH = 32


def reject_unsafe_text(text: str, what: str) -> None:
    if not text:
        raise ValueError(f"{what} is empty")
    if any(ch.isspace() for ch in text):
        raise ValueError(f"{what} {text!r} contains whitespace")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise ValueError(f"{what} {text!r} contains a control character")
    if text.startswith("-"):
        raise ValueError(f"{what} {text!r} must not start with '-' (it would read as an option)")


def parse_port(text: str, destination: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise ValueError(f"port {text!r} in {destination!r} is not a number")
    port = int(text)
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} in {destination!r} is out of range 1..65535")
    return port


def check_ipv6(text: str, destination: str) -> str:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        raise ValueError(f"{text!r} in {destination!r} is not an IPv6 address") from None
    return text


def check_hostname(host: str, destination: str | None = None) -> str:
    """Validate a host name or IP address (IPv6 without brackets); return it unchanged."""
    where = f" in {destination!r}" if destination and destination != host else ""
    reject_unsafe_text(host, f"host{where}")
    if ":" in host:
        return check_ipv6(host, destination or host)
    if not HOST_RE.match(host):
        raise ValueError(f"host {host!r}{where} may only contain letters, digits, '.', '_' and '-'")
    if len(host) > MAX_HOST_LENGTH:
        raise ValueError(f"host {host[:40]!r}...{where} is longer than {MAX_HOST_LENGTH}")
    return host


def parse_destination(text: str) -> tuple[str | None, str, int | None]:
    """Split ``[user@]host[:port]`` (or ``[user@][v6addr]:port``) into (user, host, port).

    Refuses anything that could be read as an option or shell syntax, so a destination is
    safe to show, store and pass to ssh. A bare IPv6 address (two or more colons, no
    brackets) is taken as a host without a port.
    """
    if not isinstance(text, str):
        raise ValueError(f"destination must be a string, got {type(text).__name__}")
    reject_unsafe_text(text, "destination")

    user: str | None = None
    rest = text
    if "@" in text:
        user, _, rest = text.rpartition("@")
        if not user:
            raise ValueError(f"destination {text!r} has an empty user before '@'")
        if not USER_RE.match(user) or len(user) > MAX_USER_LENGTH:
            raise ValueError(
                f"user {user!r} in {text!r} is not a valid login name: lower-case letters, "
                "digits, '_', '.', '-', starting with a letter or '_' (at most 32)"
            )
    if not rest:
        raise ValueError(f"destination {text!r} has no host")

    port: int | None = None
    if rest.startswith("["):
        end = rest.find("]")
        if end < 0:
            raise ValueError(f"destination {text!r} has '[' without ']'")
        host = rest[1:end]
        tail = rest[end + 1 :]
        if not host:
            raise ValueError(f"destination {text!r} has an empty host in '[]'")
        if tail:
            if not tail.startswith(":") or len(tail) == 1:
                raise ValueError(f"destination {text!r}: expected ':PORT' after ']'")
            port = parse_port(tail[1:], text)
        if ":" in host:
            check_ipv6(host, text)
        else:
            check_hostname(host, text)
        return user, host, port

    if rest.count(":") >= 2:
        return user, check_ipv6(rest, text), None

    host, sep, port_text = rest.partition(":")
    if sep:
        if not port_text:
            raise ValueError(f"destination {text!r} has an empty port after ':'")
        port = parse_port(port_text, text)
    if not host:
        raise ValueError(f"destination {text!r} has no host")
    check_hostname(host, text)
    return user, host, port


def check_ssh_destination(field: str, value: object) -> str:
    """`[user@]host[:port]` or an ~/.ssh/config alias (a bare host word)."""
    try:
        parse_destination(value)
    except ValueError as exc:
        raise FieldError(field, str(exc)) from None
    return value
