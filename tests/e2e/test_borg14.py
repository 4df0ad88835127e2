"""Borg 1.4 (built from PyPI's source release) in the lab, mixed with Debian's Borg 1.2.

A host on 1.4 has only the venv's borg: `/usr/bin/borg` is hidden in its mount namespace,
so cron's `PATH=/usr/bin:/bin` finds no borg at all. Everything Borgkeep schedules or
forces must therefore run the borg the facts found, by its absolute path: the client's
borgmatic (`local_path`), the server's forced command, the guard and its prune job.

The story on each lab: apply, a backup as cron runs it, the server's prune through the
guard, a delete through the client's key that keeps every segment and makes the guard
refuse.
"""

from __future__ import annotations

import pytest

from tests.e2e.helpers import (
    BORG_HOME,
    BORG_USER,
    client_borg,
    crontab_commands,
    inventory_text,
    login_of,
    make_operator,
    repository_url,
    run_cron_command,
    segment_sizes,
)
from wizard.lab import start_lab
from wizard.lab.tools import BORG14_VENV

pytestmark = pytest.mark.lab

BORG14 = str(BORG14_VENV / "bin" / "borg")


def _lab(tmp_path, **options):
    lab = start_lab(base=tmp_path / "lab", **options)
    patch = pytest.MonkeyPatch()
    for key, value in lab.env().items():
        patch.setenv(key, value)
    return lab, patch


def _cron_finds_no_borg(lab, host: str) -> None:
    found = lab.run_as_cron(host, "command -v borg || echo none")
    assert found.stdout.decode().strip() == "none", found.stdout


def _backup(lab, client: str) -> None:
    user = login_of(lab, client)
    (command,) = [c for c in crontab_commands(lab, client, user) if "borgmatic" in c]
    run_cron_command(lab, client, command, user)


def _guard(lab, client: str) -> str:
    (command,) = [c for c in crontab_commands(lab, "nas", BORG_USER) if f" prune {client} " in c]
    return command


def _delete_is_refused_and_keeps_segments(lab, client: str) -> None:
    url = repository_url(lab, client)
    first = lab.run_as_cron("nas", _guard(lab, client), user=BORG_USER)
    assert first.returncode == 0, first.stderr.decode()
    segments = segment_sizes(lab, client)
    names = client_borg(lab, client, f"list --short {url}").stdout.decode().split()
    deleted = client_borg(lab, client, f"delete {url}::{names[0]}")
    assert deleted.returncode == 0, deleted.stderr
    refused = lab.run_as_cron("nas", _guard(lab, client), user=BORG_USER)
    assert refused.returncode == 3 and names[0].encode() in refused.stderr, refused.stderr
    after = segment_sizes(lab, client)
    assert all(after.get(path) == size for path, size in segments.items())


def test_a_client_whose_only_borg_is_borg_1_4_in_a_venv(tmp_path):
    lab, patch = _lab(tmp_path, clients=[("new", "root", "1.7", "1.4"), ("old", "user", "2")])
    try:
        _cron_finds_no_borg(lab, "new")
        operator = make_operator(lab, tmp_path / "operator")
        operator.write_inventory(inventory_text(lab))
        planned = operator.run("plan")
        assert (
            f"new: cron's PATH (/usr/bin:/bin) finds no borg, the login finds {BORG14}"
            in planned.stdout
        ), planned.describe()
        assert f"local_path: {BORG14}" in planned.stdout
        applied = operator.run("apply", "--yes")
        assert applied.returncode == 0, applied.describe()
        config = (lab.read_file("new", "/etc/borgkeep/borgkeep-new.yaml") or b"").decode()
        assert f"local_path: {BORG14}" in config
        _backup(lab, "new")  # PATH=/usr/bin:/bin: only the absolute path can find borg 1.4
        _backup(lab, "old")
        version = lab.run("new", [BORG14, "--version"]).stdout.decode()
        assert version.startswith("borg 1.4"), version
        _delete_is_refused_and_keeps_segments(lab, "new")
        assert operator.run("plan").returncode == 0
    finally:
        lab.stop()
        patch.undo()


def test_a_server_whose_only_borg_is_borg_1_4_with_clients_on_both(tmp_path):
    lab, patch = _lab(
        tmp_path,
        clients=[("c12", "root", "1.7"), ("c14", "user", "2", "1.4")],
        server_borg="1.4",
    )
    try:
        _cron_finds_no_borg(lab, "nas")
        operator = make_operator(lab, tmp_path / "operator")
        operator.write_inventory(inventory_text(lab))
        applied = operator.run("apply", "--yes")
        assert applied.returncode == 0, applied.describe()
        keys = (lab.read_file("nas", f"{BORG_HOME}/.ssh/authorized_keys") or b"").decode()
        pinned = [line for line in keys.splitlines() if "borgkeep:" in line]
        assert len(pinned) == 2
        assert all(line.startswith(f'command="{BORG14} serve --append-only') for line in pinned)
        prune = lab.read_file("nas", f"{BORG_HOME}/.config/borgkeep/prune-c12.yaml") or b""
        assert f"local_path: {BORG14}".encode() in prune
        guard = (lab.read_file("nas", f"{BORG_HOME}/.config/borgkeep/guard.py") or b"").decode()
        assert f'"borg": "{BORG14}"' in guard
        for client in ("c12", "c14"):
            _backup(lab, client)
        for client in ("c12", "c14"):
            _delete_is_refused_and_keeps_segments(lab, client)
        verified = operator.run("verify")
        assert "✗ nas: the guard's check for c12" in verified.stdout, verified.describe()
    finally:
        lab.stop()
        patch.undo()
