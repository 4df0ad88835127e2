"""What gather read on one host, as one value: file texts, directory listings, absences.

Discovery works in rounds: it names what it still needs (`to_read`, `to_list`) instead of
reading it, gather reads that too, and discovery runs again on the larger value. So a path
is in one of five states, and "not read yet" is never confused with "not there".
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum


class PathState(Enum):
    FILE = "file"
    DIRECTORY = "directory"
    ABSENT = "absent"
    UNREADABLE = "unreadable"
    UNKNOWN = "unknown"
    """Gather has not looked yet: discovery asks for it."""


@dataclass(frozen=True)
class HostFiles:
    """`texts`: path -> file text; `listings`: directory -> names of the regular files in it;
    `absent` and `unreadable`: paths gather looked for and could not read."""

    texts: Mapping[str, str] = field(default_factory=dict)
    listings: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    absent: frozenset[str] = frozenset()
    unreadable: frozenset[str] = frozenset()

    def state(self, path: str) -> PathState:
        """How gather found `path` (an absolute, normalised path)."""
        if path in self.texts:
            return PathState.FILE
        if path in self.listings:
            return PathState.DIRECTORY
        if path in self.unreadable:
            return PathState.UNREADABLE
        if path in self.absent:
            return PathState.ABSENT
        return PathState.UNKNOWN


def expand_home(path: str, home: str, user: str | None = None) -> str:
    """`~` and `~/x` (and `~USER` for the login itself) as `os.path.expanduser` would for
    the login that runs borgmatic; other users' `~name` stay as written."""
    if path == "~" or path.startswith("~/"):
        return home + path[1:]
    if user and (path == f"~{user}" or path.startswith(f"~{user}/")):
        return home + path[len(user) + 1 :]
    return path


def absolute(path: str, cwd: str) -> str:
    """`os.path.abspath` against the remote working directory, not this process's."""
    return posixpath.normpath(posixpath.join(cwd, path))
