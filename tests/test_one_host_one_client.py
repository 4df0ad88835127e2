"""Issue 25, item 5: one host, one client. Two inventory entries that log in to the same
place (the same alias, or the same user@host:port once ~/.ssh/config is applied; or a client
at the server's own login) are refused by `borgkeep validate` naming both, without
connecting anywhere and without loading paramiko; `resolve_login` agrees with
`resolve_target`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from wizard.inventory.parse import InventoryError, parse_inventory
from wizard.remote.ssh_config import resolve_login, resolve_target

SSH_CONFIG = """\
# the operator's hosts
Host web
  HostName web.lan
  User root
Host db db-alias
  HostName %h.internal
  Port 2222
Host nas.lan
  User root
Host *.lan !odd.lan
  Port 22
Host *
  User = "operator"
"""


def inventory(*clients: tuple[str, str], server: str = "root@nas.lan") -> str:
    lines = [
        "version: 1",
        f"server: {{name: nas, ssh: {server}}}",
        "retention: {keep_daily: 7}",
        "clients:",
    ]
    lines += [f"  - {{name: {n}, ssh: '{s}', source_directories: [/srv]}}" for n, s in clients]
    return "\n".join(lines) + "\n"


@pytest.fixture
def ssh_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "ssh_config"
    path.write_text(SSH_CONFIG)
    monkeypatch.setenv("BORGKEEP_SSH_CONFIG", str(path))
    return path


def refusals(text: str) -> list[str]:
    with pytest.raises(InventoryError) as refused:
        parse_inventory(text, "inventory.yaml")
    return [str(error) for error in refused.value.errors]


def test_the_same_alias_twice_is_refused_naming_both_entries_and_the_field(ssh_config):
    (error,) = refusals(
        inventory(("client3", "lab-client3"), ("web", "web"), ("lab-client3", "lab-client3"))
    )
    assert error.startswith("inventory.yaml:7: clients[2].ssh: client 'lab-client3'")
    assert "like client 'client3' (clients[0].ssh: 'lab-client3')" in error
    assert "the inventory lists one host twice; keep one of the two entries" in error


def test_an_alias_and_the_login_it_resolves_to_are_one_host(ssh_config):
    (error,) = refusals(inventory(("web", "web"), ("web-by-hand", "root@web.lan:22")))
    assert (
        "clients[1].ssh: client 'web-by-hand' ('root@web.lan:22') logs in as root@web.lan:22"
        in (error)
    )
    assert "like client 'web' (clients[0].ssh: 'web')" in error


def test_two_aliases_of_one_block_are_one_host(ssh_config):
    (error,) = refusals(inventory(("db", "db"), ("db2", "operator@db.internal:2222")))
    assert "clients[1].ssh" in error and "operator@db.internal:2222" in error


def test_a_client_at_the_servers_own_login_is_refused(ssh_config):
    (error,) = refusals(inventory(("web", "web"), ("nas2", "nas.lan")))
    assert "clients[1].ssh: client 'nas2' ('nas.lan') logs in as root@nas.lan:22" in error
    assert "like the server 'nas' (server.ssh: 'root@nas.lan')" in error
    assert "a client cannot be the server's own login" in error


def test_other_users_or_ports_of_one_machine_are_other_logins(ssh_config):
    parsed = parse_inventory(
        inventory(
            ("web", "web"),
            ("web-alice", "alice@web.lan"),
            ("web-2201", "root@web.lan:2201"),
            ("nas-alice", "alice@nas.lan"),
        )
    )
    assert [c.name for c in parsed.clients] == ["web", "web-alice", "web-2201", "nas-alice"]


def test_without_an_ssh_config_the_destinations_compare_as_written(tmp_path, monkeypatch):
    monkeypatch.setenv("BORGKEEP_SSH_CONFIG", str(tmp_path / "none"))
    parse_inventory(inventory(("web", "web"), ("web-lan", "web.lan")))
    (error,) = refusals(inventory(("web", "root@web.lan"), ("again", "root@WEB.lan:22")))
    assert "clients[1].ssh" in error


@pytest.mark.parametrize(
    "destination",
    [
        "web",
        "root@web",
        "web:2200",
        "db",
        "db-alias",
        "bob@db-alias:22",
        "nas.lan",
        "odd.lan",
        "other.lan",
        "10.0.0.5",
        "[::1]:2201",
        "unknown",
    ],
)
def test_resolve_login_agrees_with_resolve_target(ssh_config, destination):
    target = resolve_target(destination, ssh_config)
    assert resolve_login(destination, ssh_config) == (
        target.user,
        target.hostname.lower(),
        target.port,
    )


def test_a_config_with_match_is_left_to_paramiko(tmp_path):
    path = tmp_path / "ssh_config"
    path.write_text("Match host web\n  HostName web.example\n  User deploy\n")
    target = resolve_target("web", path)
    assert resolve_login("web", path) == (target.user, target.hostname, target.port)
    assert target.hostname == "web.example"


def test_validate_refuses_duplicates_without_loading_paramiko(tmp_path, ssh_config):
    path = tmp_path / "inventory.yaml"
    path.write_text(inventory(("web", "web"), ("web2", "root@web.lan")))
    code = (
        "import sys\n"
        "from wizard.cli import main\n"
        f"code = main(['--inventory', {str(path)!r}, 'validate'])\n"
        "print('paramiko' in sys.modules, code)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"BORGKEEP_SSH_CONFIG": str(ssh_config), "PATH": "/usr/bin:/bin"},
        cwd=Path(__file__).resolve().parents[1],
    )
    assert result.stdout.split() == ["False", "1"], result.stderr
    assert "clients[1].ssh: client 'web2'" in result.stderr
    assert "like client 'web' (clients[0].ssh: 'web')" in result.stderr
