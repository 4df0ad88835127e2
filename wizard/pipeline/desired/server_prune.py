"""Phase 4: the server's side of pruning — the prune guard, each client's passphrase and
prune config, and the borg user's crontab block that runs the guard per client."""

from __future__ import annotations

from wizard.artefacts import crontab, managed_block, passphrase_file, prune_guard
from wizard.artefacts.borgmatic_server import render_server_prune_config
from wizard.inventory.settings import client_retention
from wizard.pipeline.desired.fleet import Fleet, require
from wizard.pipeline.desired.items import (
    PHASE_SERVER_PRUNE,
    Desired,
    DesiredCrontab,
    DesiredFile,
    DesiredItem,
)


def server_prune(fleet: Fleet, orphans: list[str]) -> list[DesiredItem]:
    """`orphans`: clients with a key line but no longer in the inventory; they and the
    clients without a passphrase (unreachable, left out) keep their existing prune line."""
    server, spaths, borg_user = fleet.server, fleet.server_paths, fleet.borg_user
    server_facts = fleet.server_facts
    items: list[DesiredItem] = []

    def add(item: Desired) -> None:
        items.append(DesiredItem(server, PHASE_SERVER_PRUNE, item))

    server_borgmatic = require(server_facts, "the borgmatic path", server_facts.borgmatic_path)
    guard_path = prune_guard.prune_guard_path(spaths.state_dir)
    add(
        DesiredFile(
            guard_path,
            prune_guard.render_prune_guard(
                borg_path=require(server_facts, "the borg path", server_facts.borg_path),
                borgmatic_path=server_borgmatic,
                state_dir=spaths.state_dir,
                repo_root=spaths.repo_root,
            ),
            prune_guard.PRUNE_GUARD_MODE,
            borg_user,
            description="prune guard: refuses to prune after archives vanished",
        )
    )
    existing_cron = server_facts.crontabs.get(borg_user)
    planned = [c for c in fleet.inventory.clients if c.name in fleet.passphrases]
    untouched = orphans + [
        c.name for c in fleet.inventory.clients if c.name not in fleet.passphrases
    ]
    prune_lines = kept_cron_lines(existing_cron, untouched)
    server_version = require(server_facts, "the borgmatic version", server_facts.borgmatic_version)
    for client in planned:
        add(
            DesiredFile(
                spaths.passphrase(client.name),
                passphrase_file.render_passphrase_file(fleet.passphrases[client.name].value),
                passphrase_file.PASSPHRASE_FILE_MODE,
                borg_user,
                secret=True,
                description=f"passphrase of {client.name}'s repository (for prune)",
            )
        )
        prune_config = render_server_prune_config(
            borgmatic_version=server_version,
            client_name=client.name,
            repository_path=spaths.repository(client.name),
            passphrase_file=spaths.passphrase(client.name),
            retention=client_retention(fleet.inventory, client),
        )
        add(
            DesiredFile(
                spaths.prune_config(client.name),
                prune_config,
                0o600,
                borg_user,
                description=f"prune + compact config for {client.name}",
            )
        )
        prune_lines[client.name] = crontab.server_prune_cron_line(
            fleet.settings.prune_schedule,
            prune_guard.prune_guard_command(guard_path, client.name),
        )
    block = [prune_lines[name] for name in sorted(prune_lines)]
    add(DesiredCrontab(borg_user, crontab.render_crontab(existing_cron, block)))
    return items


def kept_cron_lines(crontab_text: str | None, clients: list[str]) -> dict[str, str]:
    """Lines of the managed block that belong to `clients` (orphans, unreachable clients),
    by client: they keep their server-side prune while their keys stay in authorized_keys."""
    if not crontab_text or not clients:
        return {}
    lines = managed_block.parse_managed_block(crontab_text).block_lines
    kept = {}
    for line in lines:
        words = line.split()
        for name in clients:
            if words[-1:] == [name] or f"prune-{name}.yaml" in line:
                kept[name] = line
    return kept
