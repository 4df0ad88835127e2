"""Write the Ansible peer's inventory (and the rendered guard.py) for a running lab.

`write_ansible_inventory(lab, inventory_path, out_dir)` writes `out_dir/hosts.yml`,
`out_dir/files/guard.py` and an empty `out_dir/secrets/` (Ansible's password lookup keeps
the passphrases and exported keys there, like Borgkeep's secrets store). Values that
Borgkeep derives (the client's staggered cron time, the forced command, the guard
program) come from the project's own functions, so that both tools aim at the same files;
the playbook itself (site.yml) is static.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from wizard.artefacts.authorized_keys import serve_command
from wizard.artefacts.borgmatic_client import archive_prefix
from wizard.artefacts.borgmatic_server import PRUNE_LOCK_WAIT_SECONDS
from wizard.artefacts.guard_program import render_guard_program
from wizard.inventory.parse import load_inventory
from wizard.inventory.settings import (
    client_backups_per_day,
    client_retention,
    client_schedule,
    client_stale_after,
)
from wizard.inventory.validation import quota_bytes
from wizard.lab import Lab
from wizard.pipeline.desired.server_prune import CLOCK_SKEW_SECONDS

BORG_HOME = "/home/borg"
STATE_DIR = f"{BORG_HOME}/.config/borgkeep"
REPO_ROOT = "/srv/backups"


def interpreter_of(script: str) -> str:
    """The interpreter in a script's `#!` line (the lab's /opt is shared with this machine):
    the Python that borgmatic runs on, which Borgkeep's facts also pick for the guard."""
    first = Path(script).read_text(errors="replace").splitlines()[0]
    return first.removeprefix("#!").split()[0]


def write_ansible_inventory(lab: Lab, inventory_path: Path, out_dir: Path) -> Path:
    """Write hosts.yml, files/guard.py and secrets/ under `out_dir`; return hosts.yml."""
    inventory = load_inventory(inventory_path)
    (out_dir / "files").mkdir(parents=True, exist_ok=True)
    (out_dir / "secrets").mkdir(mode=0o700, exist_ok=True)
    server = lab.server
    server_borg = server.borg_path
    clients: dict[str, dict] = {}
    guarded: dict[str, dict] = {}
    for client in inventory.clients:
        minute, hour, *_ = client_schedule(client).split()
        host = lab.hosts[client.name]
        clients[client.name] = {
            "ansible_host": host.alias,
            "backup_minute": minute,
            "backup_hour": hour,
            "source_directories": list(client.source_directories),
            "borg_path": host.borg_path,
            "borg_serve_command": serve_command(
                f"{REPO_ROOT}/{client.name}", server_borg, client.quota
            ),
        }
        guarded[client.name] = {
            "prefix": archive_prefix(client.name),
            "retention": client_retention(inventory, client),
            "max_new_per_day": client_backups_per_day(client),
            "stale_after": client_stale_after(inventory, client),
            "quota": quota_bytes(client.quota) if client.quota else 0,
            "prune_config": f"{STATE_DIR}/prune-{client.name}.yaml",
            "passphrase_file": f"{STATE_DIR}/{client.name}.passphrase",
        }
    guard_config = {
        "server": server.name,
        "borg": server_borg,
        "borgmatic": server.borgmatic_path,
        "state_dir": STATE_DIR,
        "repo_root": REPO_ROOT,
        "lock_wait": PRUNE_LOCK_WAIT_SECONDS,
        "clock_skew": CLOCK_SKEW_SECONDS,
        "clients": guarded,
    }
    guard_src = out_dir / "files" / "guard.py"
    guard_src.write_text(render_guard_program(guard_config))
    hosts = {
        "all": {
            "vars": {
                "ansible_ssh_common_args": f"-F {lab.ssh_config}",
                "ansible_python_interpreter": "/usr/bin/python3",
                "server_address_host": "127.0.0.1",
                "server_port": server.port,
                # Where the lab's sshd keeps the server's host key (/etc/ssh/... on a real
                # server); the playbook reads it from the server, as Borgkeep's verified
                # connection gives it the key.
                "server_host_key_pub": str(server.root_dir / "ssh_host_ed25519_key.pub"),
                "server_borg_path": server_borg,
                "guard_python": interpreter_of(server.borgmatic_path),
                "guard_src": str(guard_src),
                "secrets_dir": str(out_dir / "secrets"),
                "keep_daily": inventory.retention.get("keep_daily", 0),
                "keep_weekly": inventory.retention.get("keep_weekly", 0),
                "keep_monthly": inventory.retention.get("keep_monthly", 0),
            },
            "children": {
                "server": {"hosts": {server.name: {"ansible_host": server.alias}}},
                "clients": {"hosts": clients},
            },
        }
    }
    hosts_file = out_dir / "hosts.yml"
    hosts_file.write_text(yaml.safe_dump(hosts, sort_keys=False))
    return hosts_file
