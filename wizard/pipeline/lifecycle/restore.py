"""Restoring a file onto its client through the client's own key: into a new directory by
default, over live files only when asked (`--overwrite`). Pure: the listing and what is at
the destination in, the one restore command out."""

from __future__ import annotations

import json

from wizard.artefacts.layout import ServerPaths
from wizard.inventory.settings import ServerSettings, repository_url
from wizard.pipeline.desired.items import PHASE_CLIENT_SETUP, DesiredCommand, DesiredItem
from wizard.pipeline.facts import HostFacts, client_layout
from wizard.pipeline.lifecycle.request import LifecycleRefused, LifecycleRequest
from wizard.safe_text import safe_text


def parse_listing(text: str) -> list[tuple[str, str]]:
    """`borg list --json` → (name, time) of every archive, oldest first."""
    data = json.loads(text)
    archives = [
        (str(a["name"]), str(a.get("time") or a.get("start") or "")) for a in data["archives"]
    ]
    return sorted(archives, key=lambda archive: (archive[1], archive[0]))


def restore_items(
    request: LifecycleRequest,
    settings: ServerSettings,
    spaths: ServerPaths,
    facts: HostFacts,
    archives: list[tuple[str, str]],
    destination_exists: bool,
) -> tuple[list[DesiredItem], list[str]]:
    client = request.client
    names = [name for name, _ in archives]
    if not names:
        raise LifecycleRefused(f"{client}: its repository has no archive to restore from")
    archive = request.archive or names[-1]
    if archive not in names:
        raise LifecycleRefused(
            f"{client}: there is no archive {safe_text(archive, False)!r} in its repository "
            f"(newest: {safe_text(names[-1], False)})"
        )
    destination = request.destination
    if destination_exists and not request.overwrite:
        raise LifecycleRefused(
            f"{client}: {destination} exists; restore into a new directory, or add --overwrite "
            "to restore into it (files there with the same paths are replaced)"
        )
    inside = request.path.lstrip("/")
    lands = f"{destination.rstrip('/')}/{inside}" if inside else destination
    how = (
        f"into the new directory {destination} (0700)"
        if not destination_exists
        else f"into {destination}, REPLACING the files there"
    )
    paths = client_layout(facts, client)
    command = DesiredCommand(
        "restore",
        f"restore {request.path} from archive {safe_text(archive, False)} {how} on {client} "
        f"(borg extract through {client}'s own key); it lands at {lands}",
        {
            "url": repository_url(settings, spaths.repository(client)),
            "archive": archive,
            "path": request.path,
            "destination": destination,
            "fresh": not destination_exists,
            "key": paths.key,
            "known_hosts": paths.known_hosts,
            "passphrase_file": paths.passphrase,
        },
    )
    notes = [f"archive: {safe_text(archive, False)} ({len(names)} in the repository)"]
    return [DesiredItem(client, PHASE_CLIENT_SETUP, command)], notes
