"""The security promises, proven on a real lab: append-only keys, pinned host keys, inputs
checked before any connection, and a fleet that completes around an unreachable client.

One module lab; the first test applies (with an unreachable extra client), the others
attack the result. Tests that change the operator's known_hosts or inventory restore them.
"""

from __future__ import annotations

import json
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from wizard.lab import Lab

from .helpers import (  # noqa: F401  (root_required is an autouse fixture)
    BORG_HOME,
    REPO_ROOT,
    Operator,
    archives,
    client_borg,
    client_borg_env,
    connection_counter,
    crontab_commands,
    file_stamps,
    fingerprint_of_public_key,
    fleet_stamps,
    inventory_text,
    login_of,
    make_operator,
    random_ed25519_public_key,
    repository_url,
    root_required,
    run_checked,
    run_cron_command,
    segment_sizes,
    server_files,
)

pytestmark = pytest.mark.lab

CLIENTS = ["client1", "client2"]
PRUNE_CONFIG = f"{BORG_HOME}/.config/borgkeep/prune-client1.yaml"


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def operator(module_lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Operator:
    operator = make_operator(module_lab, tmp_path_factory.mktemp("operator-security"))
    operator.write_inventory(inventory_text(module_lab, CLIENTS))
    return operator


@pytest.fixture
def restore_operator_files(operator: Operator) -> Iterator[None]:
    """Put the inventory and known_hosts back after a test that tampers with them."""
    inventory = operator.inventory.read_bytes()
    known_hosts = operator.lab.known_hosts.read_bytes()
    yield
    operator.inventory.write_bytes(inventory)
    operator.lab.known_hosts.write_bytes(known_hosts)


def test_an_unreachable_client_is_reported_while_the_others_complete(
    operator: Operator, tmp_path: Path
) -> None:
    lab = operator.lab
    ghost = {
        "name": "ghost",
        "ssh": f"root@127.0.0.1:{closed_port()}",
        "source_directories": ["/srv"],
    }
    with_ghost = tmp_path / "inventory-with-ghost.yaml"
    with_ghost.write_text(inventory_text(lab, CLIENTS, extra_clients=[ghost]))

    result = operator.run("apply", "--yes", inventory=with_ghost)

    assert result.returncode == 1, result.describe()
    assert "ghost" in result.output
    stamps = fleet_stamps(lab, CLIENTS)
    for host in ["nas", *CLIENTS]:
        missing = [path for path, stamp in stamps[host].items() if stamp == "missing"]
        assert missing == [], f"{host} is missing {missing}"
    for client in CLIENTS:
        assert client_borg(lab, client, f"info {repository_url(lab, client)}").returncode == 0
    # with the ghost, the next plan never claims that nothing is left to do (issue 25)
    planned = operator.run("plan", inventory=with_ghost)
    assert planned.returncode == 1, planned.describe()
    assert "Nothing to change" not in planned.stdout
    assert planned.stdout.startswith(
        "No change planned for the 3 hosts checked; 1 host could not be checked: ghost ("
    ), planned.stdout
    as_json = json.loads(operator.run("plan", "--json", inventory=with_ghost).stdout)
    assert [entry["host"] for entry in as_json["unchecked"]] == ["ghost"]
    assert as_json["counts"] == {"changes": 0, "hosts_checked": 3, "hosts_unchecked": 1}
    # without the ghost, the fleet is complete: nothing left to do
    assert operator.run("plan").returncode == 0


def test_delete_and_compact_through_a_client_key_keep_every_segment(operator: Operator) -> None:
    lab = operator.lab
    user = login_of(lab, "client1")
    run_cron_command(lab, "client1", crontab_commands(lab, "client1", user)[0], user=user)
    url = repository_url(lab, "client1")
    [(archive, _)] = archives(lab, "client1")
    segments_before = segment_sizes(lab, "client1")

    deleted = client_borg(lab, "client1", f"delete {url}::{archive}")
    compacted = client_borg(lab, "client1", f"compact {url}")
    whole_repo = client_borg(lab, "client1", f"delete --force --force {url}")

    segments_after = segment_sizes(lab, "client1")
    context = b"\n".join([deleted.stderr, compacted.stderr, whole_repo.stderr]).decode()
    for path, size in segments_before.items():
        assert path in segments_after, f"{path} was removed\n{context}"
        assert segments_after[path] >= size, f"{path} shrank\n{context}"
    assert run_checked(lab, "nas", f"test -d {REPO_ROOT}/client1/data && echo ok") == "ok\n"


def test_a_client_key_cannot_reach_another_clients_repository(operator: Operator) -> None:
    lab = operator.lab
    client2_passphrase = operator.passphrases()["passphrase:nas/client2"]
    lab.write_file("client1", "/root/client2.passphrase", client2_passphrase + "\n", mode=0o600)
    env = client_borg_env(lab, "client1").replace(
        "/etc/borgkeep/client1.passphrase", "/root/client2.passphrase"
    )
    assert "/root/client2.passphrase" in env
    try:
        result = lab.run("client1", f"{env} borg info {repository_url(lab, 'client2')}")
    finally:
        run_checked(lab, "client1", "rm -f /root/client2.passphrase")

    assert result.returncode != 0
    assert b"not allowed" in result.stderr, result.stderr.decode()
    # the right key with the same passphrase does get in: the path restriction refused it
    assert client_borg(lab, "client2", f"info {repository_url(lab, 'client2')}").returncode == 0


def test_a_client_key_runs_no_shell_command(operator: Operator) -> None:
    lab = operator.lab
    marker = f"/tmp/borgkeep-pwned-{secrets.token_hex(6)}"
    ssh = (
        "ssh -i /root/.ssh/borgkeep_ed25519 -o IdentitiesOnly=yes "
        "-o UserKnownHostsFile=/root/.ssh/borgkeep_known_hosts -o StrictHostKeyChecking=yes "
        f"-o BatchMode=yes -p {lab.server.port} borg@127.0.0.1"
    )

    result = lab.run("client1", f"{ssh} 'touch {marker}; echo PWNED' </dev/null", timeout=60)

    assert b"PWNED" not in result.stdout + result.stderr
    assert not Path(marker).exists()
    assert lab.read_file("nas", marker) is None
    # the same key does authenticate (so the refusal above is the forced command, not a typo)
    assert client_borg(lab, "client1", f"info {repository_url(lab, 'client1')}").returncode == 0


def test_a_changed_server_host_key_is_refused_and_nothing_is_written(
    operator: Operator, restore_operator_files: None
) -> None:
    lab = operator.lab
    real_line = lab.host_key_line("nas")
    fake_key = random_ed25519_public_key(operator.workdir)
    lab.known_hosts.write_text(
        lab.known_hosts.read_text().replace(real_line, f"[127.0.0.1]:{lab.server.port} {fake_key}")
    )
    # a pending server change, so that a broken refusal would show up as a write
    operator.write_inventory(inventory_text(lab, CLIENTS, retention={"keep_daily": 2}))
    known = fingerprint_of_public_key(fake_key, operator.workdir)
    offered = fingerprint_of_public_key(real_line.split(" ", 1)[1], operator.workdir)
    server_before = file_stamps(lab, "nas", server_files(CLIENTS))
    prune_config_before = lab.read_file("nas", PRUNE_CONFIG)

    plan = operator.run("plan")
    apply = operator.run("apply", "--yes")

    for result in (plan, apply):
        assert result.returncode == 1, result.describe()
        assert known in result.output and offered in result.output, result.describe()
    assert file_stamps(lab, "nas", server_files(CLIENTS)) == server_before
    assert lab.read_file("nas", PRUNE_CONFIG) == prune_config_before
    assert b"keep_daily: 2" not in (prune_config_before or b"")


def test_an_unknown_host_key_needs_the_operators_flag(
    operator: Operator, restore_operator_files: None
) -> None:
    lab = operator.lab
    lab.forget_host_keys()
    server_fingerprint = fingerprint_of_public_key(
        lab.host_key_line("nas").split(" ", 1)[1], operator.workdir
    )

    refused = operator.run("plan")

    assert refused.returncode == 1, refused.describe()
    assert server_fingerprint in refused.output
    assert "--accept-new-host-keys" in refused.output
    assert lab.known_hosts.read_text() == ""

    accepted = operator.run("--accept-new-host-keys", "plan")

    assert accepted.returncode == 0, accepted.describe()
    recorded = lab.known_hosts.read_text().splitlines()
    for host in ["nas", *CLIENTS]:
        name, key_type, key = lab.host_key_line(host).split()
        assert any(line.split()[1:3] == [key_type, key] for line in recorded), host
        assert any(line.split()[0] == name for line in recorded), host
    assert operator.run("plan").returncode == 0


def test_an_invalid_inventory_is_refused_before_any_connection(operator: Operator) -> None:
    bad = operator.workdir / "invalid-inventory.yaml"
    with connection_counter() as (port, accepted):
        bad.write_text(
            "version: 1\n"
            "server:\n"
            "  name: nas\n"
            f"  ssh: root@127.0.0.1:{port}\n"
            "retention:\n"
            "  keep_daily: -3\n"
            "clients:\n"
            "  - name: client1\n"
            f"    ssh: root@127.0.0.1:{port}\n"
            "    source_directories: [/srv/data]\n"
        )

        results = [operator.run(*args, inventory=bad) for args in (["plan"], ["apply", "--yes"])]
        results.append(operator.run("validate", inventory=bad))

    for result in results:
        assert result.returncode == 1, result.describe()
        assert "keep_daily" in result.output, result.describe()
        assert "connect" not in result.output.lower(), result.describe()
    assert accepted == []
