"""An existing Borg setup, found read-only (issue 21, discovery): the pure discovery of
`wizard.takeover` run over what gather read (`wizard.pipeline.existing_reads`), one
summary per client for the plan, `plan --json` (`existing`) and the wizard, and the plan
warnings that matter before anything is taken over. Nothing here changes a host.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from wizard.artefacts.layout import client_paths
from wizard.inventory.settings import ServerSettings
from wizard.pipeline.existing_reads import (
    CRON_D,
    SYSTEM_CRONTAB,
    TIMERS_WANTS,
    UNIT_DIRECTORY,
    VENDOR_UNIT_DIRECTORIES,
    client_host_files,
)
from wizard.pipeline.facts import HostFacts, server_layout
from wizard.takeover.borgmatic_configs import (
    BorgmaticConfig,
    ConfigDiscovery,
    Login,
    discover_configs,
)
from wizard.takeover.host_files import absolute, expand_home
from wizard.takeover.repositories import (
    ChosenServer,
    HostResolver,
    RepositoryMatch,
    SshHost,
    TakeoverSummary,
    config_paths_to_discover,
    match_repository,
    no_ssh_config,
    summarize_client,
)
from wizard.takeover.retired import RETIRED_SUFFIX
from wizard.takeover.scheduled_jobs import ScheduledJob, find_scheduled_jobs

if TYPE_CHECKING:
    from wizard.pipeline.takeover_plan import Takeover
from wizard.takeover.server_key_lines import find_client_key_lines
from wizard.takeover.versions import parse_version


def _text(content: bytes) -> str:
    return content.decode("utf-8", "surrogateescape")


def client_login(facts: HostFacts) -> Login:
    return Login(facts.login_user, facts.home)


def _borgmatic_version(facts: HostFacts) -> str | None:
    """The client's borgmatic version when discovery can read configs as it does (an
    unknown one is the plan's own error to give, not gather's)."""
    try:
        return facts.borgmatic_version if parse_version(facts.borgmatic_version) else None
    except ValueError:
        return None


def client_jobs(facts: HostFacts) -> tuple[ScheduledJob, ...]:
    """The login's crontab, `/etc/crontab`, the cron.d files and units gather read."""
    files = facts.existing_setup_files
    system = {
        path: _text(content)
        for path, content in files.items()
        if path == SYSTEM_CRONTAB or posixpath.dirname(path) == CRON_D
    }
    units = {
        path: _text(content)
        for path, content in files.items()
        if posixpath.dirname(path) in (UNIT_DIRECTORY, *VENDOR_UNIT_DIRECTORIES)
        or path.startswith(UNIT_DIRECTORY + "/")
    }
    crontab = facts.crontabs.get(facts.login_user)
    jobs = find_scheduled_jobs(
        borgmatic_version=_borgmatic_version(facts),
        user_crontabs={facts.login_user: crontab} if crontab else {},
        system_crontabs=system,
        systemd_units=units,
        enabled_timers=_packaged_timers(facts, units) or None,
    )
    packaged = _packaged_only(units)
    absent = {path for path, what in facts.existing_setup_missing.items() if what == "absent"}
    # a packaged service that never runs (no timer enabled; Debian's borgmatic.timer is,
    # but its service needs /etc/borgmatic/config.yaml) is not a job of the setup
    return tuple(
        job
        for job in jobs
        if not (job.source in packaged and (job.active is False or _unmet(job, units, absent)))
    )


def _unmet(job: ScheduledJob, units: Mapping[str, str], absent: Collection[str]) -> bool:
    """Whether the job's service needs a file gather found absent (`ConditionFileNotEmpty=`,
    `ConditionPathExists=`): systemd skips it then."""
    texts = [text for path, text in units.items() if posixpath.basename(path) == job.source]
    needed = {
        match.group(1)
        for text in texts
        for match in re.finditer(r"^Condition(?:FileNotEmpty|PathExists)=([^!|\s]\S*)", text, re.M)
    }
    return bool(needed & set(absent))


def _packaged_only(units: Mapping[str, str]) -> set[str]:
    """The unit names found only in the package directories (none in /etc overrides them)."""
    names = {posixpath.basename(path) for path in units}
    ours = {posixpath.basename(p) for p in units if posixpath.dirname(p) == UNIT_DIRECTORY}
    return names - ours


def _packaged_timers(facts: HostFacts, units: Mapping[str, str]) -> dict[str, bool]:
    """Whether each packaged timer is enabled: linked in `timers.target.wants` (as
    `systemctl enable` links it). Timers of /etc's own units: not known (not asked)."""
    wants = set(facts.existing_setup_listings.get(TIMERS_WANTS, ()))
    return {name: name in wants for name in _packaged_only(units) if name.endswith(".timer")}


def discover_client_configs(facts: HostFacts, name: str) -> ConfigDiscovery | None:
    """The configs the login's borgmatic loads, and those its jobs name with `-c` (None
    without borgmatic: no version to read them as)."""
    version = _borgmatic_version(facts)
    if version is None:
        return None
    login = client_login(facts)
    wanted = config_paths_to_discover(login, client_jobs(facts)) + retired_config_paths(facts)
    return discover_configs(client_host_files(facts, name), login, version, wanted)


def retired_config_paths(facts: HostFacts) -> tuple[str, ...]:
    """The configs a takeover retired (`NAME.borgkeep-taken-over`), as gather found them:
    read like configs, never counted as configs borgmatic loads."""
    found = [path for path in facts.existing_setup_files if path.endswith(RETIRED_SUFFIX)]
    for directory, names in facts.existing_setup_listings.items():
        found += [posixpath.join(directory, n) for n in names if n.endswith(RETIRED_SUFFIX)]
    return tuple(sorted(set(found)))


def is_retired(config: BorgmaticConfig) -> bool:
    return config.path.endswith(RETIRED_SUFFIX)


def client_ssh_resolver(facts: HostFacts) -> HostResolver:
    """The client's `~/.ssh/config` as its ssh reads `Host` blocks: the first value of
    each option wins; `Match` blocks are skipped (never evaluated here)."""
    content = facts.existing_setup_files.get(posixpath.join(facts.home, ".ssh/config"))
    if not content:
        return no_ssh_config
    blocks: list[tuple[list[str] | None, dict[str, str]]] = [([], {})]
    for raw in _text(content).splitlines():
        words = raw.strip().replace("=", " ", 1).split()
        if not words or words[0].startswith("#"):
            continue
        key = words[0].lower()
        if key in ("host", "match"):
            blocks.append((words[1:] if key == "host" else None, {}))
        elif len(words) > 1:
            blocks[-1][1].setdefault(key, words[1])

    def resolve(host: str) -> SshHost:
        found: dict[str, str] = {}
        for patterns, options in blocks:
            if patterns is None or (patterns and not _host_matches(host, patterns)):
                continue
            for key, value in options.items():
                found.setdefault(key, value)
        port = found.get("port", "")
        return SshHost(
            hostname=found.get("hostname", "").replace("%h", host) or None,
            port=int(port) if port.isdigit() else None,
            user=found.get("user"),
        )

    return resolve


def _host_matches(host: str, patterns: list[str]) -> bool:
    if any(p.startswith("!") and fnmatch.fnmatch(host, p[1:]) for p in patterns):
        return False
    return any(not p.startswith("!") and fnmatch.fnmatch(host, p) for p in patterns)


def public_keys_to_read(facts: HostFacts, discovery: ConfigDiscovery) -> tuple[str, ...]:
    """The `.pub` beside each key a config's `ssh_command` names (`-i`), not read yet: what
    finds the key line that key has on the server (the default keys come with round 2)."""
    login = client_login(facts)
    wanted: list[str] = []
    for config in discovery.configs:
        ssh = config.options.ssh_command
        for path in ssh.identity_files if ssh and not config.managed_by_borgkeep else ():
            full = absolute(expand_home(path, login.home, login.user), login.home) + ".pub"
            read = full in facts.existing_setup_files or full in facts.existing_setup_missing
            if not read and full not in wanted:
                wanted.append(full)
    return tuple(wanted)


def _public_keys(facts: HostFacts) -> list[str]:
    """The login's default public keys and those of its configs' `-i` keys, as read."""
    keys = []
    for path, content in sorted(facts.existing_setup_files.items()):
        text = _text(content).strip()
        if path.endswith(".pub") and text:
            keys.append(text.splitlines()[0])
    return keys


@dataclass(frozen=True)
class RetiredConfigs:
    """A client's configs an earlier takeover retired, with their repositories resolved:
    what Borgkeep's config keeps carrying over on every later plan."""

    configs: tuple[BorgmaticConfig, ...]
    matches: tuple[RepositoryMatch, ...]


def existing_setups(
    facts: Mapping[str, HostFacts], server: str, settings: ServerSettings, clients: Iterable[str]
) -> dict[str, TakeoverSummary]:
    """Per client whose facts are known, what it already has that is not Borgkeep's:
    configs, jobs, repositories on this server and the key lines that reach them."""
    return discover_existing(facts, server, settings, clients)[0]


def discover_existing(
    facts: Mapping[str, HostFacts], server: str, settings: ServerSettings, clients: Iterable[str]
) -> tuple[dict[str, TakeoverSummary], dict[str, RetiredConfigs]]:
    """`existing_setups`, and per client the configs a takeover retired."""
    server_facts = facts[server]
    paths = server_layout(server_facts, settings)
    chosen = ChosenServer.at(
        server,
        settings.address_host,
        settings.address_port,
        settings.borg_user,
        paths.home,
        also=[server],
    )
    known = [client for client in clients if client in facts]
    keys = {client: _public_keys(facts[client]) for client in known}
    key_lines = find_client_key_lines(server_facts.file(paths.authorized_keys).text, keys)
    found = {}
    retired = {}
    for client in known:
        client_facts = facts[client]
        discovery = discover_client_configs(client_facts, client)
        if discovery is None:
            continue
        resolver = client_ssh_resolver(client_facts)
        earlier = tuple(c for c in discovery.configs if is_retired(c))
        if earlier:
            matches = tuple(
                match_repository(config, location, chosen, discovery.login, resolver)
                for config in earlier
                for location in config.options.repositories
            )
            retired[client] = RetiredConfigs(earlier, matches)
        theirs = tuple(
            c for c in discovery.configs if not c.managed_by_borgkeep and not is_retired(c)
        )
        jobs = tuple(j for j in client_jobs(client_facts) if not j.managed_by_borgkeep)
        discovery = replace(discovery, configs=theirs)  # Borgkeep's own is no finding
        summary = summarize_client(client, discovery, jobs, key_lines, chosen, resolver)
        if summary.found or theirs or jobs or discovery.errors:
            found[client] = summary
    return found, retired


def existing_setup_warnings(
    summaries: Mapping[str, TakeoverSummary],
    facts: Mapping[str, HostFacts],
    takeovers: Mapping[str, Takeover] | None = None,
    named: Collection[str] = (),
) -> list[str]:
    """A job Borgkeep did not write that runs borgmatic with Borgkeep's config or
    directory (`-c /etc/borgkeep`) would run Borgkeep's config too: said precisely, per job
    (borgmatic's default configs do not hold it: it lives in Borgkeep's own directory).
    A takeover comments out the login's own; what it cannot is named, and so are archive
    names the server's prune would not recognise (unless the inventory names their
    prefix: `named`, the clients with `archive_prefix`)."""
    warnings = []
    for client, takeover in (takeovers or {}).items():
        for job in takeover.leftover_jobs:
            warnings.append(
                f"{client}: {job.describe()} runs the taken-over setup and is not in "
                f"{facts[client].login_user}'s crontab: disable it by hand (comment it out, "
                "or `systemctl disable --now` its timer) so it stops failing"
            )
        if takeover.source is not None and not takeover.archive_prefix and client not in named:
            naming = takeover.source.options.naming.archive_name_format or "borgmatic's default"
            warnings.append(
                f"{client}: the taken-over archives are named by {naming}, which starts with no "
                f"literal prefix Borgkeep can use: set `archive_prefix:` for {client} in the inventory to the start "
                "they share (e.g. the host name and `-`), or the server's prune keeps them "
                "for good"
            )
    for client, summary in summaries.items():
        client_facts = facts[client]
        login = client_login(client_facts)
        ours = client_paths(client, client_facts.home, client_facts.is_root).config
        takeover = (takeovers or {}).get(client)
        retired = (*takeover.retire_jobs, *takeover.leftover_jobs) if takeover else ()
        for job in summary.jobs:
            if job.managed_by_borgkeep or job.active is False or job in retired:
                continue
            for run in job.invocations:
                if run.program != "borgmatic" or (run.run_as or job.user) != login.user:
                    continue
                given = [
                    absolute(expand_home(path, login.home, login.user), login.home)
                    for path in run.config_paths
                ]
                if not any(ours == p or ours.startswith(p + "/") for p in given):
                    continue  # borgmatic's default configs no longer hold Borgkeep's
                which = ", ".join(given)
                actions = ", ".join(run.actions) or "its default actions"
                if run.removes_archives or run.compacts:
                    effect = (
                        "Borgkeep's client has no right to prune or compact (append-only), "
                        "so that run fails on Borgkeep's repository and reports the whole "
                        "run as failed"
                    )
                else:
                    effect = f"it would also run {actions} with Borgkeep's config"
                where = f"{job.source}, line {job.line}" if job.line else job.source
                warnings.append(
                    f"{client}: {where} runs `borgmatic` ({actions}) on {which}, which "
                    f"include Borgkeep's {ours}: {effect}; give that job "
                    f"`-c` with its own configs only, or remove it, before apply"
                )
    return warnings
