"""The one ssh command a client uses to reach the server: its own key, the pinned host key.

Borgmatic's `ssh_command`, the `BORG_RSH` of the remote scripts and verify's shell probe
all take it from here, so what is proven is exactly what the backups run.
"""

from __future__ import annotations

import shlex

from wizard.checks.fields import check_absolute_path


def client_ssh_argv(ssh_key_file: str, known_hosts_file: str) -> list[str]:
    """`ssh` with only the client's Borgkeep key and only the pinned server key, no prompts."""
    key = check_absolute_path("ssh_key_file", ssh_key_file)
    known_hosts = check_absolute_path("known_hosts_file", known_hosts_file)
    return [
        "ssh",
        "-i",
        key,
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        f"UserKnownHostsFile={known_hosts}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
    ]


def client_ssh_command(ssh_key_file: str, known_hosts_file: str) -> str:
    """The same command as one shell-quoted string (borgmatic's `ssh_command`, `BORG_RSH`)."""
    return shlex.join(client_ssh_argv(ssh_key_file, known_hosts_file))
