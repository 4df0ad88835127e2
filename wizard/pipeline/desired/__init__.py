"""Desired state: what every host should hold, computed from the inventory and the facts.

Pure. One module per phase, in apply's order (`items.PHASE_NAMES`): `client_keys`,
`server_access`, `client_setup`, `server_prune`. The only value that cannot be known
before apply, a client key generated during apply, is a placeholder public key that the
plan shows as such and the executor fills in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from wizard.artefacts.proven_versions import version_warnings
from wizard.inventory.model import Inventory
from wizard.inventory.settings import ServerSettings
from wizard.pipeline.desired.client_keys import client_keys
from wizard.pipeline.desired.client_setup import client_setup
from wizard.pipeline.desired.fleet import Fleet
from wizard.pipeline.desired.items import DesiredState, Passphrase
from wizard.pipeline.desired.server_access import server_access
from wizard.pipeline.desired.server_prune import server_prune
from wizard.pipeline.facts import HostFacts, borg_path_notes, client_layout

if TYPE_CHECKING:  # the takeover module raises DesiredStateError from this package
    from wizard.pipeline.takeover_plan import Takeover


def compute_desired_state(
    inventory: Inventory,
    settings: ServerSettings,
    facts: dict[str, HostFacts],
    passphrases: dict[str, Passphrase],
    stored_keys: dict[str, str] | None = None,
    takeovers: Mapping[str, Takeover] | None = None,
) -> DesiredState:
    """`facts` holds the server's facts under the server's name and each client's facts under
    its name; clients missing from `facts` (unreachable, left out) get nothing new.
    `stored_keys`: the operator's exports of the repository keys, by client. `takeovers`:
    the clients whose existing repository is taken over (`wizard.pipeline.takeover_plan`)."""
    fleet = Fleet.resolve(inventory, settings, facts, passphrases, stored_keys, takeovers)
    key_items, public_keys, placeholders = client_keys(fleet)
    access_items, keys_file, access_warnings = server_access(fleet, public_keys, placeholders)
    prune_items, prune_warnings = server_prune(fleet, keys_file.orphans)
    items = [*key_items, *access_items, *client_setup(fleet), *prune_items]
    version_notes = [
        warning
        for name, host in facts.items()
        for warning in [
            *version_warnings(
                name, borgmatic_version=host.borgmatic_version, borg_version=host.borg_version
            ),
            *borg_path_notes(host),
        ]
    ]
    return DesiredState(
        fleet.server,
        items,
        keys_file.orphans,
        fleet.server_paths,
        {c.name: client_layout(facts[c.name], c.name) for c in fleet.reachable_clients},
        placeholders,
        [*version_notes, *access_warnings, *prune_warnings],
        unexported_keys={
            name: verdict.reference
            for name, verdict in fleet.repositories.items()
            if verdict.reference
            and name in passphrases
            and (stored_keys or {}).get(name) != verdict.reference
        },
    )
