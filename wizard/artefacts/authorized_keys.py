"""The server's authorized_keys block: one pinned, append-only line per client.

Each client key may only run `borg serve --append-only` on its own repository, so a
compromised client can add archives but never delete them or reach another client's
repository. Everything outside the managed block belongs to the server's owner and is
kept byte for byte.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from wizard.artefacts.managed_block import (
    ManagedBlockError,
    merge_managed_block,
    parse_managed_block,
)
from wizard.checks.fields import FieldError, check_absolute_path, check_name, check_quota

PUBLIC_KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)
COMMENT_PREFIX = "borgkeep:"
_BASE64_RE = re.compile(r"[A-Za-z0-9+/]+={0,2}\Z")


@dataclass(frozen=True)
class PublicKey:
    """An OpenSSH public key whose base64 blob was checked to be the key type it claims."""

    key_type: str
    base64_blob: str

    def __str__(self) -> str:
        return f"{self.key_type} {self.base64_blob}"


@dataclass(frozen=True)
class AuthorizedKeysResult:
    """The new file text, plus what the planner should tell the operator about.

    `orphans`: clients whose line is in the block but not in `entries` (kept in the text
    unless pruned; listed either way so the planner can say what happened).
    `shadowed`: clients whose key also appears on a line outside the block, where sshd may
    find it first and grant that key more than the block allows.
    """

    text: str
    orphans: list[str] = field(default_factory=list)
    shadowed: list[str] = field(default_factory=list)


def _ssh_strings(blob: bytes) -> list[bytes]:
    """Split an SSH wire-format key blob into its length-prefixed strings, or raise."""
    strings = []
    offset = 0
    while offset < len(blob):
        if offset + 4 > len(blob):
            raise ValueError("truncated length field")
        length = int.from_bytes(blob[offset : offset + 4], "big")
        offset += 4
        if offset + length > len(blob):
            raise ValueError("truncated string")
        strings.append(blob[offset : offset + length])
        offset += length
    return strings


def parse_public_key(text: str, field_name: str = "public key") -> PublicKey:
    """Check a one-line `TYPE BASE64 [comment]` key and drop its comment.

    The blob must decode and carry the same type name it is labelled with, so a pasted
    key cannot smuggle options or a second line into authorized_keys or known_hosts.
    """
    if not isinstance(text, str):
        raise FieldError(field_name, f"expected an OpenSSH public key line, got {text!r}")
    stripped = text.strip()
    if any(ch in stripped for ch in "\r\n\x00"):
        raise FieldError(field_name, f"{text!r} must be a single line")
    parts = stripped.split(None, 2)
    if len(parts) < 2:
        raise FieldError(field_name, f"{text!r} is not 'TYPE BASE64 [comment]'")
    key_type, blob_text = parts[0], parts[1]
    if key_type not in PUBLIC_KEY_TYPES:
        raise FieldError(
            field_name,
            f"key type {key_type!r} is not supported (allowed: {', '.join(PUBLIC_KEY_TYPES)})",
        )
    try:
        if not _BASE64_RE.match(blob_text):
            raise ValueError("not base64")
        blob = base64.b64decode(blob_text, validate=True)
        strings = _ssh_strings(blob)
    except (ValueError, binascii.Error) as error:
        raise FieldError(
            field_name, f"the key data of {key_type} key {blob_text[:24]!r}... is invalid: {error}"
        ) from None
    if not strings or strings[0] != key_type.encode():
        embedded = strings[0][:40] if strings else b""
        raise FieldError(
            field_name,
            f"the key data says {embedded.decode('ascii', 'replace')!r}, "
            f"but the line says {key_type!r}",
        )
    if len(strings) < 2:
        raise FieldError(field_name, f"the {key_type} key data holds no key")
    return PublicKey(key_type=key_type, base64_blob=blob_text)


def is_ed25519(key: PublicKey) -> bool:
    """An `ssh-ed25519` key whose data holds exactly one 32-byte public key."""
    if key.key_type != "ssh-ed25519":
        return False
    strings = _ssh_strings(base64.b64decode(key.base64_blob))
    return len(strings) == 2 and len(strings[1]) == 32


def _check_repo_path(client_name: str, repo_path: str) -> str:
    field_name = f"repository path of {client_name}"
    path = check_absolute_path(field_name, repo_path)
    if path == "/":
        raise FieldError(field_name, "a repository cannot be the root directory")
    return path


def serve_command(repo_path: str, borg_path: str, quota: str | None = None) -> str:
    """The forced command: the server's own borg (absolute path, whatever the login PATH
    says), append-only, pinned to one repository, and the client's storage quota."""
    words = [
        check_absolute_path("borg path", borg_path),
        "serve",
        "--append-only",
        "--restrict-to-repository",
        repo_path,
    ]
    if quota is not None:
        words += ["--storage-quota", check_quota("quota", quota)]
    return " ".join(words)


def authorized_keys_line(
    client_name: str,
    public_key: str,
    repo_path: str,
    borg_path: str,
    quota: str | None = None,
) -> str:
    """The one line that pins a client's key to append-only access to its own repo.

    Every value is validated first: the name ends up in a comment, the path inside
    `command="..."`, and neither may carry quotes, commas, spaces or shell syntax.
    """
    name = check_name("client name", client_name)
    key = parse_public_key(public_key, f"public key of {name}")
    path = _check_repo_path(name, repo_path)
    command = serve_command(path, borg_path, quota)
    return f'command="{command}",restrict {key} {COMMENT_PREFIX}{name}'


def parse_authorized_keys_block(text: str | None) -> dict[str, str]:
    """Client name -> full line, for every line in the file's managed block.

    Blank lines in the block are ignored; anything else that is not a borgkeep line is an
    error, because the block is borgkeep's and a hand edit there needs a human decision.
    """
    parsed = parse_managed_block(text or "")
    lines_by_client: dict[str, str] = {}
    for line in parsed.block_lines:
        if not line.strip():
            continue
        last_word = line.split()[-1]
        name = last_word.removeprefix(COMMENT_PREFIX)
        if not last_word.startswith(COMMENT_PREFIX) or not _is_name(name):
            raise ManagedBlockError(
                f"a line in the borgkeep block of authorized_keys is not borgkeep's: {line!r}"
            )
        if name in lines_by_client:
            raise ManagedBlockError(
                f"client {name!r} has two lines in the borgkeep block of authorized_keys"
            )
        lines_by_client[name] = line
    return lines_by_client


def _is_name(value: str) -> bool:
    try:
        check_name("client name", value)
    except FieldError:
        return False
    return True


def public_key_of_line(line: str) -> str | None:
    """`TYPE BASE64` of the first key on an authorized_keys line, or None."""
    words = line.split()
    for index, word in enumerate(words[:-1]):
        if word in PUBLIC_KEY_TYPES:
            return f"{word} {words[index + 1]}"
    return None


def _key_blob_of(line: str) -> str | None:
    key = public_key_of_line(line)
    return None if key is None else key.split()[1]


def render_authorized_keys(
    existing: str | None,
    entries: dict[str, tuple[str, str]],
    borg_path: str,
    quotas: Mapping[str, str] | None = None,
    *,
    prune_orphans: bool = False,
) -> AuthorizedKeysResult:
    """authorized_keys with its block holding one line per client, sorted by name.

    `entries` maps client name -> (public key line, repository path); `quotas` client
    name -> storage quota. Block lines of clients not in `entries` are reported as orphans
    and kept in their sorted place unless `prune_orphans`: forgetting a client in the
    inventory must not silently revoke it.
    """
    quotas = quotas or {}
    wanted = {
        name: authorized_keys_line(name, public_key, repo_path, borg_path, quotas.get(name))
        for name, (public_key, repo_path) in entries.items()
    }
    owner_of_blob: dict[str, str] = {}
    for name in sorted(wanted):
        blob = _key_blob_of(wanted[name])
        if blob in owner_of_blob:
            raise ValueError(
                f"clients {owner_of_blob[blob]!r} and {name!r} have the same public key; "
                "sshd would give both the first one's repository"
            )
        owner_of_blob[blob] = name

    current = parse_authorized_keys_block(existing)
    orphans = sorted(set(current) - set(wanted))
    for orphan in orphans:
        blob = _key_blob_of(current[orphan])
        if blob in owner_of_blob and not prune_orphans:
            raise ValueError(
                f"the key of client {owner_of_blob[blob]!r} is also on the old line of "
                f"{orphan!r} in the borgkeep block; prune orphans to replace it"
            )
    kept = {} if prune_orphans else {name: current[name] for name in orphans}
    lines_by_client = {**kept, **wanted}
    block_lines = [lines_by_client[name] for name in sorted(lines_by_client)]

    parsed = parse_managed_block(existing or "")
    foreign_words = (parsed.before + parsed.after).split()
    shadowed = sorted({owner_of_blob[word] for word in foreign_words if word in owner_of_blob})
    return AuthorizedKeysResult(
        text=merge_managed_block(existing, block_lines),
        orphans=orphans,
        shadowed=shadowed,
    )
