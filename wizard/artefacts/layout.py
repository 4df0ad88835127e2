"""Where every managed artefact lives on a host, in one place.

Root logins use the system locations (`/etc/borgkeep`, `/root/.ssh`); non-root logins
the same files under that user's home, as DESIGN.md says. A client's borgmatic config lives
in Borgkeep's own directory, never in one borgmatic loads by default (`/etc/borgmatic.d`,
`~/.config/borgmatic.d`): a `borgmatic` run Borgkeep did not write must not run it.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

CLIENT_KEY_NAME = "borgkeep_ed25519"
PIN_FILE_NAME = "borgkeep_known_hosts"


@dataclass(frozen=True)
class ClientPaths:
    ssh_dir: str
    key: str
    public_key: str
    known_hosts: str
    config: str
    secrets_dir: str
    passphrase: str
    legacy_config: str
    """Where Borgkeep put the config before (in the default `borgmatic.d`, where any bare
    `borgmatic` run found it): moved from there on the next apply."""


def client_paths(client_name: str, home: str, is_root: bool) -> ClientPaths:
    ssh_dir = posixpath.join(home, ".ssh")
    if is_root:
        secrets_dir, default_configs = "/etc/borgkeep", "/etc/borgmatic.d"
    else:
        secrets_dir = posixpath.join(home, ".config", "borgkeep")
        default_configs = posixpath.join(home, ".config", "borgmatic.d")
    return ClientPaths(
        ssh_dir=ssh_dir,
        key=posixpath.join(ssh_dir, CLIENT_KEY_NAME),
        public_key=posixpath.join(ssh_dir, CLIENT_KEY_NAME + ".pub"),
        known_hosts=posixpath.join(ssh_dir, PIN_FILE_NAME),
        config=posixpath.join(secrets_dir, f"borgkeep-{client_name}.yaml"),
        secrets_dir=secrets_dir,
        passphrase=posixpath.join(secrets_dir, f"{client_name}.passphrase"),
        legacy_config=posixpath.join(default_configs, f"borgkeep-{client_name}.yaml"),
    )


@dataclass(frozen=True)
class ServerPaths:
    """The borg user's files. Prune configs live outside `borgmatic.d` on purpose: a bare
    `borgmatic` run by that user must not pick them up."""

    home: str
    ssh_dir: str
    authorized_keys: str
    state_dir: str
    repo_root: str
    placed: tuple[tuple[str, str], ...] = ()
    """(client, path) for each client whose inventory places its repository (`repository:`,
    e.g. one taken over where it lies); every other is at `{repo_root}/{client}`."""

    def repository(self, client_name: str) -> str:
        for name, path in self.placed:
            if name == client_name:
                return path
        return posixpath.join(self.repo_root, client_name)

    def is_placed(self, client_name: str) -> bool:
        """Whether the inventory places this client's repository elsewhere than the
        default `{repo_root}/{client}` (saying the default itself places nothing)."""
        return self.repository(client_name) != posixpath.join(self.repo_root, client_name)

    def prune_config(self, client_name: str) -> str:
        return posixpath.join(self.state_dir, f"prune-{client_name}.yaml")

    def passphrase(self, client_name: str) -> str:
        return posixpath.join(self.state_dir, f"{client_name}.passphrase")

    def repokey(self, client_name: str) -> str:
        """The server's copy of the repository key (`borg key export`): what apply puts
        back when a client rewrites the key through its own key (the guard reads it too)."""
        return posixpath.join(self.state_dir, f"{client_name}.repokey")

    def repository_nonce(self, client_name: str) -> str:
        """The repository's `nonce` reservation, which a client can set out of range."""
        return posixpath.join(self.repository(client_name), "nonce")

    def repository_config(self, client_name: str) -> str:
        """The repository's own `config`: its id, settings and (encrypted) key."""
        return posixpath.join(self.repository(client_name), "config")


def server_paths(
    borg_home: str, repo_root: str, placed: tuple[tuple[str, str], ...] = ()
) -> ServerPaths:
    ssh_dir = posixpath.join(borg_home, ".ssh")
    return ServerPaths(
        home=borg_home,
        ssh_dir=ssh_dir,
        authorized_keys=posixpath.join(ssh_dir, "authorized_keys"),
        state_dir=posixpath.join(borg_home, ".config", "borgkeep"),
        repo_root=repo_root,
        placed=placed,
    )
