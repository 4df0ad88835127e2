"""The local lab itself: real logins, the right borgmatic, and nothing leaking to this machine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from wizard.lab import Lab, LabError, start_lab

from .conftest import NEEDS_ROOT_REASON

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason=NEEDS_ROOT_REASON),
]

REAL_CRONTABS = Path("/var/spool/cron/crontabs")


def ssh(lab: Lab, host: str, command: str, input: bytes | None = None) -> str:
    """Log in with the real OpenSSH client, strict host key checking, as the operator."""
    result = subprocess.run(
        lab.ssh_argv(host, command), input=input, capture_output=True, timeout=60
    )
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


def snapshot_tree(directory: Path) -> dict[str, tuple[int, bytes]]:
    return {
        path.name: (path.stat().st_mode, path.read_bytes())
        for path in sorted(directory.iterdir())
        if path.is_file()
    }


@pytest.mark.parametrize(
    ("host", "user", "version_prefix"),
    [("nas", "root", "2."), ("client1", "root", "1.7.7"), ("client2", "bk-client2", "2.")],
)
def test_each_host_logs_in_as_its_user_with_its_borgmatic(
    module_lab: Lab, host: str, user: str, version_prefix: str
) -> None:
    output = ssh(module_lab, host, "id -un; borgmatic --version; command -v borgmatic")
    login_user, version, borgmatic_path = output.split()
    assert login_user == user == module_lab.hosts[host].login_user
    assert version.startswith(version_prefix)
    assert borgmatic_path == module_lab.hosts[host].borgmatic_path


def test_clients_have_sample_data_owned_by_their_login_user(module_lab: Lab) -> None:
    for client in module_lab.clients:
        for directory in client.source_directories:
            output = ssh(
                module_lab, client.name, f"stat -c %U {directory}; cat {directory}/hello.txt"
            )
            owner, greeting = output.split("\n", 1)
            assert owner == client.login_user
            assert "Borgkeep lab" in greeting


def test_crontab_inside_a_host_does_not_touch_the_real_spool(module_lab: Lab) -> None:
    real_before = snapshot_tree(REAL_CRONTABS)
    line = "17 4 * * * /usr/bin/true lab-crontab-test\n"

    ssh(module_lab, "client1", "crontab -", input=line.encode())
    ssh(module_lab, "client2", "crontab -", input=line.encode())

    assert line in ssh(module_lab, "client1", "crontab -l")
    assert line in ssh(module_lab, "client2", "crontab -l")
    assert line.encode() in (
        module_lab.read_file("client1", "/var/spool/cron/crontabs/root") or b""
    )
    assert line.encode() in (
        module_lab.read_file("client2", "/var/spool/cron/crontabs/bk-client2") or b""
    )
    assert module_lab.read_file("nas", "/var/spool/cron/crontabs/root") is None
    assert snapshot_tree(REAL_CRONTABS) == real_before


def test_useradd_on_the_server_stays_in_the_server(module_lab: Lab) -> None:
    real_passwd = Path("/etc/passwd").read_bytes()

    module_lab.run("nas", "useradd -m -s /bin/sh labtester && usermod -p '*' labtester", check=True)

    assert b"labtester:" in (module_lab.read_file("nas", "/etc/passwd") or b"")
    assert module_lab.run("client1", ["getent", "passwd", "labtester"]).returncode != 0
    assert Path("/etc/passwd").read_bytes() == real_passwd
    assert not Path("/home/labtester").exists()
    assert module_lab.run("nas", "id -un", user="labtester", check=True).stdout == b"labtester\n"


def test_a_client_reaches_the_server_as_a_user_created_there(module_lab: Lab) -> None:
    server = module_lab.server
    module_lab.run("nas", "useradd -m -s /bin/sh borgtest && usermod -p '*' borgtest", check=True)
    module_lab.run(
        "client1", "ssh-keygen -q -t ed25519 -N '' -f /root/.ssh/lab_test_key", check=True
    )
    public_key = module_lab.read_file("client1", "/root/.ssh/lab_test_key.pub")
    assert public_key is not None
    module_lab.run("nas", "mkdir -p -m 700 ~/.ssh", user="borgtest", check=True)
    module_lab.write_file(
        "nas", "/home/borgtest/.ssh/authorized_keys", public_key, mode=0o600, user="borgtest"
    )
    module_lab.write_file(
        "client1", "/root/.ssh/lab_test_known_hosts", module_lab.host_key_line("nas") + "\n"
    )

    result = module_lab.run(
        "client1",
        [
            "ssh",
            "-i",
            "/root/.ssh/lab_test_key",
            "-p",
            str(server.port),
            "-o",
            "UserKnownHostsFile=/root/.ssh/lab_test_known_hosts",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "borgtest@127.0.0.1",
            "id -un",
        ],
        timeout=60,
    )

    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == b"borgtest\n"
    assert not Path("/root/.ssh/lab_test_key").exists()


def test_run_as_cron_uses_a_bare_environment(module_lab: Lab) -> None:
    result = module_lab.run_as_cron("client2", 'echo "$PATH|$HOME"; id -un', user="bk-client2")

    assert result.stdout == b"/usr/bin:/bin|/home/bk-client2\nbk-client2\n"


def test_inventory_names_the_lab_hosts(module_lab: Lab) -> None:
    inventory = yaml.safe_load(module_lab.inventory_yaml())

    assert inventory["version"] == 1
    assert inventory["server"]["ssh"] == "lab-nas"
    assert inventory["server"]["address"] == f"127.0.0.1:{module_lab.server.port}"
    assert [client["name"] for client in inventory["clients"]] == ["client1", "client2"]
    assert inventory["clients"][1]["source_directories"] == ["/home/bk-client2/data"]
    with pytest.raises(LabError):
        module_lab.inventory_yaml(clients=["nas"])


def test_add_client_and_forget_host_keys(lab: Lab) -> None:
    added = lab.add_client("client3", login="user", borgmatic="1.7")

    assert ssh(lab, "client3", "id -un; borgmatic --version").split() == ["bk-client3", "1.7.7"]
    assert added.port not in {host.port for host in lab.hosts.values() if host is not added}
    assert os.environ["BORGKEEP_KNOWN_HOSTS"] == str(lab.known_hosts)

    lab.forget_host_keys()
    refused = subprocess.run(lab.ssh_argv("nas", "true"), capture_output=True, timeout=60)
    assert refused.returncode != 0
    assert b"Host key verification failed" in refused.stderr


def test_stop_leaves_no_process_and_no_files() -> None:
    lab = start_lab(clients=[("solo", "user", "1.7")])
    ssh(lab, "solo", "sleep 300 </dev/null >/dev/null 2>&1 &")  # outlives the login
    namespaces = {host.mount_namespace for host in lab.hosts.values()}
    pids = [host.pid for host in lab.hosts.values()]
    inside = set(_processes_in(namespaces))
    assert len(inside) > len(pids)  # the hosts' own processes, the sleep among them

    lab.stop()
    lab.stop()

    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or _is_zombie(pid)
    # every process that was inside is gone; a namespace's number may be reused at once by
    # a lab another test starts beside this one, so newcomers there are not this lab's
    left = [pid for pid in inside if Path(f"/proc/{pid}").exists() and not _is_zombie(pid)]
    assert left == []
    assert not lab.base.exists()
    with pytest.raises(LabError):
        lab.run("nas", "true")


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def _processes_in(namespaces: set[str]) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/ns/mnt") in namespaces:
                    found.append(int(entry))
            except OSError:
                continue
    return found


def test_a_non_root_user_is_told_the_lab_needs_root() -> None:
    script = (
        "from wizard.lab import LabError, start_lab\n"
        "try:\n"
        "    start_lab()\n"
        "except LabError as error:\n"
        "    print(error)\n"
    )
    result = subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]
        + ["env", "-i", "PATH=/usr/bin:/bin", f"PYTHONPATH={Path(__file__).parents[2]}"]
        + [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd="/",
        timeout=60,
    )

    assert result.stdout.startswith("the local lab needs root:"), result.stderr
