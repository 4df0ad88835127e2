"""Bringing a kept lab back (`borgkeep demo --resume BASE`) and stopping it (`--stop BASE`).

A kept lab's hosts are their trees under `BASE/hosts/` (repositories, crontabs, keys, the
accounts in their own /etc) plus `BASE/lab.json`. Resuming adopts every sshd that still
runs and restarts the others from their trees, on their recorded ports when those are
free and on new ones otherwise; the operator's ssh_config and known_hosts follow.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from wizard.lab.host_tree import uids_in
from wizard.lab.lab import Lab
from wizard.lab.persist import load_description, save_description, sshd_running
from wizard.lab.processes import start_sshd
from wizard.lab.tools import check_lab_prerequisites, ensure_borgmatic2_venv

BORG_LOCATION_FILES = (
    "root/.config/borg/security/*/location",
    "home/*/.config/borg/security/*/location",
    "root/.cache/borg/*/config",
    "home/*/.cache/borg/*/config",
)


def resume_lab(base: Path) -> tuple[Lab, dict[str, tuple[int, int]]]:
    """The kept lab at `base`, running again; and {host: (old port, new port)} for every
    host that had to move to a new port."""
    check_lab_prerequisites()
    hosts, next_uid = load_description(base)
    if any(host.borgmatic_version == "2" for host in hosts):
        ensure_borgmatic2_venv()
    lab = Lab(base, keep=True)
    lab._next_uid = max(next_uid, lab._next_uid)
    lab._taken_uids = uids_in(lab._template_dir / "etc" / "passwd")
    old_ports = {host.name: host.port for host in hosts}
    for host in hosts:
        lab.hosts[host.name] = host
    stopped = [host for host in hosts if not sshd_running(host)]

    def start(host) -> None:
        host.mount_namespace = ""
        start_sshd(host, lambda process: lab._processes.__setitem__(host.name, process))

    try:
        with ThreadPoolExecutor(max_workers=max(1, min(16, len(stopped)))) as pool:
            list(pool.map(start, stopped))
        lab._write_ssh_config()
        lab._write_known_hosts()
        lab.save_description()
    except BaseException:
        lab.stop()
        raise
    moved = {
        host.name: (old_ports[host.name], host.port)
        for host in hosts
        if host.port != old_ports[host.name]
    }
    return lab, moved


def hosts_outside_the_fleet(hosts, clients: list[dict], ssh_config: Path) -> list[str]:
    """The names of the lab hosts (`LabHost`s) that no inventory entry of `clients` reaches,
    neither by name nor by login: the wizard names a ticked alias `lab-client3` where the
    lab says `client3`, and both are one host, which must never be added twice."""
    from wizard.inventory.validation import login_of

    names = {client.get("name") for client in clients}
    logins = {login_of(str(client.get("ssh")), ssh_config) for client in clients} - {None}
    return [
        host.name
        for host in hosts
        if host.name not in names and login_of(host.ssh, ssh_config) not in logins
    ]


def stop_kept_lab(base: Path) -> int:
    """Stop the sshds of the kept lab at `base` (its files stay); returns how many ran."""
    hosts, next_uid = load_description(base)
    lab = Lab(base, keep=True)
    running = [host for host in hosts if sshd_running(host)]
    for host in running:
        lab.hosts[host.name] = host
    lab.stop()
    for host in hosts:
        host.pid, host.mount_namespace = 0, ""
    save_description(base, hosts, next_uid)
    return len(running)


def relocate_repositories(lab: Lab, old_port: int, new_port: int) -> list[Path]:
    """The server moved from 127.0.0.1:old_port to new_port: tell each client's Borg, as an
    operator answering "yes" to Borg's relocated-repository question would, by updating the
    location it recorded for its repository (security dir and cache). Returns the files."""
    old, new = f"@127.0.0.1:{old_port}/", f"@127.0.0.1:{new_port}/"
    changed = []
    for host in lab.clients:
        for pattern in BORG_LOCATION_FILES:
            for path in host.root_dir.glob(pattern):
                with contextlib.suppress(OSError, UnicodeDecodeError):
                    text = path.read_text()
                    if old in text:
                        with path.open("r+") as handle:  # keeps owner and mode
                            handle.write(text.replace(old, new))
                            handle.truncate()
                        changed.append(path)
    return changed
