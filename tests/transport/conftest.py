"""A real OpenSSH sshd on 127.0.0.1 for the transport tests.

It runs as root with its own host key and ``AuthorizedKeysFile`` in a temp dir, so root can
log in without touching /root/.ssh; it is stopped by PID after the module.
"""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paramiko
import pytest

SSHD = Path("/usr/sbin/sshd")


def free_port() -> int:
    """A port nothing listens on right now (the kernel picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def generate_key(path: Path, key_type: str = "ed25519") -> Path:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", key_type, "-N", "", "-C", path.name, "-f", str(path)],
        check=True,
    )
    return path


def public_key(private_path: Path) -> paramiko.PKey:
    key_type, blob = Path(f"{private_path}.pub").read_text().split()[:2]
    return paramiko.PKey.from_type_string(key_type, base64.b64decode(blob))


@dataclass
class SshdServer:
    directory: Path
    port: int
    host_key: paramiko.PKey
    ecdsa_host_key: paramiko.PKey
    client_key: Path
    log_path: Path

    def write_ssh_config(
        self, path: Path, identity: Path | None = None, alias: str = "lab"
    ) -> Path:
        """An operator ssh config with one alias for this sshd."""
        path.write_text(
            "Host lab\n"
            f"    HostName 127.0.0.1\n"
            f"    Port {self.port}\n"
            f"    User root\n"
            f"    IdentityFile {identity or self.client_key}\n"
            f"    IdentitiesOnly yes\n"
        )
        return path

    def connections_logged(self) -> int:
        """How many TCP connections sshd has accepted so far (LogLevel VERBOSE)."""
        text = self.log_path.read_text(errors="replace")
        return text.count("Connection from 127.0.0.1 port ")


def _wait_for_banner(port: int, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sshd exited with {process.returncode}: {log_path.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as probe:
                if probe.recv(64).startswith(b"SSH-"):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"sshd did not start on port {port}: {log_path.read_text()}")


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshdServer]:
    if os.geteuid() != 0 or not SSHD.exists():
        pytest.skip("needs root and /usr/sbin/sshd to run a real sshd on 127.0.0.1")
    directory = tmp_path_factory.mktemp("sshd")
    host_key = generate_key(directory / "ssh_host_ed25519_key")
    ecdsa_host_key = generate_key(directory / "ssh_host_ecdsa_key", "ecdsa")
    client_key = generate_key(directory / "client_ed25519")
    authorized = directory / "authorized_keys"
    authorized.mkdir()
    (authorized / "root").write_text(Path(f"{client_key}.pub").read_text())
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)

    port = free_port()
    config = directory / "sshd_config"
    config.write_text(
        f"Port {port}\n"
        "ListenAddress 127.0.0.1\n"
        f"HostKey {host_key}\n"
        f"HostKey {ecdsa_host_key}\n"
        f"AuthorizedKeysFile {authorized}/%u\n"
        "UsePAM no\n"
        "StrictModes no\n"
        "PidFile none\n"
        "PermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "LogLevel VERBOSE\n"
    )
    log_path = directory / "sshd.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(SSHD), "-D", "-e", "-f", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
    try:
        _wait_for_banner(port, process, log_path)
        yield SshdServer(
            directory,
            port,
            public_key(host_key),
            public_key(ecdsa_host_key),
            client_key,
            log_path,
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
