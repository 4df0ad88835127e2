"""Starting a lab: a server `nas` and its clients, each one real sshd on 127.0.0.1."""

from __future__ import annotations

import tempfile
from pathlib import Path

from wizard.lab.host import validate_host_spec
from wizard.lab.lab import SERVER_NAME, Lab
from wizard.lab.tools import (
    LabError,
    borg_for_version,
    check_lab_prerequisites,
    ensure_borgmatic2_venv,
)

HostSpec = tuple[str, ...]
"""(name, login, borgmatic) or (name, login, borgmatic, borg): login "root" or "user",
borgmatic "1.7" (Debian's) or "2" (PyPI's), borg "1.2" (Debian's, the default) or "1.4"."""
DEFAULT_CLIENTS: list[HostSpec] = [("client1", "root", "1.7"), ("client2", "user", "2")]


def _full(spec: HostSpec) -> tuple[str, str, str, str]:
    if len(spec) not in (3, 4):
        raise LabError(f"a lab host is (name, login, borgmatic[, borg]), not {spec!r}")
    name, login, borgmatic, *rest = spec
    return name, login, borgmatic, rest[0] if rest else "1.2"


def start_lab(
    base: Path | None = None,
    clients: list[HostSpec] | None = None,
    keep: bool = False,
    server_borgmatic: str = "2",
    server_login: str = "root",
    server_borg: str = "1.2",
) -> Lab:
    """Start a server `nas` and `clients`.

    The server logs in as root, or with `server_login="user"` as `bk-nas`, which has
    passwordless sudo (to exercise borgkeep's `sudo -n` path). A host on Borg 1.4 has the
    venv's borg first in its login PATH and no /usr/bin/borg at all.

    The default clients are client1 (root, borgmatic 1.7) and client2 (user, borgmatic 2).
    `base` defaults to a new directory under /var/tmp; it is removed on stop unless
    `keep`. The lab is stopped at interpreter exit too.
    """
    check_lab_prerequisites()
    wanted = [_full(spec) for spec in (DEFAULT_CLIENTS if clients is None else clients)]
    server = (SERVER_NAME, server_login, server_borgmatic, server_borg)
    for spec in [server, *wanted]:
        validate_host_spec(*spec)
    names = [SERVER_NAME, *(spec[0] for spec in wanted)]
    if len(set(names)) != len(names):
        raise LabError(f"lab host names must be unique (the server is {SERVER_NAME!r}): {names}")
    if "2" in {server_borgmatic, *(spec[2] for spec in wanted)}:
        ensure_borgmatic2_venv()
    for borg in {server_borg, *(spec[3] for spec in wanted)}:
        borg_for_version(borg)

    if base is None:
        base = Path(tempfile.mkdtemp(prefix="borgkeep-lab-", dir="/var/tmp"))
    else:
        base.mkdir(parents=True, exist_ok=True)
    lab = Lab(base, keep=keep)
    try:
        lab._prepare_shared_files()
        specs = [(SERVER_NAME, "server", server_login, server_borgmatic, server_borg)]
        specs += [
            (name, "client", login, borgmatic, borg) for name, login, borgmatic, borg in wanted
        ]
        lab._start_hosts(specs)
    except BaseException:
        lab.stop()
        raise
    return lab
