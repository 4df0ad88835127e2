"""Phase 4: the server's side of pruning — the guard program, each client's passphrase and
prune config, the guard's baseline for new repositories, and the borg user's crontab block
that runs the guard per client."""

from __future__ import annotations

import shlex
from datetime import UTC, datetime

from wizard.artefacts import crontab, guard_program, managed_block, passphrase_file
from wizard.artefacts.borgmatic_client import archive_prefix
from wizard.artefacts.borgmatic_server import PRUNE_LOCK_WAIT_SECONDS, render_server_prune_config
from wizard.artefacts.layout import ServerPaths
from wizard.inventory.model import ClientSpec
from wizard.inventory.settings import (
    client_backups_per_day,
    client_retention,
    client_stale_after,
)
from wizard.inventory.validation import quota_bytes
from wizard.pipeline.desired.fleet import Fleet, require
from wizard.pipeline.desired.items import (
    PHASE_SERVER_PRUNE,
    Desired,
    DesiredCommand,
    DesiredCrontab,
    DesiredFile,
    DesiredItem,
)
from wizard.pipeline.facts import HostFacts
from wizard.pipeline.repository_key import ABSENT, REWRITTEN

CLOCK_SKEW_SECONDS = 3600
"""How far a client's clock may be off before its new archives count as forged dates."""
FALLBACK_PYTHON = "/usr/bin/python3"
GUARD_CRON_OUTPUT = ">/dev/null"
HEALTH_SCHEDULE = "0 12 * * *"
"""The daily health job: midday, long after the night's backups and the morning's prune."""
"""The guard's success line goes to syslog; cron mails only what it prints on stderr."""


def server_prune(fleet: Fleet, orphans: list[str]) -> tuple[list[DesiredItem], list[str]]:
    """`orphans`: clients with a key line but no longer in the inventory; they and the
    clients without a passphrase (unreachable, left out) keep their existing prune line."""
    server, spaths, borg_user = fleet.server, fleet.server_paths, fleet.borg_user
    server_facts = fleet.server_facts
    items: list[DesiredItem] = []
    warnings: list[str] = []

    def add(item: Desired) -> None:
        items.append(DesiredItem(server, PHASE_SERVER_PRUNE, item))

    planned = [c for c in fleet.inventory.clients if c.name in fleet.passphrases]
    existing_cron = server_facts.crontabs.get(borg_user)
    untouched = orphans + [
        c.name for c in fleet.inventory.clients if c.name not in fleet.passphrases
    ]
    prune_lines = kept_cron_lines(existing_cron, untouched)
    guarded = [c for c in fleet.inventory.clients if c in planned or c.name in prune_lines]
    guard_path = guard_program.guard_program_path(spaths.state_dir)
    python = guard_python(fleet)
    add(
        DesiredFile(
            guard_path,
            guard_program.render_guard_program(guard_config(fleet, guarded)),
            0o600,
            borg_user,
            description="the prune guard: prunes only what the server's clock allows",
        )
    )
    server_version = require(server_facts, "the borgmatic version", server_facts.borgmatic_version)
    baselines: list[DesiredCommand] = []
    for client in planned:
        add(
            DesiredFile(
                spaths.passphrase(client.name),
                passphrase_file.render_passphrase_file(fleet.passphrases[client.name].value),
                passphrase_file.PASSPHRASE_FILE_MODE,
                borg_user,
                secret=True,
                description=f"passphrase of {client.name}'s repository (for prune)",
                secret_origin=fleet.passphrase_origin(client.name),
            )
        )
        prune_config = render_server_prune_config(
            borgmatic_version=server_version,
            client_name=client.name,
            repository_path=spaths.repository(client.name),
            passphrase_file=spaths.passphrase(client.name),
            retention=client_retention(fleet.inventory, client),
            borg_path=require(server_facts, "the borg path", server_facts.borg_path),
            archive_prefix=fleet.archive_prefix(client),
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
        verdict = fleet.repositories[client.name]
        if verdict.reference is not None:
            add(key_copy(spaths, borg_user, client.name, verdict.reference))
        if verdict.kind == REWRITTEN:
            add(
                key_restoration(
                    spaths, borg_user, server_facts, client.name, python, guard_path, verdict.reason
                )
            )
        baseline = _baseline(fleet, client, python, guard_path)
        if baseline is not None:
            baselines.append(baseline)
        command = guard_program.guard_command(python, guard_path, "prune", client.name)
        prune_lines[client.name] = crontab.server_prune_cron_line(
            fleet.settings.prune_schedule, f"{command} {GUARD_CRON_OUTPUT}"
        )
    # Every client's files first, then the baselines, which need only their own client's
    # files (and run as one guard process, see `wizard.pipeline.apply.GUARD_INIT`), all
    # before the crontab that schedules the prunes.
    for baseline in baselines:
        add(baseline)
    add(
        DesiredFile(
            guard_program.alerts_file_path(spaths.state_dir),
            guard_program.render_alerts_file(fleet.inventory.alerts.urls),
            0o600,
            borg_user,
            secret=True,
            description="where the guard and the health job send alerts (URLs are secrets)",
        )
    )
    health = guard_program.fleet_command(python, guard_path, "health")
    block = [prune_lines[name] for name in sorted(prune_lines)]
    block.append(crontab.server_prune_cron_line(HEALTH_SCHEDULE, f"{health} {GUARD_CRON_OUTPUT}"))
    if fleet.settings.drill_schedule:
        drill = guard_program.fleet_command(python, guard_path, "drill")
        block.append(
            crontab.server_prune_cron_line(
                fleet.settings.drill_schedule, f"{drill} {GUARD_CRON_OUTPUT}"
            )
        )
    mailto = fleet.inventory.alerts.email
    add(DesiredCrontab(borg_user, crontab.render_crontab(existing_cron, block, mailto=mailto)))
    without_quota = [c.name for c in planned if not c.quota]
    if without_quota:
        warnings.append(
            f"{server}: no storage quota for {', '.join(without_quota)}: each of these clients "
            f"can fill {spaths.repo_root} and stop every other backup (set clients[].quota)"
        )
    return items, warnings


def guard_python(fleet: Fleet) -> str:
    """The interpreter borgmatic itself runs on, else the system's python3."""
    return fleet.server_facts.python_path or FALLBACK_PYTHON


def guard_config(fleet: Fleet, clients: list[ClientSpec]) -> dict:
    """The guard program's CONFIG for this server (see `wizard.artefacts.guard_program`)."""
    server_facts, spaths = fleet.server_facts, fleet.server_paths
    entries = {}
    for client in clients:
        entry = {
            "prefix": archive_prefix(client.name, fleet.archive_prefix(client)),
            "retention": client_retention(fleet.inventory, client),
            "max_new_per_day": client_backups_per_day(client),
            "stale_after": client_stale_after(fleet.inventory, client),
            "quota": quota_bytes(client.quota) if client.quota else 0,
            "prune_config": spaths.prune_config(client.name),
            "passphrase_file": spaths.passphrase(client.name),
        }
        if spaths.is_placed(client.name):
            entry["repository"] = spaths.repository(client.name)
        entries[client.name] = entry
    return {
        "server": fleet.server,
        "borg": require(server_facts, "the borg path", server_facts.borg_path),
        "borgmatic": require(server_facts, "the borgmatic path", server_facts.borgmatic_path),
        "state_dir": spaths.state_dir,
        "repo_root": spaths.repo_root,
        "lock_wait": PRUNE_LOCK_WAIT_SECONDS,
        "clock_skew": CLOCK_SKEW_SECONDS,
        "clients": entries,
    }


def _baseline(
    fleet: Fleet, client: ClientSpec, python: str, guard_path: str
) -> DesiredCommand | None:
    """The guard needs the list of archives it protects before its first prune: recorded
    right after this apply creates the repository, and planned again whenever Borgkeep's
    repository has none (an apply stopped before recording it, the state file was lost).
    The plan says which; the archives as they are at apply become the baseline."""
    spaths, server_facts = fleet.server_paths, fleet.server_facts
    state = guard_program.guard_state_path(spaths.state_dir, client.name)
    legacy = guard_program.legacy_state_path(spaths.state_dir, client.name)
    if {state, legacy} & server_facts.existing:
        return None
    repo = spaths.repository(client.name)
    if client.name in fleet.takeovers:
        description = (
            f"record the guard's baseline for {client.name}'s repository {repo}, taken over: "
            "every archive it holds at apply becomes the baseline, pruned by the server's "
            "retention from then on"
        )
    elif fleet.repositories[client.name].kind == ABSENT:
        description = (
            f"record the guard's baseline for {client.name}'s new repository {repo}, and keep "
            f"a copy of its key in {spaths.repokey(client.name)} <secret: new>"
        )
    else:
        description = (
            f"record the guard's baseline for {client.name}'s repository {repo}, which has "
            "none (an earlier apply stopped before recording it, or its state file is gone): "
            "its archives as they are at apply become the baseline"
        )
    return DesiredCommand(
        "init-guard",
        description,
        {"client": client.name, "python": python, "guard": guard_path, "user": fleet.borg_user},
    )


def key_copy(spaths: ServerPaths, borg_user: str, client: str, export: str) -> DesiredFile:
    """The server's copy of the repository key (`borg key export`'s text). The copy of a
    repository this apply creates is made by the guard's `init`, from the new config."""
    return DesiredFile(
        spaths.repokey(client),
        export,
        0o600,
        borg_user,
        secret=True,
        description=f"copy of {client}'s repository key (put back if a client rewrites it)",
    )


def key_restoration(
    spaths: ServerPaths,
    borg_user: str,
    server_facts: HostFacts,
    client: str,
    python: str,
    guard_path: str,
    nonce: str = "",
) -> DesiredCommand:
    """Put back a key a client rewrote through its append-only key (the guard's
    `restore-key`, as the borg user, from the server's copy): the passphrases open the
    repository again, and the guard's next run is clean. `nonce`: the key is right, but
    the client set the repository's nonce out of range (the same command resets it)."""
    changed = spaths.repository_nonce(client) if nonce else spaths.repository_config(client)
    since = ""
    if (mtime := server_facts.file(changed).mtime) is not None:
        since = f" since {datetime.fromtimestamp(mtime, UTC):%Y-%m-%d %H:%M} UTC"
    what = (
        f"reset the nonce of {client}'s repository, set out of range through its own key{since} "
        f"({nonce})"
        if nonce
        else f"restore the repository key of {client}, rewritten through its own key{since}, "
        f"from the server's copy {spaths.repokey(client)}"
    )
    return DesiredCommand(
        "restore-repokey",
        what,
        {"client": client, "python": python, "guard": guard_path, "user": borg_user},
    )


def kept_cron_lines(crontab_text: str | None, clients: list[str]) -> dict[str, str]:
    """Lines of the managed block that belong to `clients` (orphans, unreachable clients),
    by client: they keep their server-side prune while their keys stay in authorized_keys."""
    if not crontab_text or not clients:
        return {}
    kept = {}
    for line in managed_block.parse_managed_block(crontab_text).block_lines:
        owner = cron_line_client(line)
        if owner in clients:
            kept[owner] = line
    return kept


def cron_line_client(line: str) -> str | None:
    """Whose prune a line of the borg user's block runs: `guard.py prune NAME`, or the older
    `prune-guard NAME` and `-c …/prune-NAME.yaml` forms."""
    try:
        words = shlex.split(line)
    except ValueError:
        return None
    for index, word in enumerate(words[:-1]):
        if word == "prune" and index > 0 and words[index - 1].endswith("guard.py"):
            return words[index + 1]
        if word.endswith("/prune-guard"):
            return words[-1]
    for word in words:
        name = word.rsplit("/", 1)[-1]
        if name.startswith("prune-") and name.endswith(".yaml"):
            return name.removeprefix("prune-").removesuffix(".yaml")
    return None
