"""One function per kind of desired item: the change it needs on its host, or None when
the host already holds it. `change_for` picks the function by the item's type."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from wizard.artefacts.managed_block import is_managed_file
from wizard.pipeline.desired.items import (
    Desired,
    DesiredAbsent,
    DesiredCommand,
    DesiredCrontab,
    DesiredDir,
    DesiredFile,
    DesiredItem,
)
from wizard.pipeline.facts import HostFacts
from wizard.pipeline.plan_change import Change, sha256_text
from wizard.pipeline.plan_diffs import (
    metadata_note,
    redact_values,
    redacted_diff,
    secret_diff,
    secret_removed_diff,
    show_placeholders,
    unified_diff,
)


@dataclass(frozen=True)
class Place:
    """Where an item goes: its host, apply's phase, what the host holds, and the
    placeholders standing for keys not generated yet (shown as such in diffs)."""

    host: str
    phase: int
    facts: HostFacts
    placeholders: Mapping[str, str]


def command_change(item: DesiredCommand, place: Place) -> Change:
    """A command always runs: its description is its diff."""
    return Change(
        place.host,
        place.phase,
        "command",
        item.name,
        None,
        item.description,
        args=dict(item.args),
        diff=item.description,
        secret_args=dict(item.secret_args),
    )


def dir_change(item: DesiredDir, place: Place) -> Change | None:
    """A missing directory is created; one with another mode, owner or group is fixed."""
    state = place.facts.directory(item.path)
    if not state.exists:
        action = "create"
        note = f"create directory {item.path} ({item.mode:04o}, {item.owner})"
    else:
        note = metadata_note(
            state.mode, state.owner, state.group, item.mode, item.owner, item.group
        )
        if not note:
            return None
        action = "permissions"
        note = f"directory {item.path}: {note}"
    return Change(
        place.host,
        place.phase,
        "dir",
        action,
        item.path,
        note,
        mode=item.mode,
        owner=item.owner,
        group=item.group,
        diff=note,
    )


def crontab_change(item: DesiredCrontab, place: Place) -> Change | None:
    """A user's whole crontab, installed when it differs from what the host has."""
    old = place.facts.crontabs.get(item.user)
    if old == item.content:
        return None
    path = f"crontab:{item.user}"
    return Change(
        place.host,
        place.phase,
        "crontab",
        "create" if old is None else "update",
        path,
        f"install {item.user}'s crontab (managed block)",
        old=old,
        new=item.content,
        old_sha256=sha256_text(old),
        new_sha256=sha256_text(item.content),
        owner=item.user,
        diff=unified_diff(old, item.content, path),
    )


def file_change(item: DesiredFile, place: Place) -> Change | None:
    """A file written when its content differs (a warning when it replaces a file
    Borgkeep does not manage), or fixed when only its mode, owner or group differ."""
    state = place.facts.file(item.path)
    old = state.text
    label = f"{place.host}:{item.path}"
    warnings = []
    if old == item.content:
        note = metadata_note(
            state.mode, state.owner, state.group, item.mode, item.owner, item.group
        )
        if not note:
            return None
        action, diff = "permissions", f"{item.path}: {note}"
    else:
        action = "create" if old is None else "update"
        diff = _content_diff(item, old, label, place.placeholders)
        if old is not None and not (item.secret or item.managed_block or is_managed_file(old)):
            warnings.append(f"{label} exists and is not managed by borgkeep: it will be replaced")
    return Change(
        place.host,
        place.phase,
        "file",
        action,
        item.path,
        item.description or f"write {item.path}",
        old=old,
        new=item.content,
        old_sha256=state.sha256,
        new_sha256=sha256_text(item.content),
        mode=item.mode,
        owner=item.owner,
        group=item.group,
        dir_mode=item.dir_mode,
        secret=item.secret,
        redacted=bool(item.redact_keys),
        diff=diff,
        warnings=warnings,
    )


def _content_diff(
    item: DesiredFile, old: str | None, label: str, placeholders: Mapping[str, str]
) -> str:
    if item.secret:
        return secret_diff(old, label, item.secret_origin)
    if item.redact_keys:
        return redacted_diff(old, item.content, label, item.redact_keys)
    return show_placeholders(unified_diff(old, item.content, label), placeholders)


def absent_change(item: DesiredAbsent, place: Place) -> Change | None:
    """Every line of the file removed in the diff; a secret (or a file read as its hash
    only) shows one redacted line; the hash it had is what apply insists on. Nothing when
    the file is not there."""
    state = place.facts.file(item.path)
    if not state.exists:
        return None
    label = f"{place.host}:{item.path}"
    if item.secret or state.content is None:
        diff = secret_removed_diff(label)
    else:
        diff = unified_diff(redact_values(state.text, item.redact_keys), None, label)
    return Change(
        place.host,
        place.phase,
        "file",
        "delete",
        item.path,
        item.description or f"delete {item.path}",
        old=state.text,
        old_sha256=state.sha256,
        owner=item.owner,
        secret=item.secret or state.content is None,
        redacted=bool(item.redact_keys),
        diff=diff,
    )


CHANGE_FOR: dict[type, Callable[..., Change | None]] = {
    DesiredCommand: command_change,
    DesiredDir: dir_change,
    DesiredCrontab: crontab_change,
    DesiredFile: file_change,
    DesiredAbsent: absent_change,
}
"""Every kind of `Desired` item and the function that plans it."""


def change_for(
    entry: DesiredItem, facts: HostFacts, placeholders: Mapping[str, str]
) -> Change | None:
    """The change `entry` needs on its host, by the kind of its item."""
    item: Desired = entry.item
    plan_item = CHANGE_FOR[type(item)]
    return plan_item(item, Place(entry.host, entry.phase, facts, placeholders))
