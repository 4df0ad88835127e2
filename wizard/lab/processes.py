"""A lab host's sshd: started in its own mount namespace, waited for, and stopped by PID
(with whatever still runs in that namespace)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from wizard.lab.host import LabHost
from wizard.lab.tools import DEBIAN_BORG, SSHD, LabError

# mount point inside a lab host -> directory name under base/hosts/NAME/
PRIVATE_MOUNTS: dict[str, str] = {
    "/etc": "etc",
    "/root": "root",
    "/home": "home",
    "/srv": "srv",
    "/var/spool/cron": "spool-cron",
}

READY_TIMEOUT_SECONDS = 15.0
STOP_GRACE_SECONDS = 3.0
PORT_ATTEMPTS = 5


def sshd_config_text(host: LabHost) -> str:
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


def start_sshd(
    host: LabHost, register: Callable[[subprocess.Popen[bytes]], None]
) -> subprocess.Popen[bytes]:
    """Start `host`'s sshd in a new mount namespace; retry on a port someone else took.
    `register` learns each process as soon as it exists, so a failed start is stopped too."""
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    config = host.root_dir / "sshd_config"
    log_path = host.root_dir / "sshd.log"
    binds = [(host.root_dir / source, target) for target, source in PRIVATE_MOUNTS.items()]
    if host.borg_version != "1.2":
        binds.append((Path("/dev/null"), DEBIAN_BORG))  # its only borg is the venv's
    mounts = " && ".join(f"mount --bind {source} {target}" for source, target in binds)
    script = f"{mounts} && exec {SSHD} -D -e -f {config}"
    for _attempt in range(PORT_ATTEMPTS):
        config.write_text(sshd_config_text(host))
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd="/",
                start_new_session=True,
            )
        register(process)
        host.pid = process.pid
        if wait_for_ssh_banner(host.port, process):
            host.mount_namespace = os.readlink(f"/proc/{process.pid}/ns/mnt")
            if host.mount_namespace == own_mount_namespace():
                raise LabError(f"lab host {host.name}'s sshd is not in its own mount namespace")
            return process
        if process.poll() is None:
            process.kill()
        process.wait()
        log_text = log_path.read_text(errors="replace")
        if "Address already in use" not in log_text and "Cannot bind" not in log_text:
            raise LabError(
                f"sshd for lab host {host.name} did not start (log {log_path}):\n{log_text}"
            )
        host.port = free_ports(1)[0]
    raise LabError(f"no free port for lab host {host.name} after {PORT_ATTEMPTS} attempts")


def own_mount_namespace() -> str:
    return os.readlink("/proc/self/ns/mnt")


def free_ports(count: int) -> list[int]:
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


def wait_for_ssh_banner(port: int, process: subprocess.Popen[bytes]) -> bool:
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


def processes_in_namespaces(namespaces: set[str]) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{entry}/ns/mnt") in namespaces:
                pids.append(int(entry))
    return pids


def stop_processes_in_namespaces(namespaces: set[str]) -> None:
    """SIGTERM, then SIGKILL, whatever still runs in the lab hosts' mount namespaces.

    Only lab processes can be there: each namespace was made by the lab's own unshare.
    """
    if not namespaces:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = processes_in_namespaces(namespaces)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while time.monotonic() < deadline and processes_in_namespaces(namespaces):
            time.sleep(0.02)


def remove_tree(base: Path) -> None:
    """Remove the lab's directory, many host trees at once (deletes are latency-bound).

    `--one-file-system` keeps rm out of anything mounted below `base`.
    """
    if not base.exists():
        return
    parts = [path for path in (base / "hosts").glob("*") if path.is_dir()]
    parts.append(base / "template")
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(remove_path, parts))
    remove_path(base)


def remove_path(path: Path) -> None:
    subprocess.run(
        ["rm", "-rf", "--one-file-system", "--", str(path)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
    )
