"""A lab that outlives its process: its description in `BASE/lab.json`, the operator's ssh
files written from it, and whether a recorded host's sshd still runs.

`borgkeep demo --keep` leaves the lab's sshds running and records them here; `--resume`
reads it back (restarting whatever stopped, on new ports if the old ones are taken) and
`--stop` stops them. Nothing here trusts a recorded PID on its own: a process counts as
the lab's only while it still runs that host's own sshd config in its recorded mount
namespace.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from wizard.lab.host import LabHost, validate_host_spec
from wizard.lab.tools import LabError

LAB_FILE = "lab.json"
LAB_FILE_VERSION = 1
HOST_FIELDS = ("name", "role", "login", "login_user", "borgmatic_version", "port", "pid", "alias")


def save_description(base: Path, hosts: Iterable[LabHost], next_uid: int) -> None:
    """Write `base/lab.json` atomically: every host, its port, sshd PID and namespace."""
    data = {
        "borgkeep_lab": LAB_FILE_VERSION,
        "next_uid": next_uid,
        "hosts": [
            {
                **{key: getattr(host, key) for key in HOST_FIELDS},
                "mount_namespace": host.mount_namespace,
                "borg_version": host.borg_version,
            }
            for host in hosts
        ],
    }
    path = base / LAB_FILE
    tmp = path.with_name(f".{LAB_FILE}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)


def load_description(base: Path) -> tuple[list[LabHost], int]:
    """The hosts recorded in `base/lab.json` (their PIDs as recorded: see `sshd_running`)."""
    path = base / LAB_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise LabError(
            f"{base} is not a kept lab (no {LAB_FILE}); start one with: borgkeep demo --keep"
        ) from None
    except (OSError, ValueError) as exc:
        raise LabError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict) or data.get("borgkeep_lab") != LAB_FILE_VERSION:
        raise LabError(f"{path} is not a borgkeep lab description (version {LAB_FILE_VERSION})")
    hosts = []
    for entry in data.get("hosts", []):
        try:
            host = LabHost(
                **{key: entry[key] for key in HOST_FIELDS},
                root_dir=base / "hosts" / entry["name"],
                mount_namespace=entry.get("mount_namespace", ""),
                borg_version=entry.get("borg_version", "1.2"),
            )
        except (KeyError, TypeError) as exc:
            raise LabError(f"{path}: a host entry is incomplete ({exc})") from None
        validate_host_spec(host.name, host.login, host.borgmatic_version, host.borg_version)
        if not host.root_dir.is_dir():
            raise LabError(f"{path}: the files of lab host {host.name} are gone ({host.root_dir})")
        hosts.append(host)
    if not any(host.role == "server" for host in hosts):
        raise LabError(f"{path} describes no server")
    return hosts, int(data.get("next_uid", 0))


def sshd_running(host: LabHost) -> bool:
    """Whether the recorded PID is still this host's sshd in its recorded namespace (a PID
    or namespace number reused by something else does not count)."""
    if host.pid <= 0 or not host.mount_namespace:
        return False
    try:
        namespace = os.readlink(f"/proc/{host.pid}/ns/mnt")
        cmdline = Path(f"/proc/{host.pid}/cmdline").read_bytes()
    except OSError:
        return False
    config = str(host.root_dir / "sshd_config").encode()
    return namespace == host.mount_namespace and config in cmdline


def ssh_config_text(hosts: Iterable[LabHost], identity: Path, known_hosts: Path) -> str:
    """The operator's OpenSSH client config: one `Host lab-NAME` block per host."""
    blocks = [
        "# Borgkeep lab: operator-side OpenSSH client config (generated)\n",
        *(
            f"Host {host.alias}\n"
            f"    HostName 127.0.0.1\n"
            f"    Port {host.port}\n"
            f"    User {host.login_user}\n"
            f"    IdentityFile {identity}\n"
            f"    IdentitiesOnly yes\n"
            f"    UserKnownHostsFile {known_hosts}\n"
            for host in hosts
        ),
    ]
    return "\n".join(blocks)
