"""The plan: desired state against facts, as an ordered list of changes with redacted diffs.

A change records what it saw (the old content's hash) so that apply can refuse a file that
changed since the plan was shown. Secrets never enter a diff, the JSON form or a plan file.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from dataclasses import asdict, dataclass, field

from wizard.artefacts.managed_block import is_managed_file
from wizard.pipeline.desired.items import (
    DesiredAbsent,
    DesiredCommand,
    DesiredCrontab,
    DesiredDir,
    DesiredFile,
    DesiredState,
)
from wizard.pipeline.facts import HostFacts
from wizard.safe_text import safe_text

SECRET_UNCHANGED = "<secret: unchanged>"
SECRET_NEW = "<secret: new>"
SECRET_OLD = "<secret: replaced>"
SECRET_VALUE = "<secret>"
SECRET_REMOVED = "<secret: removed>"


class UnsafePaths(Exception):
    """A host holds a link (or a non-file, or a file its owner cannot read) where Borgkeep
    would write: the whole plan is refused, so nothing is applied anywhere. One line per
    path, naming the host."""

    def __init__(self, lines: list[str]):
        self.lines = lines
        super().__init__("\n".join(lines))


def refuse_unsafe_paths(desired: DesiredState, facts: dict[str, HostFacts]) -> None:
    """Raise `UnsafePaths` if a host this plan touches reported a `PathProblem`."""
    touched = {desired.server} | {entry.host for entry in desired.items}
    lines = [
        problem.message(host)
        for host, host_facts in facts.items()
        if host in touched
        for problem in host_facts.problems
    ]
    if lines:
        raise UnsafePaths(lines)


def sha256_text(text: str | None) -> str | None:
    return (
        None
        if text is None
        else hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()
    )


def change_target(path: str | None, action: str, args: dict) -> str:
    """What a change acts on: its path, or the command (with the file it acts on, for
    commands that take one: two configs retired on one host are two changes)."""
    if path:
        return path
    return f"{action} {args['path']}" if isinstance(args.get("path"), str) else action


@dataclass
class Change:
    """One step of the plan. `kind` is what it acts on (file, dir, crontab, command);
    `action` is what happens to it: create, update or permissions (mode/owner only) for
    paths, `delete` for a file that must go, and the command's name (generate-key,
    create-user, init-repo, ...) for commands."""

    host: str
    phase: int
    kind: str
    action: str
    path: str | None
    description: str
    old: str | None = None
    new: str | None = None
    old_sha256: str | None = None
    new_sha256: str | None = None
    mode: int | None = None
    owner: str | None = None
    group: str | None = None
    dir_mode: int | None = None
    secret: bool = False
    redacted: bool = False
    """Parts of the content are secrets (alert URLs): the diff hides them, plan files too."""
    args: dict = field(default_factory=dict)
    diff: str = ""
    warnings: list[str] = field(default_factory=list)
    secret_args: dict = field(default_factory=dict, repr=False)
    """A command's arguments that never leave the process (`DesiredCommand.secret_args`)."""

    @property
    def key(self) -> tuple[str, str, str]:
        """Identity of a change across two plans of the same fleet."""
        return (self.host, self.kind, change_target(self.path, self.action, self.args))

    @property
    def title(self) -> str:
        """`update /etc/x.yaml`, `run generate-key`: what the operator reads first."""
        return f"run {self.action}" if self.kind == "command" else f"{self.action} {self.path}"

    def public_dict(self) -> dict:
        """Everything but secret content: safe for JSON output and plan files."""
        data = asdict(self)
        del data["secret_args"]
        if self.redacted:
            data["old"] = data["new"] = None
        if self.secret:
            data["old"] = None
            data["new"] = None
            data["old_sha256"] = None if self.old is None else "<secret>"
            data["new_sha256"] = None
        return data


@dataclass
class Plan:
    changes: list[Change]
    warnings: list[str]
    placeholders: dict[str, str]
    hosts: list[str]
    kept_keys: dict[str, str] = field(default_factory=dict)
    """Placeholder blob -> the key it replaces (a rotation): kept if no key is generated."""
    unchecked: dict[str, str] = field(default_factory=dict)
    """Hosts whose facts could not be gathered (unreachable), and why: the plan says
    nothing about them, so an empty plan never means the whole fleet is converged."""
    existing: dict = field(default_factory=dict)
    """Client -> its existing Borg setup found by gather (`TakeoverSummary`)."""
    takeovers: dict = field(default_factory=dict)
    """Client -> the takeover of its existing repository (`takeover_plan.Takeover`)."""

    def for_host(self, host: str) -> list[Change]:
        return [c for c in self.changes if c.host == host]

    def summary(self) -> dict[str, dict[str, int]]:
        """Per host, how many changes of each verb: create, update, permissions, run."""
        counts: dict[str, dict[str, int]] = {host: {} for host in self.hosts}
        for change in self.changes:
            per = counts.setdefault(change.host, {})
            verb = "run" if change.kind == "command" else change.action
            per[verb] = per.get(verb, 0) + 1
        return counts

    @property
    def empty(self) -> bool:
        return not self.changes

    def to_json(self) -> str:
        """`changes`, `summary` and `warnings` (the contract), and what was not checked:
        `unchecked` (a list of {host, reason}), `unreachable` ({host: reason}, when any),
        `counts` (changes, hosts checked, hosts not checked), `existing` (per client, the
        Borg setup it already has: never a secret) and `takeover` (per client whose
        existing repository this plan takes over, what changes for it)."""
        data = {
            "changes": [
                {
                    "host": c.host,
                    "path": c.path,
                    "action": c.action,
                    "diff": c.diff,
                    "kind": c.kind,
                    "phase": c.phase,
                    "description": c.description,
                }
                for c in self.changes
            ],
            "summary": self.summary(),
            "warnings": self.warnings,
            "unchecked": [
                {"host": host, "reason": reason} for host, reason in self.unchecked.items()
            ],
            "counts": {
                "changes": len(self.changes),
                "hosts_checked": len(self.hosts),
                "hosts_unchecked": len(self.unchecked),
            },
            "existing": {client: found.to_json() for client, found in self.existing.items()},
            "takeover": {client: t.to_json() for client, t in self.takeovers.items()},
        }
        if self.unchecked:
            data["unreachable"] = dict(self.unchecked)
        return json.dumps(data, indent=2)


def unified_diff(old: str | None, new: str | None, label: str) -> str:
    """A unified diff that also shows a missing final newline, like `diff -u`; what a host
    sent is shown with its control characters escaped (`wizard.safe_text`)."""
    old_lines = _diff_lines(old)
    new_lines = _diff_lines(new)
    lines = difflib.unified_diff(
        old_lines,
        new_lines,
        fromfile="/dev/null" if old is None else f"a/{label}",
        tofile="/dev/null" if new is None else f"b/{label}",
    )
    return safe_text("".join(line if line.endswith("\n") else line + "\n" for line in lines))


def _diff_lines(text: str | None) -> list[str]:
    if not text:
        return []
    lines = text.splitlines(keepends=True)
    if not lines[-1].endswith("\n"):
        lines[-1] += "\n\\ No newline at end of file\n"
    return lines


def _show_placeholders(text: str, placeholders: dict[str, str]) -> str:
    for blob, client in placeholders.items():
        text = text.replace(blob, f"<public key of {client}: generated on {client} during apply>")
    return text


def _secret_diff(old: str | None, label: str, origin: str = "") -> str:
    new = f"<secret: {origin}>" if origin else SECRET_NEW
    if old is None:
        return f"--- /dev/null\n+++ b/{label}\n@@ -0,0 +1 @@\n+{new}\n"
    return f"--- a/{label}\n+++ b/{label}\n@@ -1 +1 @@\n-{SECRET_OLD}\n+{new}\n"


def _metadata_note(mode, owner, group, want_mode, want_owner, want_group) -> str:
    notes = []
    if mode != want_mode:
        notes.append(f"mode {mode:04o} -> {want_mode:04o}" if mode is not None else "")
    if owner != want_owner:
        notes.append(f"owner {owner} -> {want_owner}")
    if want_group and group != want_group:
        notes.append(f"group {group} -> {want_group}")
    return ", ".join(n for n in notes if n)


def compute_plan(
    desired: DesiredState,
    facts: dict[str, HostFacts],
    unreachable: dict[str, str] | None = None,
) -> Plan:
    """Compare desired state with facts; no change when they already match. Refuses
    (`UnsafePaths`) when a host holds a link or the like where a change would write."""
    refuse_unsafe_paths(desired, facts)
    changes: list[Change] = []
    warnings: list[str] = []
    for host, reason in (unreachable or {}).items():
        warnings.append(f"{host}: unreachable, left out of this plan ({reason})")
    for client in desired.orphans:
        warnings.append(
            f"{desired.server}: authorized_keys has a borgkeep line for {client!r}, which is not in the inventory; it is kept"
        )
    warnings += desired.warnings
    for entry in desired.items:
        host_facts = facts[entry.host]
        item = entry.item
        if isinstance(item, DesiredCommand):
            changes.append(
                Change(
                    entry.host,
                    entry.phase,
                    "command",
                    item.name,
                    None,
                    item.description,
                    args=dict(item.args),
                    diff=item.description,
                    secret_args=dict(item.secret_args),
                )
            )
        elif isinstance(item, DesiredDir):
            state = host_facts.directory(item.path)
            if not state.exists:
                action, note = (
                    "create",
                    f"create directory {item.path} ({item.mode:04o}, {item.owner})",
                )
            else:
                note = _metadata_note(
                    state.mode, state.owner, state.group, item.mode, item.owner, item.group
                )
                if not note:
                    continue
                action = "permissions"
                note = f"directory {item.path}: {note}"
            changes.append(
                Change(
                    entry.host,
                    entry.phase,
                    "dir",
                    action,
                    item.path,
                    note,
                    mode=item.mode,
                    owner=item.owner,
                    group=item.group,
                    diff=note,
                )
            )
        elif isinstance(item, DesiredCrontab):
            old = host_facts.crontabs.get(item.user)
            if old == item.content:
                continue
            path = f"crontab:{item.user}"
            changes.append(
                Change(
                    entry.host,
                    entry.phase,
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
            )
        elif isinstance(item, DesiredFile):
            change = _file_change(entry.host, entry.phase, item, host_facts, desired.placeholders)
            if change is not None:
                changes.append(change)
        elif isinstance(item, DesiredAbsent) and host_facts.file(item.path).exists:
            changes.append(_deletion(entry.host, entry.phase, item, host_facts))
    changes.sort(key=lambda c: c.phase)
    hosts = list(dict.fromkeys([*facts.keys()]))
    unchecked = {host: (unreachable or {})[host] for host in sorted(unreachable or {})}
    return Plan(changes, warnings, dict(desired.placeholders), hosts, unchecked=unchecked)


def _file_change(
    host, phase, item: DesiredFile, host_facts: HostFacts, placeholders
) -> Change | None:
    state = host_facts.file(item.path)
    old = state.text
    label = f"{host}:{item.path}"
    warnings = []
    if old == item.content:
        note = _metadata_note(
            state.mode, state.owner, state.group, item.mode, item.owner, item.group
        )
        if not note:
            return None
        action, diff = "permissions", f"{item.path}: {note}"
    else:
        action = "create" if old is None else "update"
        if item.secret:
            diff = _secret_diff(old, label, item.secret_origin)
        elif item.redact_keys:
            diff = _redacted_diff(old, item.content, label, item.redact_keys)
        else:
            diff = _show_placeholders(unified_diff(old, item.content, label), placeholders)
        if (
            old is not None
            and not item.secret
            and not item.managed_block
            and not is_managed_file(old)
        ):
            warnings.append(f"{label} exists and is not managed by borgkeep: it will be replaced")
    return Change(
        host,
        phase,
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


def _deletion(host: str, phase: int, item: DesiredAbsent, host_facts: HostFacts) -> Change:
    """Every line of the file removed in the diff; a secret (or a file read as its hash
    only) shows one redacted line; the hash it had is what apply insists on."""
    state = host_facts.file(item.path)
    label = f"{host}:{item.path}"
    if item.secret or state.content is None:
        diff = f"--- a/{label}\n+++ /dev/null\n@@ -1 +0,0 @@\n-{SECRET_REMOVED}\n"
    else:
        diff = unified_diff(redact_values(state.text, item.redact_keys), None, label)
    return Change(
        host,
        phase,
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


def redact_values(text: str | None, keys: tuple[str, ...]) -> str | None:
    """`ping_url: https://hc/UUID` -> `ping_url: <secret>`, for every YAML line of `keys`."""
    if text is None or not keys:
        return text
    pattern = re.compile(rf"^(\s*(?:- )?(?:{'|'.join(map(re.escape, keys))}):[ \t]*)\S.*$", re.M)
    return pattern.sub(rf"\g<1>{SECRET_VALUE}", text)


def _redacted_diff(old: str | None, new: str, label: str, keys: tuple[str, ...]) -> str:
    shown_old, shown_new = redact_values(old, keys), redact_values(new, keys)
    if shown_old == shown_new:
        return f"--- a/{label}\n+++ b/{label}\n(only a secret value changed: {', '.join(keys)})\n"
    return unified_diff(shown_old, shown_new, label)


def plan_warnings(plan: Plan) -> list[str]:
    return [*plan.warnings, *(w for c in plan.changes for w in c.warnings)]
