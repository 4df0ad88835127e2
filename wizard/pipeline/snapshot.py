"""What one gather learned about the fleet, frozen: the inventory and server settings it
ran with, each reachable host's facts, why each other host could not be read, and the
clients left out of this run. Planning, verifying and the lifecycle planners read a
snapshot; none of them changes it, and none needs the session that gathered it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from wizard.inventory.model import Inventory
from wizard.inventory.settings import ServerSettings
from wizard.pipeline.facts import HostFacts
from wizard.pipeline.identity import HostIdentity, client_identity, server_identity


@dataclass(frozen=True)
class FleetSnapshot:
    inventory: Inventory
    settings: ServerSettings
    facts: Mapping[str, HostFacts] = field(default_factory=dict)
    """Every host read, by name: the server first, then the clients in inventory order."""
    errors: Mapping[str, str] = field(default_factory=dict)
    """Every host that could not be read, and why (one line)."""
    left_out: frozenset[str] = frozenset()
    """Clients the operator left out of this run: planned as if unreachable."""

    def __post_init__(self) -> None:  # read-only views of copies: nobody edits a snapshot
        object.__setattr__(self, "facts", MappingProxyType(dict(self.facts)))
        object.__setattr__(self, "errors", MappingProxyType(dict(self.errors)))
        object.__setattr__(self, "left_out", frozenset(self.left_out))

    @property
    def server_name(self) -> str:
        return self.inventory.server.name

    @property
    def server_facts(self) -> HostFacts:
        return self.facts[self.server_name]

    @property
    def identities(self) -> dict[str, HostIdentity]:
        """Who runs each step on each host whose facts are known (see
        `wizard.pipeline.identity`): derived from the facts, never stored apart from them."""
        return {
            name: server_identity(facts, self.settings)
            if name == self.server_name
            else client_identity(facts)
            for name, facts in self.facts.items()
        }

    def clients_in_play(self) -> list[str]:
        """The clients read and not left out, in inventory order."""
        return [
            c.name
            for c in self.inventory.clients
            if c.name in self.facts and c.name not in self.left_out
        ]
