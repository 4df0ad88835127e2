"""The inputs every phase reads, resolved once: the inventory, the server's settings and
layout, the facts of each reachable host, and the passphrases."""

from __future__ import annotations

from dataclasses import dataclass

from wizard.artefacts.layout import ServerPaths
from wizard.inventory.model import ClientSpec, Inventory
from wizard.inventory.settings import ServerSettings
from wizard.pipeline.desired.items import DesiredStateError, Passphrase
from wizard.pipeline.facts import HostFacts, server_layout


@dataclass(frozen=True)
class Fleet:
    inventory: Inventory
    settings: ServerSettings
    facts: dict[str, HostFacts]
    passphrases: dict[str, Passphrase]
    server_paths: ServerPaths

    @classmethod
    def resolve(
        cls,
        inventory: Inventory,
        settings: ServerSettings,
        facts: dict[str, HostFacts],
        passphrases: dict[str, Passphrase],
    ) -> Fleet:
        server_facts = facts[inventory.server.name]
        return cls(inventory, settings, facts, passphrases, server_layout(server_facts, settings))

    @property
    def server(self) -> str:
        return self.inventory.server.name

    @property
    def server_facts(self) -> HostFacts:
        return self.facts[self.server]

    @property
    def borg_user(self) -> str:
        return self.settings.borg_user

    @property
    def reachable_clients(self) -> list[ClientSpec]:
        """Clients whose facts were gathered (unreachable and left-out ones are not)."""
        return [c for c in self.inventory.clients if c.name in self.facts]


def require(facts: HostFacts, what: str, value):
    if not value:
        raise DesiredStateError(facts.host, f"{what} is not known (was borgmatic found?)")
    return value
