"""One lab host: what it is (name, role, login, borgmatic) and where it lives."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from wizard.lab.tools import (
    BORG_VERSIONS,
    BORGMATIC_VERSIONS,
    LabError,
    borg_for_version,
    borgmatic_for_version,
    login_path_for_version,
)

LOGINS = ("root", "user")
HOST_NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]*\Z")


@dataclass
class LabHost:
    """One lab host: an sshd on 127.0.0.1:port in its own mount namespace."""

    name: str
    role: str  # "server" | "client"
    login: str  # "root" | "user"
    login_user: str  # "root" or "bk-NAME"
    borgmatic_version: str  # "1.7" | "2"
    port: int
    pid: int
    root_dir: Path
    alias: str  # "lab-NAME"
    mount_namespace: str = ""  # e.g. "mnt:[4026532177]", to find the host's processes on stop
    borg_version: str = "1.2"  # "1.2": Debian's /usr/bin/borg; "1.4": a venv, /usr/bin/borg hidden

    @property
    def ssh(self) -> str:
        """The value for an inventory `ssh:` field, resolved through the lab's ssh_config."""
        return self.alias

    @property
    def home(self) -> str:
        """The login user's home inside the host."""
        return "/root" if self.login_user == "root" else f"/home/{self.login_user}"

    @property
    def borgmatic_path(self) -> str:
        """The absolute path of the borgmatic that this host's login PATH finds first."""
        return str(borgmatic_for_version(self.borgmatic_version))

    @property
    def login_path(self) -> str:
        """PATH for logins on this host (sshd `SetEnv`): `borgmatic` and `borg` are the
        configured ones."""
        return login_path_for_version(self.borgmatic_version, self.borg_version)

    @property
    def borg_path(self) -> str:
        """The only borg on this host (a 1.4 host has no /usr/bin/borg: cron cannot find it)."""
        return str(borg_for_version(self.borg_version))

    @property
    def source_directories(self) -> list[str]:
        """What the sample inventory backs up for this client."""
        if self.login == "root":
            return ["/srv/data"]
        return [f"{self.home}/data"]


def validate_host_spec(name: str, login: str, borgmatic: str, borg: str = "1.2") -> None:
    if not HOST_NAME_PATTERN.match(name):
        raise LabError(f"lab host name {name!r} must match [a-z0-9][a-z0-9._-]*")
    if login not in LOGINS:
        raise LabError(f"lab host {name}: login must be one of {LOGINS}, not {login!r}")
    if borgmatic not in BORGMATIC_VERSIONS:
        raise LabError(
            f"lab host {name}: borgmatic must be one of {BORGMATIC_VERSIONS}, not {borgmatic!r}"
        )
    if borg not in BORG_VERSIONS:
        raise LabError(f"lab host {name}: borg must be one of {BORG_VERSIONS}, not {borg!r}")
