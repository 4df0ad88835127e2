"""Rotating a client's key: a new pair generated on the client, its public half swapped into
the client's line of the server's block (the one line that changes), then, on the client,
proof that the old key is refused and the new one works before the new pair replaces the
old one.

The new key is generated next to the old one (`borgkeep_ed25519.rotating`), so until the
switch the client's config still names a key the server accepts or refuses as planned. If
the generation fails, the server's line keeps the old key (`Plan.kept_keys`). A leftover
pair from an interrupted rotation is deleted first, unless the rotation was interrupted
after the server took the new key: then only the client's switch is left. Pure.
"""

from __future__ import annotations

from wizard.artefacts import managed_block
from wizard.artefacts.authorized_keys import parse_authorized_keys_block, public_key_of_line
from wizard.artefacts.layout import ServerPaths
from wizard.inventory.settings import ServerSettings, repository_url
from wizard.pipeline.desired.items import (
    PHASE_CLIENT_KEYS,
    PHASE_CLIENT_SETUP,
    PHASE_SERVER_ACCESS,
    DesiredAbsent,
    DesiredCommand,
    DesiredFile,
    DesiredItem,
    DesiredStateError,
    placeholder_public_key,
)
from wizard.pipeline.facts import HostFacts, client_layout

ROTATING_SUFFIX = ".rotating"


def rotating_key(facts: HostFacts, client: str) -> str:
    """Where the new key pair is generated before it replaces the old one."""
    return client_layout(facts, client).key + ROTATING_SUFFIX


def rotation_items(
    settings: ServerSettings,
    spaths: ServerPaths,
    server_facts: HostFacts,
    client: str,
    client_facts: HostFacts,
) -> tuple[list[DesiredItem], dict[str, str], dict[str, str]]:
    """The items, the placeholders (blob -> client) and the kept keys (blob -> old blob)."""
    server, borg_user = settings.name, settings.borg_user
    paths = client_layout(client_facts, client)
    old = client_facts.client_public_key
    if not old:
        raise DesiredStateError(
            client, f"has no key pair at {paths.key} to rotate; run borgkeep apply first"
        )
    keys_text = server_facts.file(spaths.authorized_keys).text
    line = parse_authorized_keys_block(keys_text).get(client)
    if line is None:
        raise DesiredStateError(
            server, f"authorized_keys has no line for {client}; run borgkeep apply first"
        )
    pinned = public_key_of_line(line) or ""
    new_key = rotating_key(client_facts, client)
    rotating = client_facts.file(new_key + ".pub").text or ""
    if rotating.split()[1:2] == pinned.split()[1:2] and client_facts.file(new_key).exists:
        # an interrupted rotation got past the server's line: only the switch is left
        return [_switch(settings, spaths, client, client_facts, new_key)], {}, {}
    if pinned.split()[1:2] != old.split()[1:2]:
        raise DesiredStateError(
            client,
            f"the server pins another key for {client} than its {paths.public_key}; run "
            "borgkeep apply first (it pins the client's current key)",
        )
    old_blob = old.split()[1]
    new_blob = placeholder_public_key(client).split()[1]
    new_line = line.replace(old_blob, new_blob)
    block = managed_block.parse_managed_block(keys_text).block_lines
    keys = managed_block.merge_managed_block(
        keys_text, [new_line if candidate == line else candidate for candidate in block]
    )
    owner = client_facts.login_user
    items = [
        DesiredItem(client, PHASE_CLIENT_KEYS, item)
        for item in (
            DesiredAbsent(new_key, owner, secret=True, description="leftover of a rotation"),
            DesiredAbsent(new_key + ".pub", owner, description="leftover of a rotation"),
            DesiredCommand(
                "generate-key",
                f"generate a new ed25519 key pair {new_key} on {client} (the private key "
                "never leaves the client)",
                {"path": new_key, "comment": f"borgkeep:{client}"},
            ),
        )
    ]
    items.append(
        DesiredItem(
            server,
            PHASE_SERVER_ACCESS,
            DesiredFile(
                spaths.authorized_keys,
                keys,
                0o600,
                borg_user,
                managed_block=True,
                description=f"{client}'s line takes its new key; the old one is refused",
            ),
        )
    )
    items.append(_switch(settings, spaths, client, client_facts, new_key))
    return items, {new_blob: client}, {new_blob: old_blob}


def _switch(
    settings: ServerSettings,
    spaths: ServerPaths,
    client: str,
    client_facts: HostFacts,
    new_key: str,
) -> DesiredItem:
    """On the client: prove the old key is refused and the new one works, then move the new
    pair over the old one."""
    paths = client_layout(client_facts, client)
    return DesiredItem(
        client,
        PHASE_CLIENT_SETUP,
        DesiredCommand(
            "switch-key",
            f"prove that {settings.name} refuses the old key and accepts the new one, then "
            f"replace {paths.key} with the new pair (the old private key is removed)",
            {
                "old_key": paths.key,
                "new_key": new_key,
                "known_hosts": paths.known_hosts,
                "passphrase_file": paths.passphrase,
                "url": repository_url(settings, spaths.repository(client)),
                "server": settings.address_host,
                "port": settings.address_port,
                "borg_user": settings.borg_user,
            },
        ),
    )
