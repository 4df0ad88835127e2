"""Phase 2: the server's borg account, the repository root, and authorized_keys with one
append-only line per client."""

from __future__ import annotations

from wizard.artefacts import authorized_keys
from wizard.pipeline.desired.fleet import Fleet
from wizard.pipeline.desired.items import (
    PHASE_SERVER_ACCESS,
    DesiredCommand,
    DesiredDir,
    DesiredFile,
    DesiredItem,
)


def server_access(
    fleet: Fleet, public_keys: dict[str, str]
) -> tuple[list[DesiredItem], authorized_keys.AuthorizedKeysResult]:
    """`public_keys`: reachable clients' keys (phase 1). Clients that are not reachable keep
    the key their line already has, so an unreachable host is never revoked by accident."""
    server, spaths, borg_user = fleet.server, fleet.server_paths, fleet.borg_user
    server_facts = fleet.server_facts
    items: list[DesiredItem] = []
    if borg_user not in server_facts.users and borg_user != server_facts.login_user:
        items.append(
            DesiredItem(
                server,
                PHASE_SERVER_ACCESS,
                DesiredCommand(
                    "create-user",
                    f"create the system user {borg_user} (home {spaths.home}, no password)",
                    {"user": borg_user, "home": spaths.home},
                ),
            )
        )
    items.append(
        DesiredItem(server, PHASE_SERVER_ACCESS, DesiredDir(spaths.repo_root, 0o700, borg_user))
    )
    existing = server_facts.file(spaths.authorized_keys).text
    current = authorized_keys.parse_authorized_keys_block(existing)
    entries = {}
    for client in fleet.inventory.clients:
        key = public_keys.get(client.name)
        if key is None and client.name in current:
            key = authorized_keys.public_key_of_line(current[client.name])
        if key is not None:
            entries[client.name] = (key, spaths.repository(client.name))
    result = authorized_keys.render_authorized_keys(existing, entries)
    items.append(
        DesiredItem(
            server,
            PHASE_SERVER_ACCESS,
            DesiredFile(
                spaths.authorized_keys,
                result.text,
                0o600,
                borg_user,
                managed_block=True,
                description="append-only keys of the clients",
            ),
        )
    )
    return items, result
