"""The compromised-client guard on the lab: a client deletes an archive through its own
append-only key; the server's installed cron command then refuses to prune, exits
non-zero and leaves every segment; an acknowledged deletion is then accepted."""

from __future__ import annotations

import configparser

import pytest

from tests.e2e.helpers import make_operator
from wizard.remote import scripts

pytestmark = pytest.mark.lab

CLIENT_PATHS = {
    "key": "/root/.ssh/borgkeep_ed25519",
    "known_hosts": "/root/.ssh/borgkeep_known_hosts",
    "passphrase_file": "/etc/borgkeep/client1.passphrase",
}


def _segments(lab) -> dict[str, int]:
    out = lab.run("nas", "find /srv/backups/client1/data -type f -printf '%p %s\\n'", check=True)
    return {p: int(s) for p, s in (line.split() for line in out.stdout.decode().splitlines())}


def _server_cron_command(lab, client: str) -> str:
    crontab = lab.run("nas", ["crontab", "-l", "-u", "borg"], check=True).stdout.decode()
    line = next(ln for ln in crontab.splitlines() if ln.split()[-1:] == [client])
    return line.split(None, 5)[5]


def test_deletion_through_client_key_blocks_prune_until_acknowledged(lab, tmp_path):
    operator = make_operator(lab, tmp_path)
    operator.write_inventory(lab.inventory_yaml(clients=["client1"]))
    applied = operator.run("apply", "--yes", "--no-verify")
    assert applied.returncode == 0, applied.describe()
    assert_repository_key_was_exported(lab, operator, applied.stdout)

    url = f"ssh://borg@127.0.0.1:{lab.server.port}/srv/backups/client1"
    borg = scripts.borg_env(**CLIENT_PATHS)
    for day in (1, 2, 3, 4):
        name = f"client1-2026-01-0{day}T03:00:00"
        created = lab.run(
            "client1",
            f"{borg} borg create --timestamp 2026-01-0{day}T03:00:00 {url}::{name} /srv/data",
        )
        assert created.returncode == 0, created.stderr

    guard = _server_cron_command(lab, "client1")
    assert guard.startswith("/bin/sh ") and "prune-guard" in guard
    first = lab.run_as_cron("nas", guard, user="borg")
    assert first.returncode == 0, first.stderr

    deleted = lab.run("client1", f"{borg} borg delete {url}::client1-2026-01-04T03:00:00")
    assert deleted.returncode == 0, deleted.stderr  # append-only: borg says it worked
    compacted = lab.run("client1", f"{borg} borg compact {url}")
    segments = _segments(lab)

    refused = lab.run_as_cron("nas", guard, user="borg")
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert b"client1-2026-01-04T03:00:00" in refused.stderr
    assert b"REFUSING" in refused.stderr
    after = _segments(lab)
    for path, size in segments.items():
        assert after.get(path) == size, f"{path} was removed or changed by the guarded prune"
    assert compacted.returncode in (0, 2)  # whatever borg says, nothing may disappear

    again = lab.run_as_cron("nas", guard, user="borg")
    assert again.returncode == 3  # it keeps refusing until someone decides

    ack = guard.replace("prune-guard client1", "prune-guard --acknowledge client1")
    acknowledged = lab.run_as_cron("nas", ack, user="borg")
    assert acknowledged.returncode == 0, acknowledged.stderr
    resumed = lab.run_as_cron("nas", guard, user="borg")
    assert resumed.returncode == 0, resumed.stderr
    owners = lab.run("nas", "find /srv/backups ! -user borg", check=True).stdout
    assert owners == b"", owners


def assert_repository_key_was_exported(lab, operator, output: str) -> None:
    """Without key and passphrase a repository is lost: the key is exported at init, stored
    on the operator's side, and the output says where."""
    secrets = operator.secrets()
    exported = secrets["repokey:nas/client1"]
    header, *body = exported.strip().splitlines()
    assert header.startswith("BORG_KEY ")
    config = configparser.ConfigParser()
    config.read_string(lab.read_file("nas", "/srv/backups/client1/config").decode())
    assert "".join(body) == "".join(config["repository"]["key"].split())
    assert header.split()[1] == config["repository"]["id"]
    assert "repokey:nas/client1" in output and "secrets.json" in output
