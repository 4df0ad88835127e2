"""Where a borgmatic repository lives, from what its config says, as borgmatic and borg read it.

borgmatic rewrites the scp-like `[user@]host:path` into `ssh://` (`host:/abs` ->
`ssh://host/abs`, `host:~/x` -> `ssh://host/~/x`, `host:rel` -> `ssh://host/./rel`) and
borg 1.x resolves `/~/x` and `/./x` in the home of the account it logs in as. So `path`
here is what `borg serve` on the server is asked for: absolute, or `~/...` for the
account's home (`~name/...` for another's).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SSH_URL_RE = re.compile(
    r"ssh://(?:(?P<user>[^@/]+)@)?(?P<host>\[[^\]]+\]|[^:/\[\]]+)(?::(?P<port>\d+))?(?P<path>/.*)\Z"
)
OTHER_SCHEMES = ("sftp://", "rclone:", "s3:", "b2:")


@dataclass(frozen=True)
class RepositoryLocation:
    """One repository of a config. `host` is None for a repository on the client itself."""

    raw: str
    label: str | None
    user: str | None
    host: str | None
    port: int | None
    path: str
    scheme: str
    """"ssh", "local", or the unsupported scheme ("sftp", "rclone", "s3", "b2")."""

    @property
    def is_remote(self) -> bool:
        return self.host is not None

    @property
    def display(self) -> str:
        """`[user@]host:path` (`ssh://...` when a port is given), or the local path."""
        if self.host is None:
            return self.path
        user = f"{self.user}@" if self.user else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.port:
            path = self.path if self.path.startswith("/") else "/" + self.path
            return f"ssh://{user}{host}:{self.port}{path}"
        return f"{user}{host}:{self.path}"

    def to_json(self) -> dict[str, object]:
        return {
            "raw": self.raw,
            "label": self.label,
            "user": self.user,
            "host": self.host,
            "port": self.port,
            "path": self.path,
            "scheme": self.scheme,
        }


def borgmatic_ssh_url(path: str) -> str:
    """borgmatic's own rewrite of a scp-like path (normalize.py, 1.7 and 2.x alike)."""
    if ":" not in path or path.startswith(("ssh://", "file://", *OTHER_SCHEMES)):
        return path
    return "ssh://" + path.replace(":~", "/~").replace(":/", "/").replace(":", "/./")


def _server_path(url_path: str) -> str:
    """borg 1.x: `/~/x` and `/./x` are relative to the login's home, `/~name/x` to name's."""
    if url_path.startswith("/./"):
        return "~/" + url_path[3:]
    if url_path.startswith("/~"):
        return url_path[1:]
    return url_path


def parse_repository(raw: str, label: str | None = None, *, home: str) -> RepositoryLocation:
    """Read one repository path of a config; `home` is the client login's, for a local `~`.

    Raises ValueError for an `ssh://` URL that borg would not accept either."""
    rewritten = borgmatic_ssh_url(raw.strip())
    if rewritten.startswith("ssh://"):
        match = SSH_URL_RE.match(rewritten)
        if match is None:
            raise ValueError(f"repository {raw!r} is not an ssh://[user@]host[:port]/path URL")
        host = match["host"].removeprefix("[").removesuffix("]")
        port = int(match["port"]) if match["port"] else None
        return RepositoryLocation(
            raw, label, match["user"], host, port, _server_path(match["path"]), "ssh"
        )
    for scheme in OTHER_SCHEMES:
        if rewritten.startswith(scheme):
            name = scheme.rstrip(":/")
            return RepositoryLocation(raw, label, None, None, None, rewritten, name)
    local = rewritten.removeprefix("file://")
    if local == "~" or local.startswith("~/"):
        local = home + local[1:]
    return RepositoryLocation(raw, label, None, None, None, local, "local")
