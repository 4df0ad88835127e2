"""The repository key is protected state (issue 22), on Borg 1.2 and 1.4.

A compromised client rewrites its repository's key through its own `borg serve
--append-only` key — `borg key change-passphrase`, `borg key import` of another
repository's key with the `BORG_KEY` header edited to this repository's id. Each time: the guard's
scheduled prune refuses (exit 3, one line naming the client and the key), `status` says
refused, `plan` shows the restoration, `apply` puts the key back from the server's copy,
every archive lists again with the client's own passphrase, the client backs up from cron,
the guard's next run is clean and a second plan is empty.
"""

from __future__ import annotations

import json
import os
import shlex
import tempfile
from pathlib import Path

import pytest
import yaml

from tests.e2e.helpers import (
    BORG_USER,
    REPO_ROOT,
    client_borg,
    client_borg_env,
    crontab_commands,
    inventory_text,
    login_of,
    make_operator,
    repository_url,
    run_checked,
    run_cron_command,
    segment_sizes,
)
from wizard.lab import start_lab
from wizard.lab.receiver import NotificationReceiver

pytestmark = pytest.mark.lab

ATTACKS = ("chpass", "forged")


@pytest.fixture(scope="module", params=["1.2", "1.4"], ids=["borg-1.2", "borg-1.4"])
def fleet(request, tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    borg = request.param
    base = Path(tempfile.mkdtemp(prefix="borgkeep-lab-key-", dir="/var/tmp"))
    clients = [("chpass", "root", "1.7", borg), ("forged", "user", "2", borg)]
    lab = start_lab(base=base, clients=clients, server_borg=borg)
    receiver = NotificationReceiver().start()
    try:
        with pytest.MonkeyPatch.context() as patch:
            for key, value in lab.env().items():
                patch.setenv(key, value)
            operator = make_operator(lab, tmp_path_factory.mktemp(f"key-operator-{borg}"))
            data = yaml.safe_load(inventory_text(lab))
            data["alerts"] = {"webhook": receiver.url("/hook")}
            operator.write_inventory(yaml.safe_dump(data, sort_keys=False))
            applied = operator.run("apply", "--yes", "--no-verify")
            assert applied.returncode == 0, applied.describe()
            for client in ATTACKS:
                _backup(lab, client)
                first = _guard(lab, client)
                assert first.returncode == 0, first.stderr.decode()
            yield lab, operator, receiver
    finally:
        receiver.stop()
        lab.stop()


def _backup(lab, client: str) -> None:
    user = login_of(lab, client)
    (command,) = [c for c in crontab_commands(lab, client, user) if "borgmatic" in c]
    done = run_cron_command(lab, client, command, user)
    assert done.returncode == 0, done.stderr


def _guard(lab, client: str):
    (command,) = [c for c in crontab_commands(lab, "nas", BORG_USER) if f" prune {client} " in c]
    return lab.run_as_cron("nas", command, user=BORG_USER)


def _names(lab, client: str) -> list[str]:
    listed = client_borg(lab, client, f"list --short {repository_url(lab, client)}")
    assert listed.returncode == 0, listed.stderr
    return listed.stdout.decode().split()


def _on_client(lab, client: str, script: str):
    return lab.run(client, script, user=login_of(lab, client))


def _change_passphrase(lab, client: str) -> None:
    url = shlex.quote(repository_url(lab, client))
    changed = _on_client(
        lab,
        client,
        f"{client_borg_env(lab, client)} BORG_NEW_PASSPHRASE=attacker "
        f"borg key change-passphrase {url}",
    )
    assert changed.returncode == 0, changed.stderr


def _import_forged_key(lab, client: str) -> None:
    """Another repository's key, its header edited to this repository's id (all Borg
    checks)."""
    url = shlex.quote(repository_url(lab, client))
    env = client_borg_env(lab, client)
    script = (
        "set -eu\nt=$(mktemp -d)\n"
        f'id=$({env} borg key export {url} - | head -n1 | cut -d" " -f2)\n'
        'BORG_PASSPHRASE=other borg init -e repokey-blake2 "$t/other" >/dev/null 2>&1\n'
        'BORG_PASSPHRASE=other borg key export "$t/other" "$t/k"\n'
        'sed -i "1s/.*/BORG_KEY $id/" "$t/k"\n'
        f'{env} borg key import {url} "$t/k"\n'
        'rm -rf "$t"\n'
    )
    imported = _on_client(lab, client, script)
    assert imported.returncode == 0, imported.stderr


def _attack(lab, client: str) -> None:
    if client == "chpass":
        _change_passphrase(lab, client)
    else:
        _import_forged_key(lab, client)


@pytest.mark.parametrize("client", ATTACKS)
def test_a_rewritten_key_is_refused_then_put_back_by_apply(fleet, client):
    lab, operator, receiver = fleet
    names = _names(lab, client)
    assert names, "the fixture made archives"
    segments = segment_sizes(lab, client)
    _attack(lab, client)

    receiver.take()
    refused = _guard(lab, client)
    stderr = refused.stderr.decode()
    assert refused.returncode == 3, stderr
    assert f"borgkeep-guard: {client}: REFUSING to prune" in stderr
    assert ("key in its config was rewritten" in stderr) or ("cannot read it" in stderr), stderr
    assert all(segment_sizes(lab, client).get(p) == s for p, s in segments.items())
    hooks = [n.json for n in receiver.take() if n.path == "/hook"]
    assert [(h["client"], h["state"]) for h in hooks] == [(client, "refused")]

    status = json.loads(operator.run("status", "--json").stdout)
    (entry,) = [c for c in status["clients"] if c["name"] == client]
    assert entry["state"] == "refused", entry

    plan = operator.run("plan")
    assert plan.returncode == 2, plan.describe()
    assert f"restore the repository key of {client}, rewritten through its own key" in plan.stdout

    # The proofs after a restoration run once per Borg version: the forged key's apply runs
    # them, and test_the_server_keeps_a_copy_of_every_key... runs verify after restoring
    # the changed passphrase, the same state this case's apply would prove.
    applied = operator.run("apply", "--yes", *(["--no-verify"] if client == "chpass" else []))
    assert applied.returncode == 0, applied.describe()
    secrets = operator.passphrases()
    for run in operator.runs:
        for value in secrets.values():
            assert value not in run.output

    assert set(names) <= set(_names(lab, client))  # the client's own passphrase opens it
    for name in names:
        extracted = client_borg(
            lab, client, f"extract --dry-run {repository_url(lab, client)}::{shlex.quote(name)}"
        )
        assert extracted.returncode == 0, extracted.stderr
    _backup(lab, client)
    assert len(_names(lab, client)) == len(names) + 1
    clean = _guard(lab, client)
    assert clean.returncode == 0, clean.stderr.decode()
    again = operator.run("plan")
    assert again.returncode == 0, again.describe()


def test_the_server_keeps_a_copy_of_every_key_and_check_refuses_a_rewrite(fleet):
    lab, operator, _ = fleet
    for client in ATTACKS:
        copy = f"/home/{BORG_USER}/.config/borgkeep/{client}.repokey"
        mode = run_checked(lab, "nas", f"stat -c '%a %U' {copy}").split()
        assert mode == ["600", BORG_USER]
        exported = run_checked(lab, "nas", f"cat {copy}", user=BORG_USER)
        assert exported == operator.secrets()[f"repokey:nas/{client}"]
    _change_passphrase(lab, "chpass")
    verify = operator.run("verify")
    assert verify.returncode != 0, verify.describe()
    assert "chpass" in verify.output and "key" in verify.output
    repaired = operator.run("apply", "--yes", "--no-verify")  # the verify below proves it
    assert repaired.returncode == 0, repaired.describe()
    assert "restore the repository key of chpass" in repaired.output
    assert operator.run("verify").returncode == 0


def test_recover_offers_the_same_restoration(fleet, request):
    if request.node.callspec.params["fleet"] != "1.2":
        pytest.skip("the restoration itself is proven on both versions above")
    lab, operator, _ = fleet
    names = _names(lab, "forged")
    _change_passphrase(lab, "forged")
    assert _guard(lab, "forged").returncode == 3
    shown = operator.run("recover", "forged")
    assert "restore the repository key of forged" in shown.output, shown.describe()
    recovered = operator.run("recover", "forged", "--yes")
    assert recovered.returncode == 0, recovered.describe()
    assert set(names) <= set(_names(lab, "forged"))
    clean = _guard(lab, "forged")
    assert clean.returncode == 0, clean.stderr.decode()
    nothing = operator.run("recover", "forged")
    assert nothing.returncode == 0 and "nothing to recover for forged" in nothing.output


def test_a_repository_another_setup_left_is_refused_before_anything_is_written(fleet, request):
    """Issue 25: an existing repository at a new client's path is never given a new
    passphrase beside it; the plan refuses, naming it, and nothing is written anywhere."""
    if request.node.callspec.params["fleet"] != "1.2":
        pytest.skip("one Borg version is enough for the planner's refusal")
    lab, operator, _ = fleet
    lab.add_client("stranger", "root", "1.7")
    repository = f"{REPO_ROOT}/stranger"
    made = lab.run(
        "nas",
        f"BORG_PASSPHRASE=theirs borg init -e repokey-blake2 {repository}",
        user=BORG_USER,
    )
    assert made.returncode == 0, made.stderr
    before = run_checked(lab, "nas", f"sha256sum /home/{BORG_USER}/.ssh/authorized_keys")
    original = operator.inventory.read_text()
    operator.write_inventory(inventory_text(lab))
    try:
        for command in (("plan",), ("apply", "--yes")):
            refused = operator.run(*command)
            assert refused.returncode == 1, refused.describe()
            assert f"stranger: a Borg repository already exists at {repository}" in refused.output
        assert (
            run_checked(lab, "nas", f"sha256sum /home/{BORG_USER}/.ssh/authorized_keys") == before
        )
        leftovers = lab.run(
            "stranger", "ls /etc/borgkeep/borgkeep-stranger.yaml /root/.ssh/borgkeep_ed25519"
        )
        assert leftovers.returncode != 0, leftovers.stdout
    finally:
        operator.write_inventory(original)
