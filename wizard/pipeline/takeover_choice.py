"""The operator's side of a takeover (issue 21, the wizard): what discovery finds for one
client before there is a fleet to plan (the clients screen shows it and asks what to do
with it), and the passphrase of a repository to take over that its old config does not
hold (the wizard asks for it; `borgkeep passphrase CLIENT` reads it from stdin).

Discovery is `wizard.pipeline.existing_setup`'s, run over the facts the server and client
checks already read; nothing here connects anywhere.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path

from wizard.artefacts.authorized_keys_audit import REMOVED_KEY_PREFIX
from wizard.artefacts.crontab import RETIRED_PREFIX
from wizard.inventory.model import Inventory, ServerSpec
from wizard.inventory.settings import resolve_server
from wizard.pipeline.desired.client_setup import TakeoverPassphraseNeeded
from wizard.pipeline.existing_setup import discover_existing
from wizard.pipeline.facts import HostFacts, server_layout
from wizard.pipeline.plan import Change, Plan
from wizard.remote.ssh_config import operator_ssh_config_path, resolve_target
from wizard.secrets_store import SecretStore, passphrase_name

__all__ = [
    "ExistingSetup",
    "TakeoverPassphraseNeeded",
    "existing_setup_of",
    "store_passphrase",
    "takeover_changes",
]


@dataclass(frozen=True)
class ExistingSetup:
    """A client's own Borg setup that backs up to the chosen server, in a few words."""

    client: str
    summary: str
    """`existing Borg setup: repository nas:/srv/backups/host1, passphrase in config,
    read-write key line, client-side prune` (never a secret)."""
    found: tuple[str, ...]
    """The repositories on the server it backs up to, by path (the first is taken over)."""
    default: str
    """Borgkeep's default path for the client: a new repository beside the old one."""

    def choice_of(self, repository: str | None) -> str | None:
        """What an inventory's `repository:` chose: `take`, `beside`, or None (no choice,
        or a path that is neither)."""
        if repository is None:
            return None
        if repository == self.found[0]:
            return "take"
        return "beside" if repository == posixpath.normpath(self.default) else None


def existing_setup_of(
    server: ServerSpec,
    server_facts: HostFacts,
    client: str,
    client_facts: HostFacts,
    ssh_config_path: Path | None = None,
) -> ExistingSetup | None:
    """What `client` already has that backs up to `server` (None: nothing found there),
    read from the facts of the server and client checks, the way `plan` reads them."""
    config = ssh_config_path or operator_ssh_config_path()
    target = resolve_target(server.ssh, config if config.exists() else None)
    settings = resolve_server(Inventory(server, {}), target.user, target.hostname, target.port)
    facts = {server.name: server_facts, client: client_facts}
    summaries, _retired = discover_existing(facts, server.name, settings, [client])
    summary = summaries.get(client)
    if summary is None:
        return None
    found = tuple(dict.fromkeys(m.server_path for m in summary.on_server if m.server_path))
    if not found:
        return None
    default = server_layout(server_facts, settings).repository(client)
    return ExistingSetup(client, summary.describe(), found, default)


def store_passphrase(store: SecretStore, server: str, client: str, value: str) -> None:
    """Keep the passphrase of `client`'s repository in the operator's secrets store, where
    the next plan finds it and checks it against the repository's key."""
    if not value.strip():
        raise ValueError("no passphrase given (nothing stored)")
    store.set(passphrase_name(server, client), value)


TAKEOVER_ACTIONS = ("retire-config", "edit-config", "retire-cron-lines")
"""The client's commands that change the old setup (its configs, its cron.d lines)."""


def takeover_changes(plan: Plan, client: str) -> list[Change]:
    """The changes of `plan` that take `client`'s existing setup over, in plan order: its
    retired configs and commented-out cron lines, the server's key lines removed (and
    their copy), the guard's baseline of its archives. None once it was taken over."""
    takeover = plan.takeovers.get(client)
    if takeover is None or takeover.done:
        return []

    def part(change: Change) -> bool:
        if change.host == client:
            retires_jobs = change.kind == "crontab" and f"\n+{RETIRED_PREFIX}" in change.diff
            return change.action in TAKEOVER_ACTIONS or retires_jobs
        path = change.path or ""
        if path.endswith(f".borgkeep-taken-over-{client}"):
            return True
        if path.endswith("/authorized_keys") and f"\n+{REMOVED_KEY_PREFIX}" in change.diff:
            return bool(takeover.remove_key_lines)
        return change.action == "init-guard" and change.args.get("client") == client

    return [change for change in plan.changes if part(change)]
