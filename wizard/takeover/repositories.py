"""Which of a client's repositories are on the chosen server, and one summary per client.

A repository's host is resolved as the client's ssh resolves it: the URL's host through the
client's `~/.ssh/config` (an alias `nas` may be `HostName nas.lan`), the URL's port and
user before `ssh_command`'s and the config's, the keys `ssh_command` names (`-i`), then the
config's `IdentityFile`, else OpenSSH's default keys. The resolver is a parameter: the
engine's `wizard.remote.ssh_config` reads the operator's own file with paramiko, while
this needs the client's, read by gather, and stays free of paramiko.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from wizard.takeover.borgmatic_configs import BorgmaticConfig, ConfigDiscovery, Login
from wizard.takeover.borgmatic_configs import default_config_paths as default_paths
from wizard.takeover.borgmatic_options import SshCommand
from wizard.takeover.command_lines import Invocation
from wizard.takeover.host_files import absolute, expand_home
from wizard.takeover.repository_urls import RepositoryLocation, parse_repository
from wizard.takeover.scheduled_jobs import ScheduledJob
from wizard.takeover.server_key_lines import KeyLineDiscovery, ServerKeyLine, server_side_path

ENV_PASSPHRASES = ("BORG_PASSPHRASE", "BORG_PASSCOMMAND", "BORG_PASSPHRASE_FD")
DEFAULT_KEYS = ("id_rsa", "id_ecdsa", "id_ecdsa_sk", "id_ed25519", "id_ed25519_sk", "id_xmss")


@dataclass(frozen=True)
class SshHost:
    """What the client's ssh config says for one host name (None: not set)."""

    hostname: str | None = None
    port: int | None = None
    user: str | None = None
    identity_files: tuple[str, ...] = ()


HostResolver = Callable[[str], SshHost]


def no_ssh_config(_host: str) -> SshHost:
    """The resolver for a client without `~/.ssh/config`."""
    return SshHost()


@dataclass(frozen=True)
class ChosenServer:
    """The server the fleet backs up to, as clients reach it."""

    name: str
    hostnames: frozenset[str]
    """Every name and address clients may use for it, lower-case."""
    port: int
    account: str
    home: str

    @classmethod
    def at(
        cls, name: str, address: str, port: int, account: str, home: str, also: Iterable[str] = ()
    ) -> ChosenServer:
        names = frozenset(host.lower() for host in (address, *also))
        return cls(name, names, port, account, home)


@dataclass(frozen=True)
class RepositoryMatch:
    """One repository of one config, resolved, and whether it is on the chosen server."""

    config_path: str
    location: RepositoryLocation
    hostname: str | None
    port: int | None
    user: str | None
    identity_files: tuple[str, ...]
    identity_source: str
    """"ssh_command", "ssh config" or "default keys"."""
    on_server: bool
    reason: str
    server_path: str | None
    """The absolute path on the server (the account's home resolved), when on it."""

    def to_json(self) -> dict[str, object]:
        return {
            "config": self.config_path,
            "repository": self.location.to_json(),
            "hostname": self.hostname,
            "port": self.port,
            "user": self.user,
            "identity_files": list(self.identity_files),
            "identity_source": self.identity_source,
            "on_server": self.on_server,
            "reason": self.reason,
            "server_path": self.server_path,
        }


def match_repository(
    config: BorgmaticConfig,
    location: RepositoryLocation,
    server: ChosenServer,
    login: Login,
    resolver: HostResolver = no_ssh_config,
) -> RepositoryMatch:
    """Resolve one repository of `config` as the client's ssh would and compare it with
    `server`."""
    return resolve_location(
        config.path, location, config.options.ssh_command, server, login, resolver
    )


def resolve_location(
    config_path: str,
    location: RepositoryLocation,
    ssh: SshCommand | None,
    server: ChosenServer,
    login: Login,
    resolver: HostResolver = no_ssh_config,
) -> RepositoryMatch:
    """The same for a repository reached with `ssh` (a config's `ssh_command`, or none)."""
    if location.host is None:
        return RepositoryMatch(
            config_path, location, None, None, None, (), "", False, "on the client itself", None
        )
    resolved = resolver(location.host)
    hostname = (resolved.hostname or location.host).lower()
    port = location.port or (ssh.port if ssh else None) or resolved.port or 22
    user = (ssh.user if ssh else None) or location.user or resolved.user or login.user
    if ssh and ssh.identity_files:
        identities, source = ssh.identity_files + resolved.identity_files, "ssh_command"
    elif resolved.identity_files:
        identities, source = resolved.identity_files, "ssh config"
    else:
        keys = (posixpath.join(login.home, ".ssh", name) for name in DEFAULT_KEYS)
        identities, source = tuple(keys), "default keys"
    via = f" ({location.host} resolves to {hostname})" if hostname != location.host.lower() else ""
    if hostname not in server.hostnames:
        reason, on_server = f"another host: {hostname}", False
    elif port != server.port:
        reason, on_server = f"{hostname}{via}, but port {port}, not {server.port}", False
    elif user != server.account:
        reason, on_server = f"{hostname}{via}, but account {user}, not {server.account}", False
    else:
        reason, on_server = f"{user}@{hostname}:{port}{via}", True
    path = server_side_path(location.path, server.home) if on_server else None
    return RepositoryMatch(
        config_path, location, hostname, port, user, identities, source, on_server, reason, path
    )


@dataclass(frozen=True)
class TakeoverSummary:
    """What one client already has, for the plan, `plan --json` and the wizard."""

    client: str
    server_name: str
    configs: ConfigDiscovery
    repositories: tuple[RepositoryMatch, ...]
    key_lines: tuple[ServerKeyLine, ...]
    jobs: tuple[ScheduledJob, ...]
    pruning_jobs: tuple[ScheduledJob, ...]
    """Jobs not Borgkeep's that can prune (or delete) archives of a repository on the server."""
    problems: tuple[str, ...]
    passphrase_sources: Mapping[str, str]
    """Config path -> where its passphrase comes from, in words: the config, or, when it
    names none, the environment of the jobs that run it."""

    @property
    def on_server(self) -> tuple[RepositoryMatch, ...]:
        return tuple(match for match in self.repositories if match.on_server)

    @property
    def elsewhere(self) -> tuple[RepositoryMatch, ...]:
        return tuple(match for match in self.repositories if not match.on_server)

    @property
    def found(self) -> bool:
        return bool(self.on_server or self.key_lines or self.pruning_jobs)

    def describe(self) -> str:
        """ "existing Borg setup: repository nas:/data/backups/host1, passphrase in config,
        read-write key line, client-side prune"."""
        if not self.found:
            return "no existing Borg setup on this server"
        passphrases = self.passphrase_sources
        sources = _unique(passphrases[m.config_path] for m in self.on_server)
        parts = [
            f"repository {self.server_name}:{m.server_path}"
            + (f" ({passphrases[m.config_path]})" if len(sources) > 1 else "")
            for m in self.on_server
        ]
        if self.elsewhere:
            others = ", ".join(m.location.display for m in self.elsewhere)
            parts.append(f"left alone: {others}")
        parts += sources if len(sources) == 1 else []
        used = [line for line in self.key_lines if line.used_by_sshd]
        parts += _unique(f"{line.access} key line" for line in used) or ["no key line"]
        if self.pruning_jobs:
            parts.append("client-side prune")
        return "existing Borg setup: " + ", ".join(parts)

    def to_json(self) -> dict[str, object]:
        """Everything found, never a secret (passphrases by source only)."""
        return {
            "client": self.client,
            "found": self.found,
            "summary": self.describe(),
            "configs": self.configs.to_json(),
            "repositories": [match.to_json() for match in self.repositories],
            "key_lines": [line.to_json() for line in self.key_lines],
            "jobs": [job.to_json() for job in self.jobs],
            "client_side_prune": [job.describe() for job in self.pruning_jobs],
            "passphrase_sources": dict(self.passphrase_sources),
            "problems": list(self.problems),
        }


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def config_paths_to_discover(login: Login, jobs: Iterable[ScheduledJob]) -> tuple[str, ...]:
    """borgmatic's default paths for `login` and every `-c` path its jobs name: what
    gather passes to `discover_configs`, so that no job runs a config nobody read."""
    paths = list(default_paths(login))
    for job in jobs:
        for invocation in job.invocations:
            if invocation.program == "borgmatic" and (invocation.run_as or job.user) == login.user:
                for path in invocation.config_paths:
                    full = absolute(expand_home(path, login.home, login.user), login.home)
                    if full not in paths:
                        paths.append(full)
    return tuple(paths)


def _configs_of(
    invocation: Invocation, job: ScheduledJob, discovery: ConfigDiscovery
) -> tuple[tuple[BorgmaticConfig, ...], tuple[str, ...]]:
    """The configs a borgmatic run loads, and what it loads that discovery did not read
    (another login's defaults, a `-c` path outside what was searched)."""
    login = discovery.login
    runner = invocation.run_as or job.user
    if not invocation.config_paths and runner != login.user:
        return (), (f"the default configs of {runner}",)
    given = invocation.config_paths or default_paths(login)
    wanted = [absolute(expand_home(path, login.home, login.user), login.home) for path in given]

    def covers(path: str, candidate: str) -> bool:
        return candidate == path or candidate.startswith(path + "/")

    configs = tuple(
        config for config in discovery.configs if any(covers(path, config.path) for path in wanted)
    )
    unread = tuple(
        path
        for path in wanted
        if path not in discovery.searched
        and not any(covers(path, found) for found in discovery.config_paths)
    )
    return configs, unread


def _passphrase_sources(
    discovery: ConfigDiscovery, jobs: tuple[ScheduledJob, ...]
) -> dict[str, str]:
    """Each config's passphrase source; one that names none takes BORG_PASSPHRASE or
    BORG_PASSCOMMAND from the environment of a job that runs it (never the value)."""
    sources = {}
    for config in discovery.configs:
        described = str(config.options.passphrase)
        if config.options.passphrase.source == "none":
            for job in jobs:
                runs = [
                    invocation
                    for invocation in job.invocations
                    if invocation.program == "borgmatic"
                    and config in _configs_of(invocation, job, discovery)[0]
                ]
                names = {name for run in runs for name in run.environment.names}
                variable = next((n for n in ENV_PASSPHRASES if n in names), None)
                if variable and not job.managed_by_borgkeep:
                    described = f"passphrase from ${variable} of {job.source}"
                    break
        sources[config.path] = described
    return sources


def _prunes_on_server(
    job: ScheduledJob,
    discovery: ConfigDiscovery,
    matches: tuple[RepositoryMatch, ...],
    server: ChosenServer,
    resolver: HostResolver,
) -> tuple[bool, str | None]:
    """Whether `job` can prune a repository on the server; a problem when it cannot be told."""
    on_server = {(m.config_path, m.location.raw, m.location.label) for m in matches if m.on_server}
    for invocation in job.invocations:
        if not invocation.removes_archives:
            continue
        if invocation.program == "borg":
            if invocation.repository is None:
                return True, f"{job.describe()}: its repository is not known"
            location = parse_repository(invocation.repository, home=discovery.login.home)
            match = resolve_location(job.source, location, None, server, discovery.login, resolver)
            if match.on_server:
                return True, None
            continue
        configs, unread = _configs_of(invocation, job, discovery)
        if unread:
            return True, f"{job.describe()}: runs {', '.join(unread)}, not read"
        if invocation.bare and configs and not any(c.options.default_actions for c in configs):
            continue
        for config in configs:
            if "prune" in config.options.skip_actions:
                continue
            for location in config.options.repositories:
                if invocation.repository not in (None, location.raw, location.label):
                    continue
                if (config.path, location.raw, location.label) in on_server:
                    return True, None
    return False, None


def summarize_client(
    client: str,
    discovery: ConfigDiscovery,
    jobs: Iterable[ScheduledJob],
    key_lines: KeyLineDiscovery,
    server: ChosenServer,
    resolver: HostResolver = no_ssh_config,
) -> TakeoverSummary:
    """One client's existing setup, from what discovery found on it and on the server."""
    matches = tuple(
        match_repository(config, location, server, discovery.login, resolver)
        for config in discovery.configs
        for location in config.options.repositories
    )
    problems = [str(error) for error in discovery.errors]
    pruning = []
    all_jobs = tuple(jobs)
    for job in all_jobs:
        if job.managed_by_borgkeep or job.active is False:
            continue
        prunes, problem = _prunes_on_server(job, discovery, matches, server, resolver)
        if prunes:
            pruning.append(job)
        if problem:
            problems.append(problem)
    lines = key_lines.for_client(client)
    for match in matches:
        if match.on_server and not any(
            line.used_by_sshd and line.reaches(match.server_path, server.home) for line in lines
        ):
            problems.append(
                f"no key line of {client} reaches {match.server_path} ({match.config_path})"
            )
    return TakeoverSummary(
        client=client,
        server_name=server.name,
        configs=discovery,
        repositories=matches,
        key_lines=lines,
        jobs=all_jobs,
        pruning_jobs=tuple(pruning),
        problems=tuple(problems),
        passphrase_sources=_passphrase_sources(discovery, all_jobs),
    )
