"""Retiring a client: everything Borgkeep put on the server and on the client for it goes,
as planned changes, and nothing of any other client moves.

Server: its line leaves the authorized_keys block (first: from then on its key is
refused), its prune job leaves the borg user's crontab block, its entry leaves the guard
program's CONFIG, and its prune config and passphrase file are deleted. The repository and
its archives are kept unless purging is asked for: then `borg delete` removes it (only a
real Borg repository at exactly `{repo_root}/{client}`) and the guard's state for it goes.
Client (when reachable): the crontab block, the borgmatic config, the passphrase file, the
key pair and the pinned known_hosts file. Every other line of every shared file is kept
byte for byte: the blocks are edited, never rendered again from the inventory.

Pure: facts in, desired items and notes out.
"""

from __future__ import annotations

from wizard.artefacts import guard_program, managed_block
from wizard.artefacts.authorized_keys import parse_authorized_keys_block
from wizard.artefacts.layout import ServerPaths
from wizard.hostside.guard_status_cache import status_cache_file
from wizard.inventory.validation import FieldError
from wizard.pipeline.desired.client_setup import MONITORING_SECRETS
from wizard.pipeline.desired.items import (
    PHASE_CLIENT_SETUP,
    PHASE_SERVER_ACCESS,
    PHASE_SERVER_PRUNE,
    DesiredAbsent,
    DesiredCommand,
    DesiredCrontab,
    DesiredFile,
    DesiredItem,
    DesiredStateError,
)
from wizard.pipeline.desired.server_prune import cron_line_client
from wizard.pipeline.facts import HostFacts, client_layout


def without_block_lines(text: str | None, drop) -> str | None:
    """`text` with the block lines for which `drop(line)` holds removed, every other byte
    kept; None when no line goes."""
    if text is None:
        return None
    lines = managed_block.parse_managed_block(text).block_lines
    kept = [line for line in lines if not drop(line)]
    if len(kept) == len(lines):
        return None
    return managed_block.merge_managed_block(text, kept)


def server_removal(
    server: str,
    spaths: ServerPaths,
    borg_user: str,
    facts: HostFacts,
    client: str,
    purge: bool,
    stored_passphrase: str | None = None,
) -> tuple[list[DesiredItem], list[str]]:
    """The server's side of retiring `client`, and notes for the operator.
    `stored_passphrase`: the secrets store's entry holding the repository's passphrase, if
    any (a purge after the server's copy was removed needs it)."""
    items: list[DesiredItem] = []
    notes: list[str] = []

    def add(phase: int, item) -> None:
        items.append(DesiredItem(server, phase, item))

    keys_text = facts.file(spaths.authorized_keys).text
    line = parse_authorized_keys_block(keys_text).get(client)
    if line is not None:
        keys = without_block_lines(keys_text, lambda candidate: candidate == line)
        add(
            PHASE_SERVER_ACCESS,
            DesiredFile(
                spaths.authorized_keys,
                keys,
                0o600,
                borg_user,
                managed_block=True,
                description=f"{client}'s key line leaves the block: its key is refused",
            ),
        )
    cron = without_block_lines(
        facts.crontabs.get(borg_user), lambda candidate: cron_line_client(candidate) == client
    )
    if cron is not None:
        add(PHASE_SERVER_PRUNE, DesiredCrontab(borg_user, cron))
    guard_path = guard_program.guard_program_path(spaths.state_dir)
    config = guard_program.installed_guard_config(facts.file(guard_path).text)
    if config is not None and client in (config.get("clients") or {}):
        config["clients"] = {k: v for k, v in config["clients"].items() if k != client}
        try:
            program = guard_program.render_guard_program(config)
        except FieldError as exc:
            raise DesiredStateError(
                server,
                f"the installed guard's CONFIG is not this Borgkeep's ({exc}); run "
                "borgkeep apply first",
            ) from None
        add(
            PHASE_SERVER_PRUNE,
            DesiredFile(
                guard_path,
                program,
                0o600,
                borg_user,
                description=f"the prune guard without {client}",
            ),
        )
    repository = spaths.repository(client)
    state = guard_program.guard_state_path(spaths.state_dir, client)
    if purge and repository in facts.initialised_repos:
        args = {
            "repository": repository,
            "passphrase_file": spaths.passphrase(client),
            "borg": facts.borg_path or "borg",
            "user": borg_user,
        }
        if not facts.file(spaths.passphrase(client)).exists:
            if stored_passphrase is None:
                raise DesiredStateError(
                    server,
                    f"no passphrase for {repository}, neither on the server nor in the secrets "
                    "store: borg delete needs it to list what it deletes",
                )
            args["stored_passphrase"] = stored_passphrase
        add(
            PHASE_SERVER_PRUNE,
            DesiredCommand(
                "delete-repository",
                f"delete the repository {repository} and every archive in it (borg delete, "
                f"as {borg_user}); this cannot be undone",
                args,
            ),
        )
    elif purge:
        notes.append(f"{server}: there is no Borg repository at {repository}: nothing to purge")
    elif repository in facts.initialised_repos:
        notes.append(
            f"{server}: the repository {repository} and its archives are KEPT (the guard "
            f"no longer prunes it); to delete them too: --purge-repository {client}"
        )
    if purge:
        add(PHASE_SERVER_PRUNE, DesiredAbsent(state, borg_user, description="the guard's state"))
        record = status_cache_file(spaths.state_dir, client)
        add(PHASE_SERVER_PRUNE, DesiredAbsent(record, borg_user, description="its status record"))
    add(
        PHASE_SERVER_PRUNE,
        DesiredAbsent(
            spaths.prune_config(client), borg_user, description=f"prune config of {client}"
        ),
    )
    add(
        PHASE_SERVER_PRUNE,
        DesiredAbsent(
            spaths.passphrase(client),
            borg_user,
            secret=True,
            description=f"passphrase of {client}'s repository (the secrets store keeps it)",
        ),
    )
    return items, notes


def client_removal(client: str, facts: HostFacts) -> list[DesiredItem]:
    """The client's own files: crontab block, config, passphrase, key pair, pin."""
    paths = client_layout(facts, client)
    owner = facts.login_user
    items: list[DesiredItem] = []

    def add(item) -> None:
        items.append(DesiredItem(client, PHASE_CLIENT_SETUP, item))

    cron = managed_block.remove_managed_block(facts.crontabs.get(owner))
    if cron is not None:
        add(DesiredCrontab(owner, cron))
    add(
        DesiredAbsent(
            paths.config,
            owner,
            description="borgmatic config",
            redact_keys=MONITORING_SECRETS,
        )
    )
    if managed_block.is_managed_file(facts.file(paths.legacy_config).text):
        add(
            DesiredAbsent(
                paths.legacy_config,
                owner,
                description="borgmatic config (where an earlier Borgkeep put it)",
                redact_keys=MONITORING_SECRETS,
            )
        )
    add(DesiredAbsent(paths.passphrase, owner, secret=True, description="repository passphrase"))
    add(DesiredAbsent(paths.key, owner, secret=True, description="private key"))
    add(DesiredAbsent(paths.public_key, owner, description="public key"))
    add(DesiredAbsent(paths.known_hosts, owner, description="pinned server host key"))
    return items
