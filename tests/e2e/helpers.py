"""Shared helpers for the end-to-end tests: run the CLI as the operator, look inside hosts.

Everything here observes the lab from outside the engine (crontabs, files, `borg` run by
hand), so a test that uses it asserts on what landed on disk, not on what Borgkeep says.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from wizard.artefacts.layout import client_paths, server_paths
from wizard.lab import Lab
from wizard.remote.scripts import borg_env

BORG_USER = "borg"
BORG_HOME = "/home/borg"
REPO_ROOT = "/srv/backups"
CLI_TIMEOUT_SECONDS = 300


@pytest.fixture(scope="module", autouse=True)
def root_required() -> None:
    """Skip the lab tests without root, except in CI, where a skipped e2e suite is a failure."""
    if os.geteuid() == 0:
        return
    message = "the end-to-end tests need root (the local lab starts one sshd per host)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; CI=true, so this is a failure, not a skip")
    pytest.skip(message)


@dataclass
class CliResult:
    """One finished `borgkeep` run."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def describe(self) -> str:
        """For assertion messages: the command, its exit code and everything it printed."""
        return (
            f"borgkeep {' '.join(self.args)} -> {self.returncode}\n"
            f"--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"
        )


@dataclass
class Operator:
    """The operator's side: an inventory file, private XDG dirs, and every CLI run's output."""

    lab: Lab
    workdir: Path
    runs: list[CliResult] = field(default_factory=list)

    @property
    def inventory(self) -> Path:
        return self.workdir / "inventory.yaml"

    @property
    def secrets_file(self) -> Path:
        return self.workdir / "xdg-data" / "borgkeep" / "secrets.json"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            **self.lab.env(),
            "XDG_DATA_HOME": str(self.workdir / "xdg-data"),
            "XDG_CONFIG_HOME": str(self.workdir / "xdg-config"),
            "XDG_CACHE_HOME": str(self.workdir / "xdg-cache"),
            "BORGKEEP_SECRETS": "file",
        }

    def write_inventory(self, text: str) -> None:
        self.inventory.write_text(text)

    def run(
        self,
        *args: str,
        inventory: Path | None = None,
        without_inventory: bool = False,
        cwd: Path | None = None,
    ) -> CliResult:
        """`borgkeep --inventory INV ARGS...` as a subprocess, output recorded; with
        `without_inventory`, no `--inventory` at all (run from `cwd`)."""
        argv = [sys.executable, "-m", "screens.launcher"]
        if not without_inventory:
            argv += ["--inventory", str(inventory or self.inventory)]
        completed = subprocess.run(
            [*argv, *args],
            env=self.env(),
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=CLI_TIMEOUT_SECONDS,
            cwd=cwd or self.workdir,
        )
        result = CliResult(tuple(args), completed.returncode, completed.stdout, completed.stderr)
        self.runs.append(result)
        return result

    def secrets(self) -> dict[str, str]:
        return json.loads(self.secrets_file.read_text())

    def passphrases(self) -> dict[str, str]:
        return {
            name: value for name, value in self.secrets().items() if name.startswith("passphrase:")
        }


def make_operator(lab: Lab, workdir: Path) -> Operator:
    workdir.mkdir(parents=True, exist_ok=True)
    return Operator(lab, workdir)


def inventory_text(
    lab: Lab,
    clients: list[str] | None = None,
    retention: dict[str, int] | None = None,
    extra_clients: list[dict] | None = None,
    server_overrides: dict | None = None,
) -> str:
    """The lab's inventory, with another retention, more clients or server fields."""
    data = yaml.safe_load(lab.inventory_yaml(clients=clients, repo_root=REPO_ROOT))
    if retention is not None:
        data["retention"] = retention
    if server_overrides:
        data["server"].update(server_overrides)
    data["clients"] += extra_clients or []
    return yaml.safe_dump(data, sort_keys=False)


# ----------------------------------------------------------------------------- hosts


def login_of(lab: Lab, host: str) -> str:
    return lab.hosts[host].login_user


def run_checked(lab: Lab, host: str, cmd: str, user: str | None = None) -> str:
    result = lab.run(host, cmd, user=user)
    assert result.returncode == 0, f"{host}$ {cmd}\n{result.stderr.decode(errors='replace')}"
    return result.stdout.decode()


def crontab_text(lab: Lab, host: str, user: str) -> str:
    """`crontab -l` of `user` on `host` ('' when there is none)."""
    result = lab.run(host, ["crontab", "-l", "-u", user])
    return result.stdout.decode() if result.returncode == 0 else ""


def crontab_commands(lab: Lab, host: str, user: str) -> list[str]:
    """The command part (after the 5 schedule fields) of every job in `user`'s crontab."""
    commands = []
    for line in crontab_text(lab, host, user).splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        fields = stripped.split(None, 5)
        if len(fields) == 6 and "=" not in fields[0]:
            commands.append(fields[5])
    return commands


def run_cron_command(lab: Lab, host: str, command: str, user: str) -> subprocess.CompletedProcess:
    """Run a crontab command as cron would (bare env, sh -c), asserting it succeeded."""
    result = lab.run_as_cron(host, command, user=user)
    assert result.returncode == 0, (
        f"cron command on {host} as {user} failed ({result.returncode}): {command}\n"
        f"{result.stdout.decode(errors='replace')}{result.stderr.decode(errors='replace')}"
    )
    return result


def client_files(lab: Lab, client: str) -> list[str]:
    host = lab.hosts[client]
    paths = client_paths(client, host.home, host.login_user == "root")
    return [
        paths.key,
        paths.public_key,
        paths.known_hosts,
        paths.config,
        paths.passphrase,
        f"/var/spool/cron/crontabs/{host.login_user}",
    ]


def server_files(clients: list[str]) -> list[str]:
    paths = server_paths(BORG_HOME, REPO_ROOT)
    files = [paths.authorized_keys, f"/var/spool/cron/crontabs/{BORG_USER}"]
    for client in clients:
        files += [paths.prune_config(client), paths.passphrase(client)]
    return files


def file_stamps(lab: Lab, host: str, paths: list[str]) -> dict[str, str]:
    """`mtime(ns) inode` of each path on `host`; a missing path maps to 'missing'."""
    script = (
        'for p; do if [ -e "$p" ]; then stat -c "%n %.9Y %i" "$p"; else echo "$p missing"; fi; done'
    )
    output = run_checked(lab, host, shlex.join(["sh", "-c", script, "sh", *paths]))
    stamps = {}
    for line in output.splitlines():
        path, stamp = line.split(" ", 1)
        stamps[path] = stamp
    return stamps


def fleet_stamps(lab: Lab, clients: list[str]) -> dict[str, dict[str, str]]:
    """Stamps of every file Borgkeep manages on the server and on `clients`."""
    stamps = {lab.server.name: file_stamps(lab, lab.server.name, server_files(clients))}
    for client in clients:
        stamps[client] = file_stamps(lab, client, client_files(lab, client))
    return stamps


def repository_url(lab: Lab, client: str) -> str:
    return f"ssh://{BORG_USER}@127.0.0.1:{lab.server.port}{REPO_ROOT}/{client}"


def client_borg_env(lab: Lab, client: str) -> str:
    """BORG_RSH and BORG_PASSCOMMAND exactly as the client's config uses them."""
    host = lab.hosts[client]
    paths = client_paths(client, host.home, host.login_user == "root")
    return borg_env(paths.key, paths.known_hosts, paths.passphrase)


def client_borg(lab: Lab, client: str, borg_args: str) -> subprocess.CompletedProcess:
    """`borg ARGS` on `client` as its login user, through its own key and pinned host key."""
    return lab.run(
        client, f"{client_borg_env(lab, client)} borg {borg_args}", user=login_of(lab, client)
    )


def server_borg(lab: Lab, client: str, borg_args: str) -> subprocess.CompletedProcess:
    """`borg ARGS` on the server as the borg user, with the server's passphrase file."""
    passphrase = server_paths(BORG_HOME, REPO_ROOT).passphrase(client)
    command = f"BORG_PASSCOMMAND={shlex.quote('cat ' + passphrase)} borg {borg_args}"
    return lab.run(lab.server.name, command, user=BORG_USER)


def archives(lab: Lab, client: str) -> list[tuple[str, datetime]]:
    """(name, time) of every archive in `client`'s repository, read on the server."""
    result = server_borg(lab, client, f"list --json {REPO_ROOT}/{client}")
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return [
        (archive["name"], datetime.fromisoformat(archive["time"]))
        for archive in json.loads(result.stdout)["archives"]
    ]


def segment_sizes(lab: Lab, client: str) -> dict[str, int]:
    """path -> size of every file under the repository's data/ directory (the segments)."""
    output = run_checked(
        lab, lab.server.name, f"find {REPO_ROOT}/{client}/data -type f -printf '%p %s\\n'"
    )
    return {path: int(size) for path, size in (line.rsplit(" ", 1) for line in output.splitlines())}


def files_not_owned_by_borg(lab: Lab) -> list[str]:
    return run_checked(lab, lab.server.name, f"find {REPO_ROOT} ! -user {BORG_USER}").splitlines()


def fingerprint_of_public_key(line: str, workdir: Path) -> str:
    """`SHA256:...` of an OpenSSH public key line, computed by ssh-keygen itself."""
    path = workdir / "fingerprint-input.pub"
    path.write_text(line.strip() + "\n")
    output = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return output.split()[1]


def random_ed25519_public_key(workdir: Path) -> str:
    """`ssh-ed25519 AAAA...` of a fresh key pair nobody uses."""
    key = workdir / "random_ed25519"
    for path in (key, key.with_suffix(".pub")):
        path.unlink(missing_ok=True)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
        check=True,
        capture_output=True,
    )
    return " ".join(key.with_suffix(".pub").read_text().split()[:2])


@contextlib.contextmanager
def connection_counter() -> Iterator[tuple[int, list[int]]]:
    """A listener on 127.0.0.1: yields (port, accepted) where `accepted` counts connections.

    A test points an inventory at the port to prove that nothing connected to it.
    """
    accepted: list[int] = []
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)
    stop = threading.Event()

    def accept_loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(1)
            conn.close()

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], accepted
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def files_containing(directory: Path, needle: str, skip: set[Path]) -> list[Path]:
    """Every file under `directory` (except `skip`) whose bytes contain `needle`."""
    found = []
    for path in directory.rglob("*"):
        if path.is_file() and path not in skip and needle.encode() in path.read_bytes():
            found.append(path)
    return found
