"""The plan: desired state against facts, as an ordered list of changes with redacted diffs.

Each kind of desired item is planned by its own function (`plan_items`); a change records
what it saw (`plan_change`), and its diff is one of `plan_diffs`' texts. Secrets never
enter a diff, the JSON form or a plan file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from wizard.pipeline.desired.items import DesiredState
from wizard.pipeline.facts import HostFacts
from wizard.pipeline.plan_change import Change, change_target
from wizard.pipeline.plan_diffs import SECRET_NEW, SECRET_REMOVED
from wizard.pipeline.plan_items import change_for

__all__ = [
    "SECRET_NEW",
    "SECRET_REMOVED",
    "Change",
    "Plan",
    "UnsafePaths",
    "change_target",
    "compute_plan",
    "plan_warnings",
    "refuse_unsafe_paths",
]


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


def compute_plan(
    desired: DesiredState,
    facts: dict[str, HostFacts],
    unreachable: dict[str, str] | None = None,
) -> Plan:
    """Compare desired state with facts; no change when they already match. Refuses
    (`UnsafePaths`) when a host holds a link or the like where a change would write."""
    refuse_unsafe_paths(desired, facts)
    unreachable = unreachable or {}
    changes = [
        change
        for entry in desired.items
        if (change := change_for(entry, facts[entry.host], desired.placeholders)) is not None
    ]
    changes.sort(key=lambda c: c.phase)
    hosts = list(dict.fromkeys([*facts.keys()]))
    unchecked = {host: unreachable[host] for host in sorted(unreachable)}
    warnings = _plan_level_warnings(desired, unreachable)
    return Plan(changes, warnings, dict(desired.placeholders), hosts, unchecked=unchecked)


def _plan_level_warnings(desired: DesiredState, unreachable: dict[str, str]) -> list[str]:
    """Hosts left out, orphaned key lines on the server, then desired state's own."""
    warnings = [
        f"{host}: unreachable, left out of this plan ({reason})"
        for host, reason in unreachable.items()
    ]
    warnings += [
        f"{desired.server}: authorized_keys has a borgkeep line for {client!r}, which is not in the inventory; it is kept"
        for client in desired.orphans
    ]
    return warnings + desired.warnings


def plan_warnings(plan: Plan) -> list[str]:
    return [*plan.warnings, *(w for c in plan.changes for w in c.warnings)]
