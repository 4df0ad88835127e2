"""The repository's identity: what a client can rewrite outside the segment log.

Borg lets `borg serve --append-only` rewrite the repository key in the repository's
`config` (`save_key`: `borg key change-passphrase`, `borg key import`, which checks only
the `BORG_KEY <id>` header line). Either leaves the server unable to read the repository:
its passphrase no longer opens the key, or the key is not the one the archives were
encrypted with. So the guard records the identity — the repository id, a hash of the key
and every other setting in `config` — in its baseline, and compares it before every prune,
check and drill; the server's copy of the key (`{client}.repokey`, written by apply) is the
reference when an older baseline recorded none. Apply puts a rewritten key back.
"""

from __future__ import annotations

import configparser
import hashlib
import os
import re

from wizard.hostside.guard_borg import GuardFailure

_WHITESPACE = re.compile(r"\s+")
SETTINGS = (
    "version",
    "segments_per_dir",
    "max_segment_size",
    "append_only",
    "storage_quota",
    "additional_free_space",
)
"""The settings of `config` the identity holds. Others come and go by design: a client's
partial `borg check --max-duration` records `last_segment_checked` there."""


class IdentityError(GuardFailure):
    """The repository's `config` (or the server's copy of its key) cannot be read."""


def key_digest(key_text: str) -> str:
    """SHA-256 of the key as Borg stores it, whitespace removed (the config folds the
    base64 over continuation lines; an export holds the same text on plain lines)."""
    return hashlib.sha256(_WHITESPACE.sub("", key_text).encode("ascii", "replace")).hexdigest()


def identity_from_config(text: str, where: str) -> dict:
    """{"id", "key_sha256", "settings"} from the text of a repository's `config`."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text)
        section = dict(parser["repository"])
    except (configparser.Error, KeyError) as error:
        raise IdentityError(f"{where} is not a Borg repository config ({error})") from None
    repository_id = section.pop("id", "").strip()
    key = section.pop("key", "")
    return {
        "id": repository_id,
        "key_sha256": key_digest(key),
        "settings": {name: section[name].strip() for name in SETTINGS if name in section},
    }


def export_text(config_text: str, where: str) -> str:
    """`borg key export`'s text for a repokey repository, from its `config`: the line
    `BORG_KEY <repository id>`, then the key as the config stores it (what `borg key
    import` reads back). IdentityError when the config holds no key."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(config_text)
        repository_id = parser["repository"]["id"].strip()
        key = parser["repository"]["key"].strip()
    except (configparser.Error, KeyError) as error:
        raise IdentityError(f"{where} holds no repository key ({error})") from None
    if not repository_id or not key:
        raise IdentityError(f"{where} holds no repository key")
    return f"BORG_KEY {repository_id}\n{key}\n"


def identity_from_export(text: str) -> dict | None:
    """{"id", "key_sha256"} from `borg key export`'s text (the server's copy), or None when
    it is not one."""
    lines = text.strip().splitlines()
    if not lines or not lines[0].startswith("BORG_KEY "):
        return None
    return {
        "id": lines[0][len("BORG_KEY ") :].strip(),
        "key_sha256": key_digest("".join(lines[1:])),
    }


def read_config(repository: str) -> str:
    """The text of the repository's `config`, read without following a link."""
    path = os.path.join(repository, "config")
    if not os.path.isdir(repository):
        raise IdentityError(f"repository {repository} does not exist")
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as error:
        raise IdentityError(f"cannot read {path}: {error.strerror}") from None
    with os.fdopen(descriptor, encoding="utf-8", errors="replace") as handle:
        return handle.read()


def read_identity(repository: str) -> dict:
    """The live repository's identity, read without following a link. A config that Borg
    itself could not read (a client can plant a line break in the key it saves) has the
    identity of an unreadable config: no id, no key, no settings."""
    path = os.path.join(repository, "config")
    text = read_config(repository)
    try:
        return identity_from_config(text, path)
    except IdentityError as error:
        return {"id": "", "key_sha256": "", "settings": {}, "unreadable": str(error)}


def rebuild_config(current: str, export: str) -> str:
    """`current` (the text of a repository's config, maybe damaged through its key) with the
    key of `export` (`borg key export`'s text) and Borg's own settings as they were first
    written: a line break planted in the key cannot add or change a setting."""
    first: dict = {}
    in_key = False
    for line in current.split("\n"):  # only \n: a planted \r stays inside the key's line
        if line[:1] in (" ", "\t"):
            continue
        name, equals, value = line.partition("=")
        in_key = name.strip() == "key"
        if equals and not in_key and name.strip() in SETTINGS + ("id",):
            first.setdefault(name.strip(), value.strip())
    expected = identity_from_export(export)
    if expected is None or first.get("id") != expected["id"]:
        raise IdentityError("the copy of the key is not this repository's (another id)")
    key_lines = [line.strip() for line in export.strip().splitlines()[1:] if line.strip()]
    lines = ["[repository]"] + [f"{name} = {first[name]}" for name in SETTINGS if name in first]
    lines += [f"id = {first['id']}", "key = " + "\n\t".join(key_lines)]
    return "\n".join(lines) + "\n\n"


def read_reference(path: str) -> dict | None:
    """The server's copy of the key (`borg key export`), or None when there is none."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise IdentityError(f"cannot read {path}: {error.strerror}") from None
    with os.fdopen(descriptor, encoding="utf-8", errors="replace") as handle:
        return identity_from_export(handle.read())


def identity_changes(expected: dict, live: dict) -> list[str]:
    """What differs between an expected identity (recorded, or the server's copy: then it
    has no settings) and the live one, in words; empty when nothing does."""
    if live.get("unreadable"):
        return [f"its config was rewritten so that Borg cannot read it ({live['unreadable']})"]
    changes = []
    if expected.get("id") and expected["id"] != live.get("id"):
        changes.append(
            f"the repository id changed ({expected['id'][:12]}… → {str(live.get('id'))[:12]}…)"
        )
    if expected.get("key_sha256") and expected["key_sha256"] != live.get("key_sha256"):
        changes.append("the repository key in its config was rewritten")
    recorded = expected.get("settings")
    if isinstance(recorded, dict):
        now = live.get("settings") or {}
        for name in sorted(set(recorded) | set(now)):
            if recorded.get(name) != now.get(name):
                changes.append(
                    f"its config setting {name} changed ({recorded.get(name)!r} → "
                    f"{now.get(name)!r})"
                )
    return changes


def identity_problem(recorded: dict | None, reference: dict | None, live: dict) -> str | None:
    """Why the live identity is not the repository the guard protects, or None. The
    recorded identity rules; an older baseline without one is held to the server's copy."""
    changes = []
    if isinstance(recorded, dict) and recorded.get("key_sha256"):
        changes = identity_changes(recorded, live)
    elif reference is not None:
        changes = identity_changes(reference, live)
    return "; ".join(changes) or None


NONCE_LIMIT = 2**63
"""Borg's nonce file counts up from 0 and fails every encrypting write near 2**64; no real
repository gets anywhere near 2**63, but a client can set it there (`commit_nonce_reservation`)."""


def nonce_problem(nonce_text: str | None) -> str | None:
    """Why a repository's `nonce` file stops every encrypted write, or None (None text: no
    file, which Borg handles)."""
    if nonce_text is None:
        return None
    try:
        value = int(nonce_text.strip(), 16)
    except ValueError:
        return "its nonce file holds no number"
    if value >= NONCE_LIMIT:
        return (
            f"its nonce was set to {value:#x}, near the end of its range: every encrypted "
            "write (the guard's prune, the client's backups) would fail"
        )
    return None


def read_nonce(repository: str) -> str | None:
    """The text of the repository's `nonce` file, read without following a link."""
    try:
        descriptor = os.open(os.path.join(repository, "nonce"), os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise IdentityError(f"cannot read {repository}/nonce: {error.strerror}") from None
    with os.fdopen(descriptor, encoding="ascii", errors="replace") as handle:
        return handle.read(100)


def repokey_copy_file(state_dir: str, client: str) -> str:
    """The server's copy of a client's repository key (`borg key export`, 0600)."""
    return os.path.join(state_dir, f"{client}.repokey")


def check_identity(
    repository: str, recorded: dict | None, reference_path: str
) -> tuple[str | None, dict]:
    """(why the live repository is not the one the guard protects or None, its identity)."""
    live = read_identity(repository)
    problems = [
        identity_problem(recorded, read_reference(reference_path), live),
        nonce_problem(read_nonce(repository)),
    ]
    return "; ".join(p for p in problems if p) or None, live


def identity_refusal(client: str, repository: str, problem: str, what: str) -> str:
    """The one line of a refusal: who, what changed, and how it is put back."""
    return (
        f"REFUSING to {what} {repository}: {problem} (Borg lets a client rewrite it through "
        "its append-only key) — nothing was changed; every segment is still on disk. Put the "
        f"key back with: borgkeep apply (or borgkeep recover {client})"
    )
