"""The rest of a fleet's life on the lab: restore a file, restore drills, rotate a key,
recover after a refusal, retire a client.

One lab for the module (tests run in file order, each on its own client, so sharing is
safe): client1 (root, borgmatic 1.7) restores and is drilled, client2 (user, borgmatic 2)
is retired, client3 (user, borgmatic 2) gets a new key, client4 (root, borgmatic 1.7) is
attacked and rolled back. Every test asserts on what landed on disk and what borg itself
says, not only on exit codes.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import tempfile
from pathlib import Path

import pytest
import yaml

from tests.e2e.helpers import (
    BORG_HOME,
    BORG_USER,
    REPO_ROOT,
    client_borg,
    crontab_commands,
    inventory_text,
    login_of,
    make_operator,
    repository_url,
    run_checked,
    run_cron_command,
    server_borg,
)
from wizard.artefacts.authorized_keys import parse_authorized_keys_block
from wizard.artefacts.layout import client_paths
from wizard.lab import start_lab
from wizard.lab.receiver import NotificationReceiver

pytestmark = pytest.mark.lab

CLIENTS = [
    ("client1", "root", "1.7"),
    ("client2", "user", "2"),
    ("client3", "user", "2"),
    ("client4", "root", "1.7"),
]
AUTHORIZED_KEYS = f"{BORG_HOME}/.ssh/authorized_keys"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """Applied with a restore drill scheduled and a webhook; two backups per client, the
    first scheduled guard run recorded."""
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    base = Path(tempfile.mkdtemp(prefix="borgkeep-lab-lifecycle-", dir="/var/tmp"))
    lab = start_lab(base=base, clients=CLIENTS)
    receiver = NotificationReceiver().start()
    try:
        with pytest.MonkeyPatch.context() as patch:
            for key, value in lab.env().items():
                patch.setenv(key, value)
            operator = make_operator(lab, tmp_path_factory.mktemp("lifecycle-operator"))
            data = yaml.safe_load(inventory_text(lab))
            data["server"]["drill_schedule"] = "15 13 * * *"
            data["alerts"] = {"webhook": receiver.url("/hook")}
            operator.write_inventory(yaml.safe_dump(data, sort_keys=False))
            applied = operator.run("apply", "--yes", "--no-verify")
            assert applied.returncode == 0, applied.describe()
            for name, _, _ in CLIENTS:
                _write(lab, name, "first.txt", os.urandom(50_000))
                _backup(lab, name)
                _guard(lab, name)
            yield lab, operator, receiver
    finally:
        receiver.stop()
        lab.stop()


def _data_dir(lab, client: str) -> str:
    return lab.hosts[client].source_directories[0]


def _write(lab, client: str, name: str, content: bytes) -> str:
    path = f"{_data_dir(lab, client)}/{name}"
    lab.write_file(client, path, content, mode=0o640, user=login_of(lab, client))
    return path


def _backup(lab, client: str) -> None:
    user = login_of(lab, client)
    (command,) = [c for c in crontab_commands(lab, client, user) if "borgmatic" in c]
    run_cron_command(lab, client, command, user)


def _server_job(lab, words: str) -> str:
    (command,) = [c for c in crontab_commands(lab, "nas", BORG_USER) if words in c]
    return command


def _guard(lab, client: str, expect: int = 0):
    result = lab.run_as_cron("nas", _server_job(lab, f" prune {client} "), user=BORG_USER)
    assert result.returncode == expect, result.stderr.decode()
    return result


def _names(lab, client: str) -> list[str]:
    listed = server_borg(lab, client, f"list --json {REPO_ROOT}/{client}")
    assert listed.returncode == 0, listed.stderr
    return [archive["name"] for archive in json.loads(listed.stdout)["archives"]]


def _kept_archives(lab, operator, client: str) -> list[str]:
    """The archives of a retired client's repository, read on the server with the
    passphrase the operator's secrets store kept (the server's copy is gone)."""
    passphrase = operator.passphrases()[f"passphrase:nas/{client}"]
    listed = lab.run(
        "nas",
        f"BORG_PASSCOMMAND=cat borg list --json {REPO_ROOT}/{client}",
        user=BORG_USER,
        input=passphrase + "\n",
    )
    assert listed.returncode == 0, listed.stderr
    return [archive["name"] for archive in json.loads(listed.stdout)["archives"]]


def _key_lines(lab) -> dict[str, str]:
    return parse_authorized_keys_block((lab.read_file("nas", AUTHORIZED_KEYS) or b"").decode())


def _try_key(lab, client: str, key: str) -> bytes:
    """ssh to the borg user with the copied `key` and pin on `client` (refused: 'Permission
    denied')."""
    ssh = [
        "ssh",
        "-i",
        key,
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        f"UserKnownHostsFile={key}.pin",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        "-p",
        str(lab.server.port),
        f"{BORG_USER}@127.0.0.1",
        "true",
    ]
    result = lab.run(client, shlex.join(ssh) + " </dev/null", user=login_of(lab, client))
    return result.stderr


def _keep_a_copy_of_the_key(lab, client: str) -> str:
    """The attacker's (or an old backup's) copy of the client's current private key, and of
    its pin of the server's host key (`KEY.pin`)."""
    paths = client_paths(client, lab.hosts[client].home, lab.hosts[client].login == "root")
    copy = f"{lab.hosts[client].home}/stolen_key"
    run_checked(
        lab,
        client,
        f"cp {paths.key} {copy} && chmod 600 {copy} && cp {paths.known_hosts} {copy}.pin",
        login_of(lab, client),
    )
    return copy


# --- restore ------------------------------------------------------------------------------


def test_a_deleted_file_comes_back_byte_identical_from_the_newest_archive(fleet):
    lab, operator, _ = fleet
    content = os.urandom(123_457)
    path = _write(lab, "client1", "report.bin", content)
    _backup(lab, "client1")
    run_checked(lab, "client1", f"rm {path}")
    assert operator.run("restore", "client1", "etc/passwd").returncode == 1
    assert operator.run("restore", "client1", f"{path}/../x").returncode == 1
    into_root = operator.run("restore", "client1", path, "--to", "/", "--yes")
    assert into_root.returncode == 1 and "--overwrite" in into_root.stderr
    restored = operator.run("restore", "client1", path, "--yes")
    assert restored.returncode == 0, restored.describe()
    assert "restore " + path in restored.stdout and "into the new directory" in restored.stdout
    (line,) = [ln for ln in restored.stdout.splitlines() if "client1: restored: " in ln]
    landed = line.split("restored: ", 1)[1].split(" (", 1)[0]
    assert landed.startswith("/var/tmp/borgkeep-restore-client1-") and landed.endswith(path)
    assert lab.read_file("client1", landed) == content
    assert lab.read_file("client1", path) is None  # the live file was not touched
    in_place = operator.run("restore", "client1", path, "--to", "/", "--overwrite", "--yes")
    assert in_place.returncode == 0, in_place.describe()
    assert lab.read_file("client1", path) == content


# --- restore drills -----------------------------------------------------------------------


def test_the_restore_drill_passes_on_healthy_repositories(fleet):
    lab, operator, receiver = fleet
    receiver.take()
    drill = lab.run_as_cron("nas", _server_job(lab, " drill"), user=BORG_USER)
    assert drill.returncode == 0, drill.stderr.decode()
    assert not [n for n in receiver.take() if n.path == "/hook"]
    status = json.loads(operator.run("status", "--json").stdout)
    for client in status["clients"]:
        drilled = client["guard"]["last_drill"]
        assert drilled["status"] == "ok", client
        assert drilled["archive"].startswith(client["name"] + "-") and drilled["time"]
    text = operator.run("status").stdout
    # "0 min ago" unless the machine is slow enough that a minute passed since the drill
    assert re.search(r"client1: last restore drill: [01] min ago, ok \(client1-", text), text


def test_the_restore_drill_fails_and_alerts_when_a_segment_is_corrupted(fleet):
    lab, operator, receiver = fleet
    segments = f"{REPO_ROOT}/client1/data"
    before = set(run_checked(lab, "nas", f"find {segments} -type f").split())
    _write(lab, "client1", "fresh.bin", os.urandom(300_000))
    _backup(lab, "client1")
    new = set(run_checked(lab, "nas", f"find {segments} -type f").split()) - before
    biggest = max(new, key=lambda p: int(run_checked(lab, "nas", f"stat -c %s {p}")))
    run_checked(
        lab,
        "nas",
        f"printf 'BORGKEEP-CORRUPTION-TEST' | dd of={biggest} bs=1 seek=5000 conv=notrunc",
    )
    receiver.take()
    drill = lab.run_as_cron("nas", _server_job(lab, " drill"), user=BORG_USER)
    assert drill.returncode == 3, drill.stderr.decode()
    assert "client1: restore drill FAILED" in drill.stderr.decode()
    hooks = [n.json for n in receiver.take() if n.path == "/hook"]
    assert [(h["client"], h["state"]) for h in hooks] == [("client1", "drill_failed")]
    status = json.loads(operator.run("status", "--json").stdout)
    client1 = next(c for c in status["clients"] if c["name"] == "client1")
    assert client1["guard"]["last_drill"]["status"] == "failed"
    assert client1["state"] == "error" and "restore drill failed" in " ".join(client1["problems"])


# --- rotate a key -------------------------------------------------------------------------


def test_rotating_a_key_refuses_the_old_one_and_backs_up_with_the_new_one(fleet):
    lab, operator, _ = fleet
    old_lines = _key_lines(lab)
    stolen = _keep_a_copy_of_the_key(lab, "client3")
    rotated = operator.run("rotate-key", "client3", "--yes")
    assert rotated.returncode == 0, rotated.describe()
    assert "<public key of client3: generated on client3 during apply>" in rotated.stdout
    assert "client3: old key refused: " in rotated.stdout
    assert "client3: new key works: " in rotated.stdout
    new_lines = _key_lines(lab)
    assert new_lines["client3"] != old_lines["client3"]
    assert {k: v for k, v in new_lines.items() if k != "client3"} == {
        k: v for k, v in old_lines.items() if k != "client3"
    }
    assert b"Permission denied" in _try_key(lab, "client3", stolen)
    before = _names(lab, "client3")
    _backup(lab, "client3")
    assert len(_names(lab, "client3")) == len(before) + 1
    home = lab.hosts["client3"].home
    leftovers = run_checked(lab, "client3", f"ls {home}/.ssh").split()
    assert not [name for name in leftovers if name.endswith((".rotating", ".rotating.pub"))]
    assert operator.run("plan").returncode == 0


# --- recover after a refusal --------------------------------------------------------------


def test_a_rollback_brings_two_deleted_archives_back(fleet):
    lab, operator, _ = fleet
    url = repository_url(lab, "client4")
    made = client_borg(lab, "client4", f"create {url}::client4-second /srv/data")
    assert made.returncode == 0, made.stderr
    _guard(lab, "client4")
    victims = _names(lab, "client4")[:2]
    for name in victims:
        deleted = client_borg(lab, "client4", f"delete {url}::{name}")
        assert deleted.returncode == 0, deleted.stderr
    _guard(lab, "client4", expect=3)
    shown = operator.run("recover", "client4")
    assert shown.returncode == 2, shown.describe()
    assert "2 recorded archive(s) vanished" in shown.stdout
    assert all(name in shown.stdout for name in victims) and "first seen" in shown.stdout
    rolled = operator.run("recover", "client4", "--rollback", "--yes")
    assert rolled.returncode == 0, rolled.describe()
    assert f"kept the repository as it was in {REPO_ROOT}/.client4.rollback-" in rolled.stdout
    assert set(victims) <= set(_names(lab, "client4"))
    for name in victims:
        extracted = client_borg(lab, "client4", f"extract --dry-run {url}::{name}")
        assert extracted.returncode == 0, extracted.stderr
    _guard(lab, "client4")
    _backup(lab, "client4")
    status = json.loads(operator.run("status", "--json").stdout)
    assert next(c for c in status["clients"] if c["name"] == "client4")["state"] == "ok"


def test_recover_refuses_to_roll_back_over_a_compact(fleet):
    lab, operator, _ = fleet
    url = repository_url(lab, "client4")
    victim = _names(lab, "client4")[0]  # recorded by the last guard run
    deleted = client_borg(lab, "client4", f"delete {url}::{victim}")
    assert deleted.returncode == 0, deleted.stderr
    _guard(lab, "client4", expect=3)
    compacted = server_borg(lab, "client4", f"compact {REPO_ROOT}/client4")
    assert compacted.returncode == 0, compacted.stderr
    refused = operator.run("recover", "client4", "--rollback", "--yes")
    assert refused.returncode == 1, refused.describe()
    assert "compact" in refused.stderr and "refusing to roll back" in refused.stderr
    acknowledged = operator.run("recover", "client4", "--acknowledge", "--yes")
    assert acknowledged.returncode == 0, acknowledged.describe()
    _guard(lab, "client4")


# --- retire a client ----------------------------------------------------------------------


def test_removing_a_client_shows_the_diffs_and_touches_no_other_line(fleet):
    lab, operator, _ = fleet
    before = lab.read_file("nas", AUTHORIZED_KEYS).decode()
    others = {k: v for k, v in _key_lines(lab).items() if k != "client2"}
    stolen = _keep_a_copy_of_the_key(lab, "client2")
    shown = operator.run("remove", "client2", "--json")
    assert shown.returncode == 2, shown.describe()
    changes = {(c["host"], c["action"], c["path"]) for c in json.loads(shown.stdout)["changes"]}
    assert ("nas", "update", AUTHORIZED_KEYS) in changes
    assert ("nas", "delete", f"{BORG_HOME}/.config/borgkeep/prune-client2.yaml") in changes
    assert ("client2", "delete", "/home/bk-client2/.ssh/borgkeep_ed25519") in changes
    assert "<secret: removed>" in shown.stdout
    assert not [value for value in operator.passphrases().values() if value in shown.stdout]
    removed = operator.run("remove", "client2", "--yes")
    assert removed.returncode == 0, removed.describe()
    after = lab.read_file("nas", AUTHORIZED_KEYS).decode()
    for line in others.values():
        assert line in after and after.count(line) == before.count(line)
    assert "client2" not in _key_lines(lab) and "borgkeep:client2" not in after
    assert b"Permission denied" in _try_key(lab, "client2", stolen)
    assert not [c for c in crontab_commands(lab, "nas", BORG_USER) if "client2" in c]
    assert crontab_commands(lab, "client2", "bk-client2") == []
    assert _kept_archives(lab, operator, "client2"), "the repository and archives are kept"
    assert "client2" not in operator.inventory.read_text()
    typo = operator.run("remove", "client2", "--purge-repository", "client3", "--yes")
    assert typo.returncode == 1 and "must repeat" in typo.stderr
    assert _kept_archives(lab, operator, "client2")
    record = f"{BORG_HOME}/.config/borgkeep/client2.status.json"
    assert lab.read_file("nas", record) is not None  # an earlier status recorded client2
    purged = operator.run("remove", "client2", "--purge-repository", "client2", "--yes")
    assert purged.returncode == 0, purged.describe()
    assert lab.run("nas", ["test", "-e", f"{REPO_ROOT}/client2"]).returncode != 0
    state = f"{BORG_HOME}/.config/borgkeep/client2.guard.json"
    assert lab.read_file("nas", state) is None
    assert lab.read_file("nas", record) is None
    assert not [name for name in operator.secrets() if name.endswith("/client2")]
    assert operator.run("plan").returncode == 0
