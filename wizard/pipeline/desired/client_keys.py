"""Phase 1: every reachable client has its own ed25519 key pair, generated on the client.

A key that does not exist yet is planned as a placeholder public key that the plan shows
as such and the executor replaces with the real one.
"""

from __future__ import annotations

from wizard.pipeline.desired.fleet import Fleet
from wizard.pipeline.desired.items import (
    PHASE_CLIENT_KEYS,
    DesiredCommand,
    DesiredItem,
    placeholder_public_key,
)
from wizard.pipeline.facts import client_layout


def client_keys(fleet: Fleet) -> tuple[list[DesiredItem], dict[str, str], dict[str, str]]:
    """The key generation steps, each reachable client's public key (real or placeholder),
    and the placeholders (base64 blob -> client)."""
    items: list[DesiredItem] = []
    public_keys: dict[str, str] = {}
    placeholders: dict[str, str] = {}
    for client in fleet.reachable_clients:
        facts = fleet.facts[client.name]
        paths = client_layout(facts, client.name)
        public_key = facts.client_public_key
        if not public_key:
            public_key = placeholder_public_key(client.name)
            placeholders[public_key.split()[1]] = client.name
            items.append(
                DesiredItem(
                    client.name,
                    PHASE_CLIENT_KEYS,
                    DesiredCommand(
                        "generate-key",
                        f"generate the ed25519 key pair {paths.key} on {client.name} "
                        "(the private key never leaves the client)",
                        {"path": paths.key, "comment": f"borgkeep:{client.name}"},
                    ),
                )
            )
        public_keys[client.name] = public_key
    return items, public_keys, placeholders
