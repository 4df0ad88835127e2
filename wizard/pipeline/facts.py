"""What a host looks like right now: the read-only input of the planner.

Gathering these over SSH lives in `wizard.pipeline.gather`; tests build them by hand.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from wizard.artefacts.layout import ClientPaths, ServerPaths, client_paths, server_paths
from wizard.inventory.settings import ServerSettings, default_borg_home
from wizard.remote.scripts import LINK_REFUSAL

LINK = "symlink"


@dataclass(frozen=True)
class FileState:
    """One managed path on a host: absent, or its exact bytes with mode and owner. `kind` is
    what gather found there without following links (`file`, `symlink`, `dir`, `other`;
    None when absent or built by hand); only a readable regular file has `content`. A
    secret that must never leave its host (a private key) is read as its hash only:
    `digest`, with `content` None."""

    path: str
    content: bytes | None = None
    mode: int | None = None
    owner: str | None = None
    group: str | None = None
    kind: str | None = None
    digest: str | None = None
    mtime: int | None = None
    """Seconds since the epoch, as `stat` saw it (a rewritten repository key's time)."""

    @property
    def exists(self) -> bool:
        return self.content is not None or self.digest is not None

    @property
    def sha256(self) -> str | None:
        if self.content is None:
            return self.digest
        return hashlib.sha256(self.content).hexdigest()

    @property
    def text(self) -> str | None:
        return None if self.content is None else self.content.decode("utf-8", "surrogateescape")


@dataclass(frozen=True)
class DirState:
    """A directory Borgkeep manages or relies on; `kind` as in `FileState` (a symbolic link
    to a directory is `symlink` and does not `exist` as a directory)."""

    path: str
    exists: bool = False
    mode: int | None = None
    owner: str | None = None
    group: str | None = None
    kind: str | None = None


@dataclass(frozen=True)
class PathProblem:
    """A path Borgkeep would have to write through or over, found by gather: the plan refuses
    while any remains (see `wizard.pipeline.plan.refuse_unsafe_paths`)."""

    path: str
    what: str

    def message(self, host: str) -> str:
        return f"{host}: {self.path} {self.what}"


def link_problem(path: str) -> PathProblem:
    """The same words the write scripts use when they meet a link at apply time."""
    return PathProblem(path, LINK_REFUSAL)


def not_a_file_problem(path: str) -> PathProblem:
    return PathProblem(
        path, "is not a regular file; Borgkeep expects one there — remove it and run again"
    )


def not_a_directory_problem(path: str) -> PathProblem:
    return PathProblem(
        path, "is not a directory; Borgkeep expects one there — remove it and run again"
    )


def unreadable_problem(path: str, user: str) -> PathProblem:
    return PathProblem(
        path,
        f"cannot be read by {user}, who reads and writes it for Borgkeep — "
        f"give it to {user} (chown) and run again",
    )


@dataclass(frozen=True)
class UserInfo:
    name: str
    uid: int
    gid: int
    home: str


@dataclass(frozen=True)
class HostFacts:
    """Everything the planner needs to know about one host, gathered read-only."""

    host: str
    login_user: str
    uid: int
    home: str
    os: str = ""
    borg_version: str | None = None
    borg_path: str | None = None
    borgmatic_version: str | None = None
    borgmatic_path: str | None = None
    python_path: str | None = None
    tool_identities: dict[str, str] = field(default_factory=dict)
    tool_runs: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Per tool: the file that runs (links resolved) and its `#!` line ("" if none)."""
    """What borg's and borgmatic's files are (see `wizard.pipeline.tool_versions`)."""
    cron_borg_path: str | None = None
    """The borg cron's PATH (/usr/bin:/bin) would find, if any."""
    """The Python borgmatic runs on: the one server-side programs run with."""
    sudo: bool = False
    users: dict[str, UserInfo] = field(default_factory=dict)
    files: dict[str, FileState] = field(default_factory=dict)
    dirs: dict[str, DirState] = field(default_factory=dict)
    crontabs: dict[str, str | None] = field(default_factory=dict)
    host_key: str | None = None
    client_public_key: str | None = None
    initialised_repos: frozenset[str] = frozenset()
    existing: frozenset[str] = frozenset()
    """Paths known to exist whose content was not read (e.g. the guard's state)."""
    free_space: dict[str, int] = field(default_factory=dict)
    problems: tuple[PathProblem, ...] = ()
    existing_setup_files: dict[str, bytes] = field(default_factory=dict)
    """A client's borgmatic configs, cron files and units, as read for the discovery of an
    existing Borg setup (`wizard.pipeline.existing_reads`); never written by Borgkeep."""
    existing_setup_listings: dict[str, tuple[str, ...]] = field(default_factory=dict)
    existing_setup_missing: dict[str, str] = field(default_factory=dict)
    """Path -> `absent`, `unreadable` or `link` (not followed)."""

    @property
    def is_root(self) -> bool:
        return self.uid == 0

    def file(self, path: str) -> FileState:
        return self.files.get(path) or FileState(path)

    def directory(self, path: str) -> DirState:
        return self.dirs.get(path) or DirState(path)

    def home_of(self, user: str) -> str:
        """A user's home on this host: from its passwd entry, the login's own, or the home
        `useradd --create-home` will give an account that does not exist yet."""
        if user in self.users:
            return self.users[user].home
        if user == self.login_user:
            return self.home
        return default_borg_home(user)


def server_layout(facts: HostFacts, settings: ServerSettings) -> ServerPaths:
    """Where the borg user's files and the repositories are on this server."""
    home = facts.home_of(settings.borg_user)
    return server_paths(home, settings.repo_root(home), settings.placed_repositories)


def client_layout(facts: HostFacts, client_name: str) -> ClientPaths:
    """Where a client's files are: system locations for root, the login's home otherwise."""
    return client_paths(client_name, facts.home, facts.is_root)


CRON_PATH = "/usr/bin:/bin"


def borg_path_notes(facts: HostFacts) -> list[str]:
    """What the operator should know when cron's short PATH would not run the borg the
    login finds (Borgkeep's jobs name it by absolute path, so they still do)."""
    if not facts.borg_path or facts.cron_borg_path == facts.borg_path:
        return []
    found = f"finds {facts.cron_borg_path}" if facts.cron_borg_path else "finds no borg"
    return [
        f"{facts.host}: cron's PATH ({CRON_PATH}) {found}, the login finds {facts.borg_path}: "
        f"every job and forced command Borgkeep installs runs {facts.borg_path} by its path"
    ]
