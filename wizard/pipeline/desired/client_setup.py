"""Phase 3: each reachable client's pin of the server's host key, passphrase file, borgmatic
config (create + check only), repository and crontab block."""

from __future__ import annotations

import hashlib
import posixpath
from typing import TYPE_CHECKING

from wizard.artefacts import crontab, known_hosts_pin, passphrase_file
from wizard.artefacts.borgmatic_client import render_client_config
from wizard.artefacts.carried_options import CarriedOptions, carried_options
from wizard.artefacts.crontab import RETIRED_PREFIX
from wizard.artefacts.managed_block import is_managed_file
from wizard.hostside.guard_borg import hidden_path_of
from wizard.inventory.settings import client_schedule, repository_url
from wizard.pipeline.desired.fleet import Fleet, require
from wizard.pipeline.desired.items import (
    PHASE_CLIENT_SETUP,
    Desired,
    DesiredAbsent,
    DesiredCommand,
    DesiredCrontab,
    DesiredFile,
    DesiredItem,
    DesiredStateError,
)
from wizard.pipeline.facts import client_layout
from wizard.pipeline.repository_key import ABSENT, FOREIGN, keeps_key_inside
from wizard.takeover.retired import CRONTAB_SOURCE_PREFIX, RETIRED_SUFFIX

if TYPE_CHECKING:
    from wizard.pipeline.takeover_edits import ConfigEdit, LinesEdit
    from wizard.pipeline.takeover_plan import Takeover

MONITORING_SECRETS = ("ping_url", "topic")
"""In the client's config, the Healthchecks ping URL and the ntfy topic carry the tokens."""


class TakeoverPassphraseNeeded(DesiredStateError):
    """A repository to take over that no passphrase at hand opens (its old config holds
    none, or a wrong one): the wizard asks for it; the CLI says `borgkeep passphrase`."""


def client_setup(fleet: Fleet) -> list[DesiredItem]:
    host_key = fleet.server_facts.host_key
    if not host_key:
        raise DesiredStateError(fleet.server, "the server's host key is not known")
    settings = fleet.settings
    pin = known_hosts_pin.render_known_hosts_pin(
        settings.address_host, settings.address_port, [host_key]
    )
    items: list[DesiredItem] = []
    for client in fleet.reachable_clients:
        facts = fleet.facts[client.name]
        paths = client_layout(facts, client.name)
        owner = facts.login_user
        repo_path = fleet.server_paths.repository(client.name)
        url = repository_url(settings, repo_path)

        def add(item: Desired, host: str = client.name) -> None:
            items.append(DesiredItem(host, PHASE_CLIENT_SETUP, item))

        add(DesiredFile(paths.known_hosts, pin, 0o644, owner, description="pinned server host key"))
        add(
            DesiredFile(
                paths.passphrase,
                passphrase_file.render_passphrase_file(fleet.passphrases[client.name].value),
                passphrase_file.PASSPHRASE_FILE_MODE,
                owner,
                secret=True,
                description="repository passphrase",
                secret_origin=fleet.passphrase_origin(client.name),
            )
        )
        takeover = fleet.takeovers.get(client.name)
        carried = _carried(fleet, client.name, facts) if takeover else None
        config = render_client_config(
            borgmatic_version=require(facts, "the borgmatic version", facts.borgmatic_version),
            client_name=client.name,
            source_directories=list(client.source_directories),
            exclude_patterns=list(client.exclude_patterns),
            repository_url=url,
            passphrase_file=paths.passphrase,
            ssh_key_file=paths.key,
            known_hosts_file=paths.known_hosts,
            borg_path=require(facts, "the borg path", facts.borg_path),
            healthchecks=fleet.inventory.alerts.healthchecks,
            ntfy=fleet.inventory.alerts.ntfy,
            archive_prefix=fleet.archive_prefix(client),
            carried=carried,
        )
        add(
            DesiredFile(
                paths.config,
                config,
                0o600,
                owner,
                description="borgmatic config (create + check only)",
                redact_keys=MONITORING_SECRETS,
            )
        )
        if is_managed_file(facts.file(paths.legacy_config).text):
            add(
                DesiredAbsent(
                    paths.legacy_config,
                    owner,
                    description=f"Borgkeep's config where a bare `borgmatic` run finds it "
                    f"(moved to {paths.config})",
                    redact_keys=MONITORING_SECRETS,
                )
            )
        if _needs_init(fleet, client.name):
            add(
                DesiredCommand(
                    "init-repo",
                    f"initialise the repository {url} (repokey-blake2) through the client's "
                    "append-only key",
                    {
                        "url": url,
                        "config": paths.config,
                        "passphrase_file": paths.passphrase,
                        "key": paths.key,
                        "known_hosts": paths.known_hosts,
                        "borg": require(facts, "the borg path", facts.borg_path),
                        "repository": repo_path,
                        "borg_user": settings.borg_user,
                    },
                )
            )
        if takeover is not None:
            for path in takeover.retire_configs:
                add(
                    DesiredCommand(
                        "retire-config",
                        f"retire {path}, taken over by Borgkeep's config: renamed to "
                        f"{path}{RETIRED_SUFFIX} (borgmatic no longer loads it; nothing deleted)",
                        {"path": path, "to": path + RETIRED_SUFFIX},
                    )
                )
            for edit in takeover.edit_configs:
                args, hashes = _edit(edit, edit.path + RETIRED_SUFFIX, posixpath.dirname(edit.path))
                what = edit.describe(takeover.repository)
                add(DesiredCommand("edit-config", what, args, secret_args=hashes))
            for edit in takeover.cron_file_edits:
                numbers = ", ".join(map(str, edit.lines))
                args, hashes = _edit(edit, "", "/etc")
                what = (
                    f"comment out line {numbers} of {edit.path} (`{RETIRED_PREFIX}LINE`): "
                    "they ran the taken-over setup"
                )
                add(DesiredCommand("retire-cron-lines", what, args, secret_args=hashes))
        borgmatic = require(facts, "the borgmatic path", facts.borgmatic_path)
        cron_line = crontab.client_cron_line(client_schedule(client), borgmatic, paths.config)
        retired = _retired_jobs(takeover, f"{CRONTAB_SOURCE_PREFIX}{owner}")
        existing = (
            crontab.retire_cron_lines(facts.crontabs.get(owner), retired)
            if retired
            else (facts.crontabs.get(owner))
        )
        add(DesiredCrontab(owner, crontab.render_crontab(existing, [cron_line])))
    return items


def _carried(fleet: Fleet, client: str, facts) -> CarriedOptions | None:
    """What Borgkeep's config carries over from the taken-over config (active or retired)."""
    source = fleet.takeovers[client].source
    if source is None:
        return None
    alerts = tuple(
        name
        for name, url in (
            ("healthchecks", fleet.inventory.alerts.healthchecks),
            ("ntfy", fleet.inventory.alerts.ntfy),
        )
        if url
    )
    version = require(facts, "the borgmatic version", facts.borgmatic_version)
    try:
        return carried_options(source.options, version, alerts=alerts)
    except ValueError as exc:
        raise DesiredStateError(client, f"{source.path}: {exc}") from None


def _edit(edit: ConfigEdit | LinesEdit, to: str, tmpdir: str) -> tuple[dict, dict]:
    """An edit's arguments, and the hashes of the file before and after it: those only in
    the process (a config may hold its passphrase; a hash would let one guess it fast)."""

    def sha(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()

    public = {"path": edit.path, "to": to, "lines": list(edit.lines), "tmpdir": tmpdir}
    return public, {"before": sha(edit.before), "after": sha(edit.after)}


def _retired_jobs(takeover: Takeover | None, source: str) -> list[int]:
    if takeover is None:
        return []
    return sorted({job.line for job in takeover.retire_jobs if job.source == source and job.line})


def _needs_init(fleet: Fleet, client: str) -> bool:
    """Whether this apply creates the client's repository. A repository another setup left
    at the path is never given a new passphrase beside it: the plan refuses, naming it; so
    does a repository a guard run has taken out of the client's reach (it is not absent)."""
    spaths = fleet.server_paths
    repository = spaths.repository(client)
    hidden = hidden_path_of(repository)
    verdict = fleet.repositories[client]
    if verdict.kind == FOREIGN and client in fleet.takeovers:
        config = fleet.server_facts.file(spaths.repository_config(client)).text or ""
        refused = TakeoverPassphraseNeeded if keeps_key_inside(config) else DesiredStateError
        raise refused(client, _takeover_refusal(fleet, client, verdict.reason))
    if verdict.kind == FOREIGN:
        raise DesiredStateError(
            fleet.server,
            f"{client}: a Borg repository already exists at {repository} and it is not the one "
            f"Borgkeep set up for {client}: {verdict.reason}. Nothing was planned or written. "
            "Move it away (as the borg user) to start a new one, or put the passphrase that "
            "opens it into the secrets store (passphrase:"
            f"{fleet.server}/{client}) to keep it",
        )
    if verdict.kind == ABSENT and hidden in fleet.server_facts.existing:
        raise DesiredStateError(
            fleet.server,
            f"{client}: its repository is at {hidden}, out of the client's reach: a guard "
            "prune is running (or was interrupted: its next run puts it back); plan again "
            "when it is back at " + repository,
        )
    return verdict.kind == ABSENT


def _takeover_refusal(fleet: Fleet, client: str, reason: str) -> str:
    """Why a repository found for a takeover cannot be taken over, and what to do."""
    spaths = fleet.server_paths
    repository = spaths.repository(client)
    config = fleet.server_facts.file(spaths.repository_config(client)).text or ""
    default = posixpath.join(spaths.repo_root, client)
    if not keeps_key_inside(config):
        return (
            f"cannot take over {repository}: its key is not in the repository (a keyfile "
            "repository, or one without encryption), so the server could neither prune it "
            "nor put its key back. Borgkeep takes over repokey repositories only; start a "
            f"new one beside it with `repository: {default}`. Nothing was planned"
        )
    takeover = fleet.takeovers[client]
    where = (
        f"the passphrase of {takeover.passphrase_source} does not open it"
        if takeover.passphrase is not None
        else "its old config holds no passphrase (a passcommand, or the job's environment)"
    )
    return (
        f"cannot take over {repository}: {where}, nor does one in the secrets store. Give "
        f"the passphrase that opens it with `borgkeep passphrase {client}` (it reads it from "
        f"stdin or asks; never the command line), then plan again ({reason}). Nothing was "
        "planned"
    )
