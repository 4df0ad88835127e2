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
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import yaml

BORGMATIC2_VENV = Path("/opt/borgkeep-lab/borgmatic2")
DEBIAN_BORGMATIC = Path("/usr/bin/borgmatic")
SSHD = Path("/usr/sbin/sshd")
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CRON_PATH = "/usr/bin:/bin"
SERVER_NAME = "nas"
DEFAULT_CLIENTS: list[tuple[str, str, str]] = [("client1", "root", "1.7"), ("client2", "user", "2")]
FIRST_LAB_UID = 2100
LOGINS = ("root", "user")
BORGMATIC_VERSIONS = ("1.7", "2")
HOST_NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]*\Z")

# mount point inside a lab host -> directory name under base/hosts/NAME/
PRIVATE_MOUNTS: dict[str, str] = {
    "/etc": "etc",
    "/root": "root",
    "/home": "home",
    "/srv": "srv",
    "/var/spool/cron": "spool-cron",
}

# program -> Debian package that provides it
REQUIRED_PROGRAMS: dict[str, str] = {
    str(SSHD): "openssh-server",
    "/usr/bin/ssh-keygen": "openssh-client",
    "/usr/bin/borg": "borgbackup",
    str(DEBIAN_BORGMATIC): "borgmatic",
    "crontab": "cron",
    "unshare": "util-linux",
    "nsenter": "util-linux",
    "setpriv": "util-linux",
}

SAMPLE_FILES: dict[str, bytes] = {
    "hello.txt": b"Hello from the Borgkeep lab.\n",
    "notes/todo.txt": b"- back up this file\n- then prune on the server only\n",
    "notes/numbers.csv": b"n,square\n" + b"".join(f"{n},{n * n}\n".encode() for n in range(1, 21)),
    "blob.bin": bytes(range(256)) * 16,
}

READY_TIMEOUT_SECONDS = 15.0
STOP_GRACE_SECONDS = 3.0
PORT_ATTEMPTS = 5


class LabError(RuntimeError):
    """The lab cannot be started or used; the message says why and what to do."""


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
        """PATH for logins on this host (sshd `SetEnv`), so `borgmatic` is the configured one."""
        return login_path_for_version(self.borgmatic_version)

    @property
    def source_directories(self) -> list[str]:
        """What the sample inventory backs up for this client."""
        if self.login == "root":
            return ["/srv/data"]
        return [f"{self.home}/data"]


def borgmatic_for_version(version: str) -> Path:
    """Where the lab finds borgmatic `version` ("1.7": Debian's, "2": the PyPI venv)."""
    if version == "1.7":
        return DEBIAN_BORGMATIC
    if version == "2":
        return BORGMATIC2_VENV / "bin" / "borgmatic"
    raise LabError(f"unknown borgmatic version {version!r}: use one of {BORGMATIC_VERSIONS}")


def login_path_for_version(version: str) -> str:
    """The login PATH that puts borgmatic `version` first."""
    if version == "2":
        return f"{BORGMATIC2_VENV / 'bin'}:{SYSTEM_PATH}"
    return SYSTEM_PATH


def ensure_borgmatic2_venv(path: Path = BORGMATIC2_VENV) -> Path:
    """Build the borgmatic 2.x venv if missing, and return its borgmatic.

    Built from /usr/bin/python3 so that non-root lab users can run it (a Python under
    /root would not be readable by them).
    """
    borgmatic = path / "bin" / "borgmatic"
    if borgmatic.exists():
        return borgmatic
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o755)
    old_umask = os.umask(0o022)
    try:
        _run_checked(["/usr/bin/python3", "-m", "venv", str(path)])
        _run_checked([str(path / "bin" / "pip"), "install", "--quiet", "borgmatic>=2,<3"])
    finally:
        os.umask(old_umask)
    if not borgmatic.exists():
        raise LabError(f"pip installed borgmatic 2 into {path} but {borgmatic} is missing")
    return borgmatic


def check_lab_prerequisites() -> None:
    """Refuse early, with what to do, when the lab cannot run on this machine."""
    if os.geteuid() != 0:
        raise LabError(
            "the local lab needs root: it starts one sshd per lab host in its own mount "
            "namespace (unshare --mount) with private bind mounts over /etc, /root, /home, "
            "/srv and /var/spool/cron, and logs in as root. Run it as root, e.g. in a "
            "throwaway VM or container: sudo borgkeep demo"
        )
    missing = sorted(
        {package for program, package in REQUIRED_PROGRAMS.items() if not _program_exists(program)}
    )
    if missing:
        raise LabError(
            "the local lab needs programs that are not installed. "
            f"Install them with: apt-get install {' '.join(missing)}"
        )


def start_lab(
    base: Path | None = None,
    clients: list[tuple[str, str, str]] | None = None,
    keep: bool = False,
    server_borgmatic: str = "2",
    server_login: str = "root",
) -> Lab:
    """Start a server `nas` and `clients` = [(name, login, borgmatic)].

    The server logs in as root, or with `server_login="user"` as `bk-nas`, which has
    passwordless sudo (to exercise borgkeep's `sudo -n` path).

    The default clients are client1 (root, borgmatic 1.7) and client2 (user, borgmatic 2).
    `base` defaults to a new directory under /var/tmp; it is removed on stop unless
    `keep`. The lab is stopped at interpreter exit too.
    """
    check_lab_prerequisites()
    wanted_clients = DEFAULT_CLIENTS if clients is None else clients
    for name, login, borgmatic in wanted_clients:
        _validate_host_spec(name, login, borgmatic)
    names = [SERVER_NAME, *(name for name, _, _ in wanted_clients)]
    if len(set(names)) != len(names):
        raise LabError(f"lab host names must be unique (the server is {SERVER_NAME!r}): {names}")
    if "2" in {server_borgmatic, *(borgmatic for _, _, borgmatic in wanted_clients)}:
        ensure_borgmatic2_venv()

    if base is None:
        base = Path(tempfile.mkdtemp(prefix="borgkeep-lab-", dir="/var/tmp"))
    else:
        base.mkdir(parents=True, exist_ok=True)
    lab = Lab(base, keep=keep)
    try:
        lab._prepare_shared_files()
        _validate_host_spec(SERVER_NAME, server_login, server_borgmatic)
        specs = [(SERVER_NAME, "server", server_login, server_borgmatic)]
        specs += [(name, "client", login, borgmatic) for name, login, borgmatic in wanted_clients]
        lab._start_hosts(specs)
    except BaseException:
        lab.stop()
        raise
    return lab


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

    def add_client(self, name: str, login: str = "root", borgmatic: str = "1.7") -> LabHost:
        """Start one more client host and add it to ssh_config and known_hosts."""
        _validate_host_spec(name, login, borgmatic)
        with self._lock:
            self._require_running()
            if name in self.hosts:
                raise LabError(f"lab host {name!r} already exists")
            if borgmatic == "2":
                ensure_borgmatic2_venv()
            self._start_hosts([(name, "client", login, borgmatic)])
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
        account = self._account(lab_host, run_as)
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
        account = self._account(lab_host, run_as)
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
        inventory = {
            "version": 1,
            "server": {
                "name": self.server.name,
                "ssh": self.server.ssh,
                "address": f"127.0.0.1:{self.server.port}",
                "repo_root": repo_root,
            },
            "retention": {"keep_daily": 7, "keep_weekly": 4, "keep_monthly": 6},
            "clients": [
                {
                    "name": name,
                    "ssh": self.hosts[name].ssh,
                    "source_directories": self.hosts[name].source_directories,
                }
                for name in names
            ],
        }
        return yaml.safe_dump(inventory, sort_keys=False, default_flow_style=None)

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
            _stop_processes_in_namespaces(namespaces - {"", _own_mount_namespace()})
            if not self.keep:
                _remove_tree(self.base)
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

    def _account(self, host: LabHost, user: str) -> _Account:
        """Look `user` up in the host's own /etc/passwd (the bind mount's source)."""
        for line in (host.root_dir / "etc" / "passwd").read_text().splitlines():
            fields = line.split(":")
            if len(fields) >= 7 and fields[0] == user:
                return _Account(int(fields[2]), int(fields[3]), fields[5], fields[6] or "/bin/sh")
        raise LabError(f"no user {user!r} on lab host {host.name}")

    def _prepare_shared_files(self) -> None:
        """Operator key pair and the /etc and cron spool template every host copies."""
        os.chmod(self.base, 0o755)
        self.operator_dir.mkdir(mode=0o700, exist_ok=True)
        _generate_key(self.operator_key, comment="borgkeep-lab-operator")
        self.known_hosts.write_text("")
        self._template_dir.mkdir(mode=0o700)
        _run_checked(["cp", "-a", "/etc", str(self._template_dir / "etc")])
        _run_checked(["cp", "-a", "/var/spool/cron", str(self._template_dir / "spool-cron")])
        self._taken_uids = _uids_in(self._template_dir / "etc" / "passwd")

    def _allocate_uid(self) -> int:
        while self._next_uid in self._taken_uids:
            self._next_uid += 1
        uid = self._next_uid
        self._next_uid += 1
        return uid

    def _start_hosts(self, specs: list[tuple[str, str, str, str]]) -> None:
        """Prepare the hosts' trees in parallel, start their sshds, and wait for all banners."""
        uids = {name: self._allocate_uid() for name, _, login, _ in specs if login == "user"}
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
            )
            for name, role, login, borgmatic in specs
        ]
        (self.base / "hosts").mkdir(exist_ok=True)
        with ThreadPoolExecutor(max_workers=min(16, len(new_hosts))) as pool:
            list(
                pool.map(lambda host: self._prepare_host_tree(host, uids.get(host.name)), new_hosts)
            )
            ports = _free_ports(len(new_hosts))
            for host, port in zip(new_hosts, ports, strict=True):
                host.port = port
                self.hosts[host.name] = host
            try:
                list(pool.map(self._start_sshd, new_hosts))
            except BaseException:
                self._abandon(new_hosts)
                raise
        self._write_ssh_config()
        with self.known_hosts.open("a") as known_hosts:
            for host in new_hosts:
                known_hosts.write(self.host_key_line(host.name) + "\n")

    def _abandon(self, hosts: list[LabHost]) -> None:
        """Stop and forget hosts whose start failed, so the lab stays usable without them."""
        for host in hosts:
            process = self._processes.pop(host.name, None)
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
            if host.mount_namespace:
                _stop_processes_in_namespaces({host.mount_namespace})
            self.hosts.pop(host.name, None)

    def _prepare_host_tree(self, host: LabHost, uid: int | None) -> None:
        """Everything a host's bind mounts show, plus its host key and accounts."""
        root_dir = host.root_dir
        root_dir.mkdir(mode=0o755)
        _run_checked(["cp", "-a", str(self._template_dir / "etc"), str(root_dir / "etc")])
        _run_checked(
            ["cp", "-a", str(self._template_dir / "spool-cron"), str(root_dir / "spool-cron")]
        )
        (root_dir / "root").mkdir(mode=0o700)
        (root_dir / "home").mkdir(mode=0o755)
        (root_dir / "srv").mkdir(mode=0o755)
        _generate_key(root_dir / "ssh_host_ed25519_key", comment=f"lab-{host.name}")
        operator_public_key = (self.operator_dir / "id_ed25519.pub").read_bytes()
        _copy_skeleton(root_dir / "etc" / "skel", root_dir / "root", 0, 0)
        if host.login == "root":
            _install_authorized_key(root_dir / "root", operator_public_key, 0, 0)
            owner = (0, 0)
        else:
            assert uid is not None
            _add_account(root_dir / "etc", host.login_user, uid, f"/home/{host.login_user}")
            home = root_dir / "home" / host.login_user
            home.mkdir(mode=0o750)
            os.chown(home, uid, uid)
            _copy_skeleton(root_dir / "etc" / "skel", home, uid, uid)
            _install_authorized_key(home, operator_public_key, uid, uid)
            _write_sample_data(home / "data", uid, uid)
            owner = (uid, uid)
        if host.role == "client":
            _write_sample_data(root_dir / "srv" / "data", *owner)
        elif host.login == "user":
            # A non-root server login with passwordless sudo, as on many real servers.
            sudoers = root_dir / "etc" / "sudoers.d" / "borgkeep-lab"
            sudoers.parent.mkdir(mode=0o750, exist_ok=True)
            sudoers.write_text(f"{host.login_user} ALL=(ALL:ALL) NOPASSWD: ALL\n")
            sudoers.chmod(0o440)

    def _sshd_config_text(self, host: LabHost) -> str:
        return "\n".join(
            [
                f"# Borgkeep lab host {host.name} (generated; removed when the lab stops)",
                f"ListenAddress 127.0.0.1:{host.port}",
                f"HostKey {host.root_dir / 'ssh_host_ed25519_key'}",
                "PidFile none",
                "UsePAM no",
                "StrictModes no",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PubkeyAuthentication yes",
                "PermitRootLogin prohibit-password",
                "AuthorizedKeysFile .ssh/authorized_keys",
                "MaxStartups 100:30:200",
                "UseDNS no",
                "PrintMotd no",
                "Subsystem sftp internal-sftp",
                f"SetEnv PATH={host.login_path}",
                "",
            ]
        )

    def _start_sshd(self, host: LabHost) -> None:
        """Start `host`'s sshd in a new mount namespace; retry on a port someone else took."""
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        config = host.root_dir / "sshd_config"
        log_path = host.root_dir / "sshd.log"
        mounts = " && ".join(
            f"mount --bind {host.root_dir / source} {target}"
            for target, source in PRIVATE_MOUNTS.items()
        )
        script = f"{mounts} && exec {SSHD} -D -e -f {config}"
        for _attempt in range(PORT_ATTEMPTS):
            config.write_text(self._sshd_config_text(host))
            with log_path.open("ab") as log:
                process = subprocess.Popen(
                    ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    cwd="/",
                    start_new_session=True,
                )
            self._processes[host.name] = process
            host.pid = process.pid
            if _wait_for_ssh_banner(host.port, process):
                host.mount_namespace = os.readlink(f"/proc/{process.pid}/ns/mnt")
                if host.mount_namespace == _own_mount_namespace():
                    raise LabError(f"lab host {host.name}'s sshd is not in its own mount namespace")
                return
            if process.poll() is None:
                process.kill()
            process.wait()
            log_text = log_path.read_text(errors="replace")
            if "Address already in use" not in log_text and "Cannot bind" not in log_text:
                raise LabError(
                    f"sshd for lab host {host.name} did not start (log {log_path}):\n{log_text}"
                )
            host.port = _free_ports(1)[0]
        raise LabError(f"no free port for lab host {host.name} after {PORT_ATTEMPTS} attempts")

    def _write_ssh_config(self) -> None:
        blocks = [
            "# Borgkeep lab: operator-side OpenSSH client config (generated)\n",
            *(
                f"Host {host.alias}\n"
                f"    HostName 127.0.0.1\n"
                f"    Port {host.port}\n"
                f"    User {host.login_user}\n"
                f"    IdentityFile {self.operator_key}\n"
                f"    IdentitiesOnly yes\n"
                f"    UserKnownHostsFile {self.known_hosts}\n"
                for host in self.hosts.values()
            ),
        ]
        self.ssh_config.write_text("\n".join(blocks))


@dataclass(frozen=True)
class _Account:
    uid: int
    gid: int
    home: str
    shell: str


def _validate_host_spec(name: str, login: str, borgmatic: str) -> None:
    if not HOST_NAME_PATTERN.match(name):
        raise LabError(f"lab host name {name!r} must match [a-z0-9][a-z0-9._-]*")
    if login not in LOGINS:
        raise LabError(f"lab host {name}: login must be one of {LOGINS}, not {login!r}")
    if borgmatic not in BORGMATIC_VERSIONS:
        raise LabError(
            f"lab host {name}: borgmatic must be one of {BORGMATIC_VERSIONS}, not {borgmatic!r}"
        )


def _program_exists(program: str) -> bool:
    if program.startswith("/"):
        return os.access(program, os.X_OK)
    return shutil.which(program) is not None


def _run_checked(argv: list[str]) -> None:
    result = subprocess.run(argv, capture_output=True, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        stderr = result.stderr.decode(errors="replace")
        raise LabError(f"{' '.join(argv)} failed ({result.returncode}): {stderr}")


def _generate_key(path: Path, comment: str) -> None:
    _run_checked(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])


def _own_mount_namespace() -> str:
    return os.readlink("/proc/self/ns/mnt")


def _uids_in(passwd: Path) -> set[int]:
    return {
        int(fields[2])
        for fields in (line.split(":") for line in passwd.read_text().splitlines())
        if len(fields) >= 3 and fields[2].isdigit()
    }


def _add_account(etc: Path, user: str, uid: int, home: str) -> None:
    """Add a login-able account to a host's /etc copy (shadow `*`: no password, keys work)."""
    days_since_epoch = int(time.time() // 86400)
    _append_line(etc / "passwd", f"{user}:x:{uid}:{uid}:Borgkeep lab user:{home}:/bin/bash")
    _append_line(etc / "group", f"{user}:x:{uid}:")
    _append_line(etc / "shadow", f"{user}:*:{days_since_epoch}:0:99999:7:::")
    if (etc / "gshadow").exists():
        _append_line(etc / "gshadow", f"{user}:!::")


def _append_line(path: Path, line: str) -> None:
    text = path.read_text()
    if text and not text.endswith("\n"):
        text += "\n"
    path.write_text(text + line + "\n")


def _copy_skeleton(skel: Path, home: Path, uid: int, gid: int) -> None:
    if not skel.is_dir():
        return
    for entry in skel.iterdir():
        if entry.is_file() and not entry.is_symlink():
            target = home / entry.name
            shutil.copy2(entry, target)
            os.chown(target, uid, gid)


def _install_authorized_key(home: Path, public_key: bytes, uid: int, gid: int) -> None:
    ssh_dir = home / ".ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    authorized_keys = ssh_dir / "authorized_keys"
    authorized_keys.write_bytes(public_key)
    authorized_keys.chmod(0o600)
    for path in (ssh_dir, authorized_keys):
        os.chown(path, uid, gid)


def _write_sample_data(directory: Path, uid: int, gid: int) -> None:
    directory.mkdir(mode=0o755)
    os.chown(directory, uid, gid)
    for relative, content in SAMPLE_FILES.items():
        path = directory / relative
        if not path.parent.exists():
            path.parent.mkdir(mode=0o755, parents=True)
            os.chown(path.parent, uid, gid)
        path.write_bytes(content)
        os.chown(path, uid, gid)


def _free_ports(count: int) -> list[int]:
    """`count` distinct ports that were free on 127.0.0.1 a moment ago (sshd start retries)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _wait_for_ssh_banner(port: int, process: subprocess.Popen[bytes]) -> bool:
    """True once sshd answers with its banner; False if it exited or never answered."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                if sock.recv(64).startswith(b"SSH-"):
                    return True
        except OSError:
            pass
        time.sleep(0.02)
    return False


def _processes_in_namespaces(namespaces: set[str]) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{entry}/ns/mnt") in namespaces:
                pids.append(int(entry))
    return pids


def _stop_processes_in_namespaces(namespaces: set[str]) -> None:
    """SIGTERM, then SIGKILL, whatever still runs in the lab hosts' mount namespaces.

    Only lab processes can be there: each namespace was made by the lab's own unshare.
    """
    if not namespaces:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = _processes_in_namespaces(namespaces)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while time.monotonic() < deadline and _processes_in_namespaces(namespaces):
            time.sleep(0.02)


def _remove_tree(base: Path) -> None:
    """Remove the lab's directory, many host trees at once (deletes are latency-bound).

    `--one-file-system` keeps rm out of anything mounted below `base`.
    """
    if not base.exists():
        return
    parts = [path for path in (base / "hosts").glob("*") if path.is_dir()]
    parts.append(base / "template")
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(_remove_path, parts))
    _remove_path(base)


def _remove_path(path: Path) -> None:
    subprocess.run(
        ["rm", "-rf", "--one-file-system", "--", str(path)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
    )
