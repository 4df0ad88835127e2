"""Who runs each step on a host, decided once from its facts (and, on the server, settings).

The rule: what lies in a tree an account controls (the borg user's home; a `repo_root` it
owns, or whose parent it owns) is read and written *by that account*, never by root on its
behalf, because that account can swap anything in it for a link. Root keeps only what
needs root: `useradd`, and creating (or giving away) a `repo_root` whose parent is not the
borg user's. Gather, the executor and verify all ask a `HostIdentity`; `RunAs` knows how
to switch accounts.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass

from wizard.inventory.settings import ServerSettings
from wizard.pipeline.facts import HostFacts, server_layout
from wizard.remote.identity import RUNUSER, SUDO, RunAs

ROOT_HOME = "/root"


def ancestors(path: str) -> list[str]:
    """`/a/b/c` -> `['/a/b', '/a', '/']`: every directory above `path`, nearest first."""
    found = []
    while path not in ("/", ""):
        path = posixpath.dirname(path)
        found.append(path)
    return found


def is_below(path: str, top: str) -> bool:
    """Strictly inside `top`."""
    return path != top and path.startswith(top.rstrip("/") + "/")


@dataclass(frozen=True)
class HostIdentity:
    """`login` is the SSH login; `admin` is root when a step needs root and the login can
    get it (root itself, or `sudo -n` for a login that manages another account), else the
    login; `accounts` are the accounts steps run as; `trees` map a directory to the account
    that controls everything below it."""

    host: str
    login: RunAs
    admin: RunAs
    accounts: Mapping[str, RunAs]
    trees: Mapping[str, str]

    def as_user(self, user: str) -> RunAs:
        """How to run as `user`: one of `accounts`, or root through `admin`."""
        if user in self.accounts:
            return self.accounts[user]
        if user == self.admin.user:
            return self.admin
        raise PermissionError(f"{self.host}: borgkeep cannot act as {user!r} from this login")

    def controller(self, path: str) -> str | None:
        """The account that controls `path`'s parent (so it can replace `path`), if any."""
        top = self._outermost_tree(path)
        return None if top is None else self.trees[top]

    def base(self, path: str) -> str:
        """The directory from which on every directory down to `path` must be a real one,
        never a link: the top of the tree `path` lies in, else `path`'s parent."""
        top = self._outermost_tree(path)
        return posixpath.dirname(path) if top is None else top

    def _outermost_tree(self, path: str) -> str | None:
        containing = [top for top in self.trees if is_below(path, top)]
        return min(containing, key=len) if containing else None


def _login(facts: HostFacts) -> RunAs:
    return RunAs(facts.login_user, facts.home)


def client_identity(facts: HostFacts) -> HostIdentity:
    """A client's files are its login's own: everything runs as the login."""
    login = _login(facts)
    return HostIdentity(facts.host, login, login, {login.user: login}, {facts.home: login.user})


def needs_sudo(facts: HostFacts, settings: ServerSettings) -> bool:
    """A non-root login that manages another account's files works through `sudo -n`."""
    return not facts.is_root and settings.borg_user != facts.login_user


def server_identity(facts: HostFacts, settings: ServerSettings) -> HostIdentity:
    """The server: the borg user's files as the borg user (`runuser` from root, `sudo -n -u`
    from a sudo login, directly when it is the login), root only through `admin`.

    `facts.dirs` may hold the ancestors of `repo_root` (gathered without following links):
    one the borg user owns makes `repo_root` part of the borg user's tree."""
    login = _login(facts)
    admin = RunAs("root", ROOT_HOME, SUDO) if needs_sudo(facts, settings) else login
    borg_user = settings.borg_user
    paths = server_layout(facts, settings)
    if borg_user == facts.login_user:
        borg = login
    else:
        borg = RunAs(borg_user, paths.home, RUNUSER if facts.is_root else SUDO)
    trees = {paths.home: borg_user, paths.repo_root: borg_user}
    for directory in ancestors(paths.repo_root):
        if facts.directory(directory).owner == borg_user:
            trees[directory] = borg_user
    accounts = {login.user: login, borg_user: borg}
    return HostIdentity(facts.host, login, admin, accounts, trees)
