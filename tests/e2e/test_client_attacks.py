"""A compromised client (root on it) attacks what Borgkeep reads from it and writes for it:
its public key, the content of its files, and the server's disk. And a hand-written line
in the borg user's authorized_keys that would undo a pin.

After each: the operator was told (exit 1, a line naming the client, or a verify failure
naming the line), nothing on any host changed, and once the attack is cleaned up the next
plan converges.
"""

from __future__ import annotations

import json

import pytest

from tests.e2e.helpers import (
    BORG_HOME,
    BORG_USER,
    client_borg,
    fleet_stamps,
    inventory_text,
    make_operator,
    repository_url,
    run_checked,
)

pytestmark = pytest.mark.lab

AUTHORIZED_KEYS = f"{BORG_HOME}/.ssh/authorized_keys"
CLIENTS = ["client1", "client2"]


@pytest.fixture(scope="module")
def applied(module_lab, tmp_path_factory):
    operator = make_operator(module_lab, tmp_path_factory.mktemp("client-attacks"))
    text = inventory_text(module_lab)
    operator.write_inventory(
        text.replace("source_directories:", "quota: 20M\n  source_directories:", 1)
    )
    result = operator.run("apply", "--yes", "--no-verify")
    assert result.returncode == 0, result.describe()
    return module_lab, operator


def _public_key_path(lab, client: str) -> str:
    return f"{lab.hosts[client].home}/.ssh/borgkeep_ed25519.pub"


@pytest.mark.parametrize(
    ("forged", "words"),
    [
        ("copy of client2", "is the same as client client2's"),
        ("a real RSA key", "is not an ed25519 key"),
        ('command="/bin/sh" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 x', "not supported"),
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBAD\nsecond line", "is invalid"),
    ],
    ids=["duplicate", "rsa", "options", "two-lines"],
)
def test_a_hostile_public_key_is_refused_and_nothing_is_written(applied, forged, words):
    lab, operator = applied
    path = _public_key_path(lab, "client1")
    original = lab.read_file("client1", path)
    if forged == "copy of client2":
        forged = (lab.read_file("client2", _public_key_path(lab, "client2")) or b"").decode()
    elif forged == "a real RSA key":
        run_checked(lab, "client1", "ssh-keygen -q -t rsa -b 2048 -N '' -f /root/rsa-attack")
        forged = run_checked(lab, "client1", "cat /root/rsa-attack.pub")
    lab.write_file("client1", path, forged, mode=0o644)
    before = fleet_stamps(lab, CLIENTS)
    try:
        result = operator.run("apply", "--yes")
        assert result.returncode == 1, result.describe()
        assert "client1: refused" in result.stderr and words in result.stderr, result.stderr
        assert fleet_stamps(lab, CLIENTS) == before
    finally:
        lab.write_file("client1", path, original or b"", mode=0o644)
    assert operator.run("plan").returncode == 0


def test_a_shadowing_line_written_by_the_borg_user_is_named_by_plan_and_fails_verify(applied):
    lab, operator = applied
    key = (lab.read_file("client1", _public_key_path(lab, "client1")) or b"").decode().split()
    original = lab.read_file("nas", AUTHORIZED_KEYS) or b""
    shadow = f"{key[0]} {key[1]} client1-by-hand\n".encode()
    lab.write_file("nas", AUTHORIZED_KEYS, shadow + original, mode=0o600, user=BORG_USER)
    try:
        planned = operator.run("plan")
        assert "line 1 carries the key of client client1 with no forced command" in planned.stdout
        verified = operator.run("verify")
        assert verified.returncode == 1, verified.describe()
        assert "✗ nas: authorized_keys has no line that undoes the pins — line 1" in verified.stdout
    finally:
        lab.write_file("nas", AUTHORIZED_KEYS, original, mode=0o600, user=BORG_USER)
    assert operator.run("plan").returncode == 0


def test_escape_sequences_in_a_client_file_reach_the_operator_escaped(applied):
    lab, operator = applied
    config = "/etc/borgkeep/borgkeep-client1.yaml"
    original = lab.read_file("client1", config) or b""
    hostile = original + b"# \x1b[2J\x1b[1;1Hnothing to see\x07\x1b]0;owned\x07\n"
    lab.write_file("client1", config, hostile, mode=0o600)
    try:
        planned = operator.run("plan")
        as_json = operator.run("plan", "--json")
        for output in (planned.stdout, as_json.stdout):
            assert "\x1b" not in output and "\x07" not in output
        assert "\\x1b[2J" in planned.stdout
        diffs = [c["diff"] for c in json.loads(as_json.stdout)["changes"]]
        assert any("\\x1b]0;owned\\x07" in diff for diff in diffs)
    finally:
        lab.write_file("client1", config, original, mode=0o600)
    assert operator.run("plan").returncode == 0


def test_a_client_cannot_fill_the_disk_beyond_its_quota(applied):
    """Borg refuses every write past the quota; a refused transaction's data stays on disk
    only until the next write starts (which removes it), so attempts cannot pile up."""
    lab, operator = applied
    line = next(
        ln
        for ln in (lab.read_file("nas", AUTHORIZED_KEYS) or b"").decode().splitlines()
        if ln.endswith("borgkeep:client1")
    )
    assert "--storage-quota 20M" in line and "borgkeep:client2" not in line
    filler = 30_000_000
    run_checked(lab, "client1", f"head -c {filler} /dev/urandom > /srv/filler.bin")
    url = repository_url(lab, "client1")
    usage = []
    try:
        for attempt in range(3):
            flooded = client_borg(
                lab, "client1", f"create {url}::client1-flood{attempt} /srv/filler.bin"
            )
            assert flooded.returncode != 0
            assert b"quota" in flooded.stderr.lower(), flooded.stderr
            usage.append(int(run_checked(lab, "nas", "du -sb /srv/backups/client1").split()[0]))
    finally:
        run_checked(lab, "client1", "rm -f /srv/filler.bin")
    listed = client_borg(lab, "client1", f"list --short {url}")
    assert b"flood" not in listed.stdout
    assert max(usage) < 20_000_000 + filler + 2_000_000, usage
    assert usage[2] < usage[0] + 2_000_000, usage  # no pile-up across attempts
