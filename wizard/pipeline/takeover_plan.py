"""The takeover of an existing Borg setup, decided (issue 21, item 2). Pure.

A client's inventory entry says where its repository is (`repository:`). When discovery
(`wizard.pipeline.existing_setup`) found that repository in the client's own borgmatic
configs, Borgkeep takes it over where it lies, with every archive:

- the server's `authorized_keys` loses every line outside Borgkeep's block that lets one of
  the client's keys reach it (the read-write `borg serve --restrict-to-path` of the manual
  procedure): Borgkeep's append-only line, restricted to that repository, replaces them;
- the client's configs that back up to it are retired: renamed beside themselves to
  `NAME.borgkeep-taken-over` (borgmatic loads only `*.yaml` and `*.yml`, so no run finds
  them again, and nothing is deleted); Borgkeep's config carries over what they did;
- the jobs that ran them in the login's crontab are commented out as `# borgkeep took
  over: LINE`; one in `/etc/crontab`, `/etc/cron.d` or a systemd timer is named in a plan
  warning to disable by hand (those files are not Borgkeep's to edit);
- the passphrase comes from the retired config (a literal `encryption_passphrase`) unless
  the operator's store already holds it.

A retired config stays the source of what Borgkeep's config carries over, so a rerun after
the takeover plans the same config (convergence does not depend on the first run). A
client whose found repository the inventory does not name is refused with the two lines
that choose: take it over, or start a new one beside it.
"""

from __future__ import annotations

import posixpath
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from wizard.artefacts.layout import ServerPaths
from wizard.hostside.guard_borg import GuardFailure
from wizard.hostside.guard_identity import export_text
from wizard.inventory.model import ClientSpec, Inventory
from wizard.inventory.settings import ServerSettings
from wizard.inventory.validation import ARCHIVE_PREFIX_RE
from wizard.pipeline.desired.items import DesiredStateError, Passphrase
from wizard.pipeline.existing_reads import client_host_files
from wizard.pipeline.existing_setup import RetiredConfigs, discover_existing
from wizard.pipeline.facts import HostFacts, server_layout
from wizard.pipeline.repository_key import passphrase_opens
from wizard.pipeline.takeover_edits import (
    ConfigEdit,
    LinesEdit,
    cron_file_edits,
    edit_for,
    editable_system_job,
    targets,
)
from wizard.pipeline.takeover_probe import FoundArchives
from wizard.takeover.borgmatic_configs import BorgmaticConfig
from wizard.takeover.host_files import HostFiles
from wizard.takeover.repositories import RepositoryMatch, TakeoverSummary
from wizard.takeover.repositories import _configs_of as configs_run_by
from wizard.takeover.retired import CRONTAB_SOURCE_PREFIX, RETIRED_SUFFIX
from wizard.takeover.scheduled_jobs import ScheduledJob
from wizard.takeover.server_key_lines import OTHER_COMMAND, ServerKeyLine


class TakeoverChoiceNeeded(DesiredStateError):
    """A client already backs up to this server and its inventory entry does not say what
    to do with that repository (`repository:`): nothing is planned until it does. The
    wizard asks; the CLI prints the message, which names both inventory lines."""

    def __init__(self, host: str, message: str, found: tuple[str, ...], default: str) -> None:
        super().__init__(host, message)
        self.found = found
        """The repositories found on the server, by path (the first is offered)."""
        self.default = default
        """Borgkeep's default path for the client (a new repository beside the old one)."""


@dataclass(frozen=True)
class Takeover:
    """What the apply does to take one client's existing repository over."""

    client: str
    repository: str
    """The repository's path on the server (the inventory's `repository:`)."""
    source: BorgmaticConfig | None
    """The config whose options Borgkeep's config carries over (active or retired)."""
    retire_configs: tuple[str, ...]
    """Active configs that back up to the repository: renamed to `PATH + RETIRED_SUFFIX`."""
    edit_configs: tuple[ConfigEdit, ...]
    """Active configs that back up to it and to other repositories: its entry commented
    out (the original kept as `PATH + RETIRED_SUFFIX`), so they keep backing up there."""
    cron_file_edits: tuple[LinesEdit, ...]
    """`/etc/crontab` and `/etc/cron.d` files whose jobs (in `retire_jobs`) run the
    taken-over setup, for a root login: those lines commented out in place."""
    retire_jobs: tuple[ScheduledJob, ...]
    """Cron lines that run those configs (or borg on the repository): commented out."""
    leftover_jobs: tuple[ScheduledJob, ...]
    """Jobs that run them outside the login's crontab (`/etc/crontab`, `/etc/cron.d`,
    systemd): not Borgkeep's to edit; the plan names each one to disable by hand."""
    remove_key_lines: tuple[ServerKeyLine, ...]
    """The server's lines outside Borgkeep's block that let the client's keys reach it."""
    passphrase: str | None
    """The passphrase the source config holds (None: not in the config)."""
    passphrase_source: str
    archives: FoundArchives | None = None
    """What the repository holds, read at plan (`takeover_probe`): the guard's baseline."""

    @property
    def archive_prefix(self) -> str | None:
        """The literal prefix of the old archive names, if the source config has one."""
        if self.source is None:
            return None
        prefix = literal_prefix(self.source.options.naming.archive_name_format)
        return prefix if prefix and ARCHIVE_PREFIX_RE.match(prefix) else None

    def to_json(self) -> dict[str, object]:
        """For `plan --json` (never the passphrase: its source only)."""
        return {
            "repository": self.repository,
            "done": self.done,
            "source_config": self.source.path if self.source else None,
            "archive_prefix": self.archive_prefix,
            "archives": self.archives.to_json() if self.archives else None,
            "retire_configs": list(self.retire_configs),
            "edit_configs": [edit.to_json() for edit in self.edit_configs],
            "retire_jobs": [job.describe() for job in self.retire_jobs],
            "jobs_left_running": [job.describe() for job in self.leftover_jobs],
            "remove_key_lines": [
                {"line": line.number, "access": line.access, "comment": line.comment}
                for line in self.remove_key_lines
            ],
            "passphrase": f"taken over from {self.passphrase_source}"
            if self.passphrase is not None
            else None,
        }

    @property
    def done(self) -> bool:
        """Taken over by an earlier apply: nothing of the old setup is left to change."""
        return not (
            self.retire_configs or self.edit_configs or self.retire_jobs or self.remove_key_lines
        )

    def describe(self) -> list[str]:
        """For the plan: what the takeover changes, one line each (never a secret)."""
        if self.done:
            where = self.source.path if self.source else "the old setup"
            return [
                f"taken over earlier: {self.repository} (Borgkeep's config carries over {where})"
            ]
        lines = [f"take over the repository {self.repository} with every archive in it"]
        if self.archives is not None:
            lines.append(self.archives.describe(self.client))
        for line in self.remove_key_lines:
            what = " ".join(part for part in (line.access, line.key_type, line.comment) if part)
            lines.append(
                f"remove line {line.number} of the server's authorized_keys ({what}): "
                "Borgkeep's append-only line replaces it"
            )
        for path in self.retire_configs:
            lines.append(f"retire {path} (renamed to {posixpath.basename(path)}{RETIRED_SUFFIX})")
        lines += [edit.describe(self.repository) for edit in self.edit_configs]
        for job in self.retire_jobs:
            lines.append(f"comment out {job.describe()}")
        if self.passphrase is not None:
            lines.append(f"passphrase: taken over from {self.passphrase_source}")
        return lines


def literal_prefix(archive_name_format: str | None) -> str | None:
    """`host1-{now}` -> `host1-`; borgmatic's default (`{hostname}-...`) and a format that
    starts with a placeholder -> None (the names have no literal prefix)."""
    if not archive_name_format:
        return None
    prefix = archive_name_format.split("{", 1)[0]
    return prefix or None


def _configs_for(
    summary: TakeoverSummary, configs: tuple[BorgmaticConfig, ...], repository: str
) -> list[BorgmaticConfig]:
    paths = {m.config_path for m in summary.repositories if targets(m, repository)}
    return [config for config in configs if config.path in paths]


def plan_takeover(
    client: str,
    repository: str,
    summary: TakeoverSummary | None,
    retired: tuple[BorgmaticConfig, ...],
    retired_matches: tuple[RepositoryMatch, ...],
    home: str,
    login: str,
    files: HostFiles | None = None,
) -> Takeover | None:
    """The takeover of `client`'s repository at `repository`, or None when no setup of the
    client's own backs up there (a new repository, or Borgkeep's already). `retired`: the
    client's configs a takeover already renamed, with `retired_matches` (resolved like
    active ones); `files`: what gather read on the client (to edit a config that also
    backs up elsewhere)."""
    active = _configs_for(summary, summary.configs.configs, repository) if summary else []
    retired_paths = {m.config_path for m in retired_matches if targets(m, repository)}
    earlier = [config for config in retired if config.path in retired_paths]
    lines = tuple(
        line
        for line in (summary.key_lines if summary else ())
        if not line.in_borgkeep_block
        and line.access != OTHER_COMMAND
        and line.reaches(repository, home)
    )
    if not active and not earlier and not lines:
        return None
    edits = tuple(
        edit
        for config in active
        if (edit := edit_for(client, config, summary, repository, files)) is not None
    )
    edited = {edit.path for edit in edits}
    active = [config for config in active if config.path not in edited]
    jobs = _jobs_running(summary, active, repository) if summary else ()
    for job in jobs:
        others = _other_configs_run(summary, job, active)
        if others:
            raise DesiredStateError(
                client,
                f"{job.describe()} also runs {', '.join(others)}: commenting it out would stop "
                "those backups too. Give that job `-c` with those configs only (or a job of "
                "their own), then plan again",
            )
    retire = tuple(
        job for job in jobs if job.source == f"{CRONTAB_SOURCE_PREFIX}{login}" and job.line
    )
    system = tuple(job for job in jobs if editable_system_job(job, login, files))
    cron_edits = cron_file_edits(system, files) if system else ()
    retire += system
    leftover = tuple(job for job in jobs if job not in retire)
    source = active or [c for c in summary.configs.configs if c.path in edited] if summary else []
    source = (source or earlier or [None])[0]
    passphrase, where = None, ""
    if source is not None and source.options.passphrase.source == "config":
        passphrase = source.options.passphrase.value
        where = f"{client}'s {source.path.removesuffix(RETIRED_SUFFIX)}"
    return Takeover(
        client=client,
        repository=repository,
        source=source,
        retire_configs=tuple(config.path for config in active),
        edit_configs=edits,
        cron_file_edits=cron_edits,
        retire_jobs=retire,
        leftover_jobs=leftover,
        remove_key_lines=lines,
        passphrase=passphrase,
        passphrase_source=where,
    )


def _other_configs_run(
    summary: TakeoverSummary, job: ScheduledJob, retiring: list[BorgmaticConfig]
) -> list[str]:
    """The configs `job` runs besides those the takeover retires (never Borgkeep's own:
    discovery leaves those out)."""
    retired = {config.path for config in retiring}
    others: list[str] = []
    for invocation in job.invocations:
        if invocation.program != "borgmatic":
            continue
        run, _unread = configs_run_by(invocation, job, summary.configs)
        others += [c.path for c in run if c.path not in retired and c.path not in others]
    return others


def _jobs_running(
    summary: TakeoverSummary, configs: list[BorgmaticConfig], repository: str
) -> tuple[ScheduledJob, ...]:
    """The client's own active jobs that run one of `configs` (any borgmatic action), or
    borg directly on the repository."""
    wanted = {config.path for config in configs}
    found = []
    for job in summary.jobs:
        if job.managed_by_borgkeep or job.active is False:
            continue
        for invocation in job.invocations:
            if invocation.program == "borgmatic":
                run, _unread = configs_run_by(invocation, job, summary.configs)
                if wanted & {config.path for config in run}:
                    found.append(job)
                    break
            elif invocation.program == "borg" and invocation.repository:
                matches = [m for m in summary.repositories if targets(m, repository)]
                if any(invocation.repository == m.location.raw for m in matches):
                    found.append(job)
                    break
    return tuple(found)


def unchosen_repository_refusal(
    client: str, summary: TakeoverSummary, default_path: str, server: str
) -> TakeoverChoiceNeeded | None:
    """A client whose own setup backs up to this server, and whose inventory entry does not
    say `repository:`: refused, with the lines that choose."""
    found = list(dict.fromkeys(m.server_path for m in summary.on_server if m.server_path))
    if not found:
        return None
    where = ", ".join(f"{server}:{path}" for path in found)
    choices = (
        f"`repository: {found[0]}` takes it over where it is, with every archive (its "
        "read-write key lines go, its configs and cron lines are retired, the server prunes "
        "it from then on)"
    )
    if default_path not in found:
        choices += (
            f"; `repository: {default_path}` starts a new repository beside it and leaves "
            "the old setup alone"
        )
    return TakeoverChoiceNeeded(
        client,
        f"already backs up to {where} ({summary.describe()}). Say in the inventory "
        f"what Borgkeep does with it, under client {client}: {choices}. Nothing was planned",
        tuple(found),
        default_path,
    )


def decide_takeovers(
    clients: Iterable[ClientSpec],
    paths: ServerPaths,
    server: str,
    existing: Mapping[str, TakeoverSummary],
    retired: Mapping[str, RetiredConfigs],
    present: Collection[str],
    logins: Mapping[str, str],
    files: Mapping[str, HostFiles] | None = None,
) -> dict[str, Takeover]:
    """Each client's takeover, from what discovery found (`existing`, `retired`) and where
    the inventory puts its repository. `present`: the paths that exist on the server (a
    repository Borgkeep already made at the default path means the choice was made);
    `logins`: the account each client's backups run as."""
    takeovers = {}
    for client in clients:
        summary = existing.get(client.name)
        path = paths.repository(client.name)
        if client.repository is None:  # the inventory made no choice
            if summary is None or paths.repository_config(client.name) in present:
                continue
            refusal = unchosen_repository_refusal(client.name, summary, path, server)
            if refusal is not None:
                raise refusal
            continue
        earlier = retired.get(client.name, RetiredConfigs((), ()))
        takeover = plan_takeover(
            client.name,
            path,
            summary,
            earlier.configs,
            earlier.matches,
            paths.home,
            logins[client.name],
            (files or {}).get(client.name),
        )
        if takeover is not None:
            takeovers[client.name] = takeover
    return takeovers


def cron_retirements(takeovers: Mapping[str, Takeover]) -> dict[str, dict[str, list[int]]]:
    """Per client, per crontab source (`crontab of USER`, `/etc/crontab`, a cron.d file),
    the line numbers to comment out."""
    result: dict[str, dict[str, list[int]]] = {}
    for client, takeover in takeovers.items():
        for job in takeover.retire_jobs:
            if job.line:
                result.setdefault(client, {}).setdefault(job.source, []).append(job.line)
    return result


def fleet_takeovers(
    inventory: Inventory,
    settings: ServerSettings,
    server: str,
    gathered: Mapping[str, HostFacts],
    left_out: Collection[str] = (),
) -> tuple[dict[str, TakeoverSummary], dict[str, Takeover]]:
    """What discovery found per client (`existing_setups`), and `decide_takeovers` for
    the clients whose facts were gathered; a client left out of this apply is not asked
    what to do with its old repository."""
    facts = {k: v for k, v in gathered.items() if k == server or k not in left_out}
    names = [client.name for client in inventory.clients]
    existing, retired = discover_existing(facts, server, settings, names)
    server_facts = facts[server]
    spaths = server_layout(server_facts, settings)
    clients = [c for c in inventory.clients if c.name in facts]
    present = {
        spaths.repository_config(c.name)
        for c in clients
        if server_facts.file(spaths.repository_config(c.name)).content is not None
    }
    logins = {c.name: facts[c.name].login_user for c in clients}
    files = {c.name: client_host_files(facts[c.name], c.name) for c in clients}
    return existing, decide_takeovers(
        clients, spaths, server, existing, retired, present, logins, files
    )


def taken_over_passphrases(
    takeovers: Mapping[str, Takeover],
    passphrases: Mapping[str, Passphrase],
    facts: HostFacts,
    settings: ServerSettings,
) -> dict[str, Passphrase]:
    """`passphrases` with each taken-over repository's own: the one its old config holds,
    unless that does not open the repository and the one already known (the secrets store,
    `borgkeep passphrase`) does. Neither opening it: the old config's, and the plan
    refuses, saying so."""
    result = dict(passphrases)
    paths = server_layout(facts, settings)
    for client, takeover in takeovers.items():
        if takeover.passphrase is None:
            continue
        known = passphrases.get(client)
        config = facts.file(paths.repository_config(client)).text
        keep_known = (
            known is not None
            and not known.is_new
            and config
            and not _opens(config, takeover.passphrase)
            and _opens(config, known.value)
        )
        if keep_known:
            continue
        result[client] = Passphrase(takeover.passphrase)
    return result


def _opens(config_text: str, passphrase: str) -> bool:
    try:
        return passphrase_opens(export_text(config_text, "repository config"), passphrase)
    except GuardFailure:
        return False
