"""What a client's repository is, judged from its `config`, the server's copy of its key
and the operator's export: Borgkeep's own (and whether a client rewrote its key), not
there yet, or another setup's. Pure, apart from the key derivation of `passphrase_opens`.

The identity (id, key hash, settings) is the guard's own (`wizard.hostside.guard_identity`),
so the plan and the guard judge a repository the same way.
"""

from __future__ import annotations

import base64
import binascii
import configparser
import hashlib
import hmac
import struct
from dataclasses import dataclass

from wizard.hostside.guard_borg import GuardFailure
from wizard.hostside.guard_identity import (
    export_text,
    identity_from_config,
    identity_from_export,
    nonce_problem,
)

ABSENT = "absent"
"""No repository at the path: apply creates it."""
OURS = "ours"
"""The repository whose key the server's copy (or the operator's export) holds."""
REWRITTEN = "rewritten"
"""The same repository, but its key was rewritten (through a client's append-only key)."""
UNEXPORTED = "unexported"
"""Borgkeep's passphrase opens its key, but no copy of this key was kept (an apply stopped
between `borg init` and the export; the repository root moved away and back): the key as
it is now becomes the copy."""
FOREIGN = "foreign"
"""Another repository (another id, or a key Borgkeep's passphrase does not open)."""


@dataclass(frozen=True)
class RepositoryVerdict:
    kind: str
    repository_id: str | None = None
    reference: str | None = None
    """`borg key export` text to restore or to keep as the server's copy (a secret)."""
    reason: str = ""


def keeps_key_inside(config_text: str) -> bool:
    """Whether a repository's `config` holds its key (repokey), as opposed to a keyfile
    repository (the key lives with the client) or one without encryption."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(config_text)
    except configparser.Error:
        return True  # not a config Borg reads: the verdict says so
    return bool(parser.get("repository", "key", fallback="").strip())


def judge_repository(
    config_text: str | None,
    server_copy: str | None,
    stored_export: str | None,
    passphrase: str | None,
    where: str,
    nonce_text: str | None = None,
) -> RepositoryVerdict:
    """The verdict for the repository whose `config` reads `config_text` (None: there is
    none). The reference key is the server's copy, else the operator's export. A `nonce`
    set out of range makes Borgkeep's repository REWRITTEN too (the restoration resets it)."""
    verdict = _judge(config_text, server_copy, stored_export, passphrase, where)
    problem = nonce_problem(nonce_text)
    if problem and verdict.kind == OURS:
        return RepositoryVerdict(REWRITTEN, verdict.repository_id, verdict.reference, problem)
    return verdict


def _judge(
    config_text: str | None,
    server_copy: str | None,
    stored_export: str | None,
    passphrase: str | None,
    where: str,
) -> RepositoryVerdict:
    if config_text is None:
        return RepositoryVerdict(ABSENT)
    references = [t for t in (server_copy, stored_export) if t and identity_from_export(t)]
    try:
        live = identity_from_config(config_text, where)
    except GuardFailure as error:
        if references:  # a line break planted in the key: the copy puts the config back
            return RepositoryVerdict(
                REWRITTEN, identity_from_export(references[0])["id"], references[0]
            )
        return RepositoryVerdict(FOREIGN, reason=str(error))
    for text in references:
        expected = identity_from_export(text)
        if expected["id"] != live["id"]:
            continue
        kind = OURS if expected["key_sha256"] == live["key_sha256"] else REWRITTEN
        return RepositoryVerdict(kind, live["id"], text)
    try:
        exported = export_text(config_text, where)
    except GuardFailure:
        exported = None
    if passphrase and exported and passphrase_opens(exported, passphrase):
        return RepositoryVerdict(UNEXPORTED, live["id"], exported)
    if references:
        known = identity_from_export(references[0])["id"]
        return RepositoryVerdict(
            FOREIGN,
            live["id"],
            reason=f"its id {live['id'][:12]}… is not the id {known[:12]}… of the repository "
            "whose key Borgkeep keeps, and the client's passphrase does not open it",
        )
    return RepositoryVerdict(
        FOREIGN,
        live["id"],
        reason="Borgkeep holds no copy of its key, and the client's passphrase does not open it",
    )


def passphrase_opens(export_text: str, passphrase: str) -> bool:
    """Whether `passphrase` decrypts the key of `export_text` (Borg 1.x's key file format:
    msgpack {algorithm: sha256, salt, iterations, hash, data}; the data is AES-256-CTR,
    the hash an HMAC-SHA256 of the plain data under the PBKDF2 key). False for anything
    else (a key Borg 1.x wrote with another algorithm is not judged here)."""
    body = "".join(export_text.strip().splitlines()[1:])
    try:
        fields = _unpack_map(base64.b64decode(body))
        if fields.get(b"algorithm") != b"sha256" or fields.get(b"version") != 1:
            return False
        salt, data, expected = fields[b"salt"], fields[b"data"], fields[b"hash"]
        iterations = fields[b"iterations"]
    except (binascii.Error, KeyError, ValueError, IndexError, struct.error):
        return False
    key = hashlib.pbkdf2_hmac("sha256", passphrase.encode("utf-8"), salt, iterations, 32)
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    decryptor = Cipher(algorithms.AES(key), modes.CTR(b"\0" * 16)).decryptor()
    plain = decryptor.update(data) + decryptor.finalize()
    return hmac.compare_digest(hmac.new(key, plain, hashlib.sha256).digest(), expected)


def _unpack_map(blob: bytes) -> dict:
    """The one msgpack map of a Borg key file: raw/bin strings and unsigned integers."""
    value, end = _unpack(blob, 0)
    if not isinstance(value, dict) or end != len(blob):
        raise ValueError("not one msgpack map")
    return value


def _unpack(blob: bytes, at: int) -> tuple[object, int]:
    first = blob[at]
    at += 1
    sized = {0xC4: 1, 0xC5: 2, 0xC6: 4, 0xD9: 1, 0xDA: 2, 0xDB: 4}
    widths = {0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8}
    if first <= 0x7F:
        return first, at
    if 0xA0 <= first <= 0xBF:
        size = first & 0x1F
        return blob[at : at + size], at + size
    if first in sized:
        width = sized[first]
        size = int.from_bytes(blob[at : at + width], "big")
        at += width
        return blob[at : at + size], at + size
    if first in widths:
        width = widths[first]
        return int.from_bytes(blob[at : at + width], "big"), at + width
    if 0x80 <= first <= 0x8F or first == 0xDE:
        count = first & 0x0F
        if first == 0xDE:
            count, at = int.from_bytes(blob[at : at + 2], "big"), at + 2
        result = {}
        for _ in range(count):
            key, at = _unpack(blob, at)
            result[key], at = _unpack(blob, at)
        return result, at
    raise ValueError(f"msgpack type 0x{first:02x} is not part of a Borg key")
