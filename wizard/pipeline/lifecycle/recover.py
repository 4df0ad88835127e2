"""Recovering after a guard refusal: what vanished (the guard's own `inspect`), and the two
ways out — accept it (`acknowledge`, a deliberate deletion) or roll the repository back
(`rollback`, run by the guard on the server, then the client's cache and security record
for the repository forgotten through its own key). Pure: the guard's report in, items out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from wizard.artefacts.guard_program import guard_program_path
from wizard.artefacts.layout import ServerPaths
from wizard.inventory.settings import ServerSettings, repository_url
from wizard.pipeline.desired.items import (
    PHASE_CLIENT_SETUP,
    PHASE_SERVER_ACCESS,
    PHASE_SERVER_PRUNE,
    DesiredCommand,
    DesiredItem,
)
from wizard.pipeline.facts import HostFacts, client_layout
from wizard.pipeline.lifecycle.request import LifecycleRefused
from wizard.safe_text import safe_text


@dataclass(frozen=True)
class RecoveryReport:
    """The guard's `inspect CLIENT` (see `wizard/hostside/guard_recover.py`)."""

    client: str
    repository: str
    repository_id: str
    archives: int
    vanished: list[dict] = field(default_factory=list)
    last_result: dict | None = None
    touched_objects: int = 0
    rollback: dict = field(default_factory=dict)
    baseline: dict | None = None

    @property
    def refused(self) -> bool:
        return (self.last_result or {}).get("status") == "refused"

    @property
    def needs_decision(self) -> bool:
        return bool(self.vanished or self.touched_objects or self.refused)

    def as_json(self) -> dict:
        return dict(self.__dict__)


def parse_inspect(text: str) -> RecoveryReport:
    """The guard's JSON; ValueError when it is not what the guard prints."""
    data = json.loads(text)
    if not isinstance(data, dict) or not isinstance(data.get("vanished"), list):
        raise ValueError("not the guard's inspect report")
    return RecoveryReport(
        client=str(data["client"]),
        repository=str(data["repository"]),
        repository_id=str(data["repository_id"]),
        archives=int(data.get("archives") or 0),
        vanished=[dict(entry) for entry in data["vanished"]],
        last_result=data.get("last_result"),
        touched_objects=int(data.get("touched_objects") or 0),
        rollback=dict(data.get("rollback") or {}),
        baseline=data.get("baseline"),
    )


def recovery_notes(report: RecoveryReport) -> list[str]:
    """What the operator reads first: which archives vanished and when, and where a
    rollback would go (or why it cannot)."""
    notes = []
    if report.refused:
        notes.append(f"the guard refused to prune at {report.last_result.get('time')}")
    if report.vanished:
        notes.append(
            f"{len(report.vanished)} recorded archive(s) vanished from {report.repository}:"
        )
        notes += [
            f"  {safe_text(v['name'], False)}  made {v['time']}  first seen {v['first_seen']}"
            for v in report.vanished
        ]
    else:
        notes.append(f"no recorded archive vanished from {report.repository}")
    if report.touched_objects:
        notes.append(
            f"{report.touched_objects} stored object(s) recorded by the guard were deleted or "
            "overwritten since its baseline"
        )
    rollback = report.rollback
    if rollback.get("possible"):
        when = f" ({rollback['time']} UTC)" if rollback.get("time") else ""
        notes.append(
            f"a rollback returns to transaction {rollback['transaction']}{when}, the last "
            f"before the first harmful commit ({rollback['first_bad']}), removing "
            f"{rollback['segments_removed']} segment file(s) written since"
        )
        lost = rollback.get("archives_lost") or []
        if lost:
            names = ", ".join(safe_text(name, False) for name in lost)
            notes.append(
                f"archives made after transaction {rollback['transaction']} go too: {names}"
            )
    else:
        notes.append(f"no rollback possible: {rollback.get('reason') or 'unknown'}")
    return notes


def recovery_items(
    report: RecoveryReport,
    mode: str | None,
    settings: ServerSettings,
    spaths: ServerPaths,
    python: str,
    client_facts: HostFacts | None,
    client_refuses: bool = False,
) -> tuple[list[DesiredItem], list[str], str | None]:
    """Items for `mode`, extra notes, and the choice still to make (mode None).
    `client_refuses`: Borg, through the client's own key, refuses the repository as older
    than the client's security record or cache (a rollback whose `forget-cache` did not run:
    a rollback asked again finishes with it)."""
    server, client = settings.name, report.client
    guard = {
        "python": python,
        "guard": guard_program_path(spaths.state_dir),
        "client": client,
        "user": settings.borg_user,
    }
    if mode is None:
        if not report.needs_decision:
            return [], [f"nothing to recover for {client}"], None
        return (
            [],
            [],
            f"choose: borgkeep recover {client} --acknowledge (the deletion was deliberate: "
            f"accept it) or --rollback (bring the archives back)",
        )
    if mode == "acknowledge":
        names = ", ".join(safe_text(v["name"], False) for v in report.vanished) or "none"
        command = DesiredCommand(
            "guard-acknowledge",
            f"the guard accepts {report.repository} as it is now: accepted as deleted: "
            f"{names} (nothing is pruned)",
            guard,
        )
        return [DesiredItem(server, PHASE_SERVER_PRUNE, command)], [], None
    rollback = report.rollback
    if not report.needs_decision and client_facts is not None and client_refuses:
        forget = forget_cache(report, settings, spaths, client_facts)
        note = (
            f"{report.repository} was rolled back already, but {client}'s security record or "
            "cache is newer than it (Borg refuses its backups): only that is left to do"
        )
        return [forget], [note], None
    if not report.needs_decision:
        return [], [f"nothing to recover for {client}"], None
    if not rollback.get("possible"):
        raise LifecycleRefused(
            f"{client}: refusing to roll back: {rollback.get('reason') or 'not possible'}"
        )
    transaction = int(rollback["transaction"])
    items = [
        DesiredItem(
            server,
            PHASE_SERVER_ACCESS,
            DesiredCommand(
                "guard-rollback",
                f"roll {report.repository} back to transaction {transaction} (as "
                f"{settings.borg_user}, by the guard, out of the client's reach): keep a "
                "hard-link copy, remove the segments and index written since, clear the "
                "server's cache, then list and extract (--dry-run) the vanished archives",
                {**guard, "transaction": transaction},
            ),
        )
    ]
    notes = []
    if client_facts is None:
        notes.append(
            f"{client} is unreachable: before its next backup, remove "
            f"~/.config/borg/security/{report.repository_id}/manifest-timestamp there and "
            "run borg delete --cache-only on its repository"
        )
    else:
        items.append(forget_cache(report, settings, spaths, client_facts))
    return items, notes, None


def forget_cache(
    report: RecoveryReport, settings: ServerSettings, spaths: ServerPaths, client_facts: HostFacts
) -> DesiredItem:
    """On the client, through its own key: forget its security record and cache for the
    rolled-back repository."""
    client = report.client
    paths = client_layout(client_facts, client)
    return DesiredItem(
        client,
        PHASE_CLIENT_SETUP,
        DesiredCommand(
            "forget-cache",
            f"forget {client}'s security record and cache for the repository (they "
            "are newer than the rolled-back repository; Borg would refuse)",
            {
                "repository_id": report.repository_id,
                "url": repository_url(settings, spaths.repository(client)),
                "key": paths.key,
                "known_hosts": paths.known_hosts,
                "passphrase_file": paths.passphrase,
            },
        ),
    )
