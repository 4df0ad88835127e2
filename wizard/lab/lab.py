"""The local lab: real OpenSSH hosts on loopback for `borgkeep demo` and end-to-end tests.

Each lab host is one `sshd -D` started by `unshare --mount` in its own mount namespace,
with private bind mounts over /etc, /root, /home, /srv and /var/spool/cron. So a root
login, `useradd`, a crontab or a repository on one lab host changes that host's private
copy only, never this machine or another lab host, while the network (127.0.0.1) and
the installed programs (sshd, borg, borgmatic, crontab) are the real ones.

The operator side (key pair, OpenSSH client config, known_hosts) lives under
`base/operator/`; `Lab.env()` points the engine at it instead of `~/.ssh`. Every
process the lab starts is stopped by PID, and everything it writes is under `base`.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from wizard.inventory.model import dump_inventory_data, inventory_data
from wizard.lab.host import LabHost, validate_host_spec
from wizard.lab.host_tree import (
    account_of,
    generate_key,
    prepare_host_tree,
    prepare_template,
    uids_in,
)
from wizard.lab.persist import save_description, ssh_config_text
from wizard.lab.processes import (
    STOP_GRACE_SECONDS,
    free_ports,
    own_mount_namespace,
    remove_tree,
    start_sshd,
    stop_processes_in_namespaces,
)
from wizard.lab.tools import (
    BORGMATIC2_VENV,
    CRON_PATH,
    LabError,
    ensure_borgmatic2_venv,
)

__all__ = ["BORGMATIC2_VENV", "Lab", "LabError", "LabHost"]

SERVER_NAME = "nas"
FIRST_LAB_UID = 2100


class Lab:
    """A running lab: its hosts, the operator's ssh files, and helpers to look inside hosts."""

    def __init__(self, base: Path, keep: bool = False) -> None:
        self.base = base
        self.keep = keep
        self.operator_dir = base / "operator"
        self.ssh_config = self.operator_dir / "ssh_config"
        self.known_hosts = self.operator_dir / "known_hosts"
        self.operator_key = self.operator_dir / "id_ed25519"
        self.hosts: dict[str, LabHost] = {}
        self._template_dir = base / "template"
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._next_uid = FIRST_LAB_UID
        self._taken_uids: set[int] = set()
        self._lock = threading.RLock()
        self._stopped = False
        atexit.register(self.stop)

    # ----------------------------------------------------------------- public API

    @property
    def server(self) -> LabHost:
        """The backup server host."""
        return self.hosts[SERVER_NAME]

    @property
    def clients(self) -> list[LabHost]:
        """The client hosts, in the order they were added."""
        return [host for host in self.hosts.values() if host.role == "client"]

    def add_client(
        self, name: str, login: str = "root", borgmatic: str = "1.7", borg: str = "1.2"
    ) -> LabHost:
        """Start one more client host and add it to ssh_config and known_hosts."""
        validate_host_spec(name, login, borgmatic, borg)
        with self._lock:
            self._require_running()
            if name in self.hosts:
                raise LabError(f"lab host {name!r} already exists")
            if borgmatic == "2":
                ensure_borgmatic2_venv()
            self._start_hosts([(name, "client", login, borgmatic, borg)])
            return self.hosts[name]

    def env(self) -> dict[str, str]:
        """Environment that points the engine at the lab's ssh config and known_hosts."""
        return {
            "BORGKEEP_SSH_CONFIG": str(self.ssh_config),
            "BORGKEEP_KNOWN_HOSTS": str(self.known_hosts),
        }

    def ssh_argv(self, host: str, *command: str) -> list[str]:
        """An OpenSSH client command line that logs into `host` as the operator would."""
        return [
            "ssh",
            "-F",
            str(self.ssh_config),
            "-o",
            f"UserKnownHostsFile={self.known_hosts}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            self.hosts[host].alias,
            *command,
        ]

    def host_key_line(self, host: str) -> str:
        """The known_hosts line for `host`: `[127.0.0.1]:PORT ssh-ed25519 AAAA...`."""
        lab_host = self.hosts[host]
        public_key = (lab_host.root_dir / "ssh_host_ed25519_key.pub").read_text().split()
        return f"[127.0.0.1]:{lab_host.port} {public_key[0]} {public_key[1]}"

    def forget_host_keys(self) -> None:
        """Empty the operator's known_hosts, so the next connection is a first contact."""
        self.known_hosts.write_text("")

    def run(
        self,
        host: str,
        cmd: str | list[str],
        user: str | None = None,
        input: bytes | str | None = None,
        env: Mapping[str, str] | None = None,
        check: bool = False,
        timeout: float = 120.0,
    ) -> subprocess.CompletedProcess[bytes]:
        """Run `cmd` (argv, or a string for `sh -c`) inside `host`'s mount namespace.

        As root unless `user` names an account of that host (it may exist only in the
        host's own /etc). The environment is a login's (HOME, USER, LOGNAME, SHELL, the
        host's PATH) unless `env` gives the whole environment. The command starts in
        the user's home.
        """
        lab_host = self._running_host(host)
        run_as = user or "root"
        account = account_of(lab_host, run_as)
        if env is None:
            env = {
                "HOME": account.home,
                "USER": run_as,
                "LOGNAME": run_as,
                "SHELL": account.shell,
                "PATH": lab_host.login_path,
                "LANG": "C.UTF-8",
            }
        argv = ["sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        wrapper = ["nsenter", "-t", str(lab_host.pid), "-m", "--"]
        if account.uid != 0:
            wrapper += [
                "setpriv",
                f"--reuid={account.uid}",
                f"--regid={account.gid}",
                "--init-groups",
                "--",
            ]
        wrapper += ["env", "-i", *(f"{key}={value}" for key, value in env.items())]
        wrapper += ["sh", "-c", 'cd "${HOME:-/}" 2>/dev/null || cd /; exec "$@"', "sh", *argv]
        data = input.encode() if isinstance(input, str) else input
        return subprocess.run(
            wrapper,
            input=data,
            capture_output=True,
            check=check,
            timeout=timeout,
            cwd="/",
            stdin=None if data is not None else subprocess.DEVNULL,
        )

    def run_as_cron(
        self, host: str, command: str, user: str | None = None, timeout: float = 600.0
    ) -> subprocess.CompletedProcess[bytes]:
        """Run a crontab command line the way cron would: bare environment, `sh -c`."""
        lab_host = self._running_host(host)
        run_as = user or "root"
        account = account_of(lab_host, run_as)
        cron_env = {"HOME": account.home, "LOGNAME": run_as, "PATH": CRON_PATH, "SHELL": "/bin/sh"}
        return self.run(host, command, user=user, env=cron_env, timeout=timeout)

    def read_file(self, host: str, path: str) -> bytes | None:
        """The bytes of `path` as seen inside `host`, or None if it does not exist."""
        result = self.run(
            host, ["sh", "-c", '[ -e "$1" ] || exit 66; exec cat -- "$1"', "sh", path]
        )
        if result.returncode == 66:
            return None
        if result.returncode != 0:
            raise LabError(f"cannot read {path} on lab host {host}: {result.stderr.decode()}")
        return result.stdout

    def write_file(
        self, host: str, path: str, data: bytes | str, mode: int = 0o644, user: str | None = None
    ) -> None:
        """Write `path` inside `host` (as `user`), e.g. to plant a file a test expects."""
        script = 'umask 077; cat > "$1" && chmod "$2" "$1"'
        self.run(
            host, ["sh", "-c", script, "sh", path, f"{mode:o}"], user=user, input=data, check=True
        )

    def inventory_yaml(
        self, clients: list[str] | None = None, repo_root: str = "/srv/backups"
    ) -> str:
        """An inventory (version 1) for the lab's server and `clients` (default: all)."""
        names = [host.name for host in self.clients] if clients is None else clients
        for name in names:
            if name not in self.hosts or self.hosts[name].role != "client":
                raise LabError(f"{name!r} is not a client of this lab")
        server = {
            "name": self.server.name,
            "ssh": self.server.ssh,
            "address": f"127.0.0.1:{self.server.port}",
            "repo_root": repo_root,
        }
        clients = [
            {
                "name": name,
                "ssh": self.hosts[name].ssh,
                "source_directories": self.hosts[name].source_directories,
            }
            for name in names
        ]
        retention = {"keep_daily": 7, "keep_weekly": 4, "keep_monthly": 6}
        return dump_inventory_data(inventory_data(server, retention, clients))

    def stop(self) -> None:
        """Stop every process of the lab (by PID), then remove `base` unless kept. Idempotent."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            for process in self._processes.values():
                if process.poll() is None:
                    process.terminate()
            for process in self._processes.values():
                try:
                    process.wait(timeout=STOP_GRACE_SECONDS)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            namespaces = {host.mount_namespace for host in self.hosts.values()}
            stop_processes_in_namespaces(namespaces - {"", own_mount_namespace()})
            if not self.keep:
                remove_tree(self.base)
            atexit.unregister(self.stop)

    def detach(self) -> None:
        """Leave the lab running after this process ends (`demo --keep`): its sshds run on,
        recorded in lab.json, until `borgkeep demo --stop BASE`."""
        with self._lock:
            self._require_running()
            self.save_description()
            self._stopped = True
            atexit.unregister(self.stop)

    @property
    def stopped(self) -> bool:
        """True once stop() has run."""
        return self._stopped

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ internals

    def _require_running(self) -> None:
        if self._stopped:
            raise LabError(f"the lab at {self.base} has been stopped")

    def _running_host(self, host: str) -> LabHost:
        self._require_running()
        if host not in self.hosts:
            raise LabError(f"no lab host {host!r} (have: {', '.join(self.hosts)})")
        return self.hosts[host]

    def _prepare_shared_files(self) -> None:
        """Operator key pair and the /etc and cron spool template every host copies."""
        os.chmod(self.base, 0o755)
        self.operator_dir.mkdir(mode=0o700, exist_ok=True)
        generate_key(self.operator_key, comment="borgkeep-lab-operator")
        self.known_hosts.write_text("")
        prepare_template(self._template_dir)
        self._taken_uids = uids_in(self._template_dir / "etc" / "passwd")

    def _allocate_uid(self) -> int:
        while self._next_uid in self._taken_uids:
            self._next_uid += 1
        uid = self._next_uid
        self._next_uid += 1
        return uid

    def _start_hosts(self, specs: list[tuple[str, str, str, str, str]]) -> None:
        """Prepare the hosts' trees in parallel, start their sshds, and wait for all banners.
        `specs`: (name, role, login, borgmatic, borg)."""
        uids = {spec[0]: self._allocate_uid() for spec in specs if spec[2] == "user"}
        new_hosts = [
            LabHost(
                name=name,
                role=role,
                login=login,
                login_user=f"bk-{name}" if login == "user" else "root",
                borgmatic_version=borgmatic,
                port=0,
                pid=0,
                root_dir=self.base / "hosts" / name,
                alias=f"lab-{name}",
                borg_version=borg,
            )
            for name, role, login, borgmatic, borg in specs
        ]
        (self.base / "hosts").mkdir(exist_ok=True)
        operator_public_key = (self.operator_dir / "id_ed25519.pub").read_bytes()

        def prepare(host: LabHost) -> None:
            prepare_host_tree(host, self._template_dir, operator_public_key, uids.get(host.name))

        def start(host: LabHost) -> None:
            start_sshd(host, lambda process: self._processes.__setitem__(host.name, process))

        with ThreadPoolExecutor(max_workers=min(16, len(new_hosts))) as pool:
            list(pool.map(prepare, new_hosts))
            ports = free_ports(len(new_hosts))
            for host, port in zip(new_hosts, ports, strict=True):
                host.port = port
                self.hosts[host.name] = host
            try:
                list(pool.map(start, new_hosts))
            except BaseException:
                self._abandon(new_hosts)
                raise
        self._write_ssh_config()
        with self.known_hosts.open("a") as known_hosts:
            for host in new_hosts:
                known_hosts.write(self.host_key_line(host.name) + "\n")
        self.save_description()

    def _abandon(self, hosts: list[LabHost]) -> None:
        """Stop and forget hosts whose start failed, so the lab stays usable without them."""
        for host in hosts:
            process = self._processes.pop(host.name, None)
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
            if host.mount_namespace:
                stop_processes_in_namespaces({host.mount_namespace})
            self.hosts.pop(host.name, None)

    def _write_ssh_config(self) -> None:
        self.ssh_config.write_text(
            ssh_config_text(self.hosts.values(), self.operator_key, self.known_hosts)
        )

    def _write_known_hosts(self) -> None:
        self.known_hosts.write_text("".join(self.host_key_line(n) + "\n" for n in self.hosts))

    def save_description(self) -> None:
        """Record the lab in `base/lab.json`, for `borgkeep demo --resume` and `--stop`."""
        save_description(self.base, self.hosts.values(), self._next_uid)
