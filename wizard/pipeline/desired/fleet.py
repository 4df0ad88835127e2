"""The inputs every phase reads, resolved once: the inventory, the server's settings and
layout, the facts of each reachable host, and the passphrases."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from wizard.artefacts.layout import ServerPaths
from wizard.inventory.model import ClientSpec, Inventory
from wizard.inventory.settings import ServerSettings
from wizard.pipeline.desired.items import DesiredStateError, Passphrase
from wizard.pipeline.facts import HostFacts, server_layout
from wizard.pipeline.repository_key import RepositoryVerdict, judge_repository

if TYPE_CHECKING:  # the takeover module raises DesiredStateError from this package
    from wizard.pipeline.takeover_plan import Takeover


@dataclass(frozen=True)
class Fleet:
    inventory: Inventory
    settings: ServerSettings
    facts: dict[str, HostFacts]
    passphrases: dict[str, Passphrase]
    server_paths: ServerPaths
    repositories: dict[str, RepositoryVerdict] = field(default_factory=dict)
    """What each client's repository is (see `wizard.pipeline.repository_key`)."""
    takeovers: Mapping[str, Takeover] = field(default_factory=dict)
    """Clients whose existing repository this apply takes over, and how."""

    @classmethod
    def resolve(
        cls,
        inventory: Inventory,
        settings: ServerSettings,
        facts: dict[str, HostFacts],
        passphrases: dict[str, Passphrase],
        stored_keys: dict[str, str] | None = None,
        takeovers: Mapping[str, Takeover] | None = None,
    ) -> Fleet:
        """`stored_keys`: the operator's exports of the repository keys, by client."""
        server_facts = facts[inventory.server.name]
        paths = server_layout(server_facts, settings)
        repositories = {}
        for client in inventory.clients:
            passphrase = passphrases.get(client.name)
            repositories[client.name] = judge_repository(
                server_facts.file(paths.repository_config(client.name)).text,
                server_facts.file(paths.repokey(client.name)).text,
                (stored_keys or {}).get(client.name),
                passphrase.value if passphrase and not passphrase.is_new else None,
                f"{inventory.server.name}:{paths.repository_config(client.name)}",
                server_facts.file(paths.repository_nonce(client.name)).text,
            )
        return cls(
            inventory, settings, facts, passphrases, paths, repositories, dict(takeovers or {})
        )

    @property
    def server(self) -> str:
        return self.inventory.server.name

    @property
    def server_facts(self) -> HostFacts:
        return self.facts[self.server]

    @property
    def borg_user(self) -> str:
        return self.settings.borg_user

    def archive_prefix(self, client: ClientSpec) -> str | None:
        """The literal start of the client's archive names when it is not `{name}-`: the
        inventory's `archive_prefix`, else the one a taken-over repository's archives have."""
        if client.archive_prefix:
            return client.archive_prefix
        takeover = self.takeovers.get(client.name)
        return takeover.archive_prefix if takeover else None

    def passphrase_origin(self, client: str) -> str:
        """For the plan's secret line: a passphrase taken over from an old config says so."""
        takeover = self.takeovers.get(client)
        if takeover is None or takeover.done or takeover.passphrase is None:
            return ""
        return f"taken over from {takeover.passphrase_source}"

    @property
    def reachable_clients(self) -> list[ClientSpec]:
        """Clients whose facts were gathered (unreachable and left-out ones are not)."""
        return [c for c in self.inventory.clients if c.name in self.facts]


def require(facts: HostFacts, what: str, value):
    if not value:
        raise DesiredStateError(facts.host, f"{what} is not known (was borgmatic found?)")
    return value
