"""A repository adopted where it already was, outside the server's repo_root, against real
borg 1.2 and borgmatic 2 with the rendered one-file guard.

The repository (`{lab}/data/zfs/backups/oldhost`) held archives named `oldhost-...` long
before the guard existed; the client is `host1`, with its own `repository` and that old
prefix in CONFIG. `init` takes every archive as the baseline, prune removes the old ones by
the prefix while the repository is hidden beside itself (`.oldhost.borgkeep-guard` in the
same parent) and puts it back; status, check, restore-key, drill and rollback all work on
it where it is.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.guard_lab import (
    CLIENT,
    RETENTION,
    GuardLab,
    copy_repository,
    day_at,
    describe,
    stamp,
)
from tests.real_tools import BORG, BORGMATIC_BINARIES, missing
from wizard.artefacts.borgmatic_server import render_server_prune_config

OLD_PREFIX = "oldhost-"
OLD_DAYS = (8, 6, 5, 4, 2, 1)
OLD = [f"{OLD_PREFIX}{stamp(day_at(days))}" for days in OLD_DAYS]
MANUAL = f"manual-{stamp(day_at(7))}"
"""An archive the old setup made by hand: not the client's prefix, so prune never touches it."""
KEPT = OLD[-3:]  # keep_daily 3: the three newest days


class AdoptedLab(GuardLab):
    """The guard lab with host1's repository outside repo_root, under another name."""

    def __post_init__(self) -> None:
        self.repo.parent.mkdir(parents=True)
        super().__post_init__()

    @property
    def repo(self) -> Path:
        return self.root / "data" / "zfs" / "backups" / "oldhost"

    @property
    def hidden(self) -> Path:
        return self.repo.parent / ".oldhost.borgkeep-guard"

    def config(self, **overrides) -> dict:
        config = super().config()
        config["clients"][CLIENT] |= {"prefix": OLD_PREFIX, "repository": str(self.repo)}
        return config | overrides

    def write_prune_config(self) -> None:
        self.prune_config.write_text(
            render_server_prune_config(
                borgmatic_version=self.borgmatic_version,
                borg_path=BORG,
                client_name=OLD_PREFIX.rstrip("-"),  # its glob: sh:oldhost-*
                repository_path=str(self.repo),
                passphrase_file=str(self.passphrase_file),
                retention=RETENTION,
            )
        )


def _borgmatic() -> str:
    variable, default = BORGMATIC_BINARIES["2"]
    borgmatic = os.environ.get(variable, default)
    if not os.access(BORG, os.X_OK) or not os.access(borgmatic, os.X_OK):
        missing("borg and borgmatic 2 are needed")
    return borgmatic


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The old repository with its archives, made through the client's forced command
    before any guard existed; each test works on its own copy."""
    lab = AdoptedLab(tmp_path_factory.mktemp("template"), _borgmatic(), "2.1.10")
    source = lab.root / "source"
    source.mkdir()
    (source / "notes.txt").write_text("made by the old setup\n")
    lab.client_borg("init", "--encryption", "repokey-blake2", "REPO")
    for name, days in [*zip(OLD, OLD_DAYS, strict=True), (MANUAL, 7)]:
        (source / f"day-{days}.bin").write_bytes(os.urandom(40_000))
        lab.client_borg("create", "--timestamp", stamp(day_at(days)), f"REPO::{name}", str(source))
    return lab.repo


@pytest.fixture
def lab(tmp_path: Path, template: Path) -> AdoptedLab:
    """A copy of the old repository where it was; nothing recorded yet."""
    lab = AdoptedLab(tmp_path, _borgmatic(), "2.1.10")
    copy_repository(template, lab)
    assert not lab.repo.is_relative_to(lab.repo_root) and not lab.state_file.exists()
    return lab


def _init(lab: AdoptedLab) -> None:
    result = lab.run_guard("init", CLIENT)
    assert result.returncode == 0, describe(result)
    assert f"recorded a baseline of {len(OLD) + 1} archive(s) in {lab.repo}" in result.stdout


def _spy_borgmatic(lab: AdoptedLab) -> Path:
    """A borgmatic that notes where the repository is, then runs the real one."""
    log = lab.root / "spy.log"
    spy = lab.root / "spy-borgmatic"
    spy.write_text(
        "#!/bin/sh\n"
        f"if [ -d '{lab.hidden}' ] && [ ! -e '{lab.repo}' ]; then w=hidden; else w=in-place; fi\n"
        f"echo \"$w $1\" >> '{log}'\n"
        f'exec {lab.borgmatic} "$@"\n'
    )
    spy.chmod(0o700)
    lab.render(borgmatic=str(spy))
    return log


def test_init_takes_every_old_archive_and_prune_removes_the_old_ones_by_their_prefix(lab):
    _init(lab)
    recorded = sorted(entry["name"] for entry in lab.state()["archives"].values())
    assert recorded == sorted([*OLD, MANUAL]) == lab.names()
    assert (lab.state_dir / f"{CLIENT}.repokey").read_text() == lab.server_borg(
        "key", "export", str(lab.repo), "-"
    ).stdout

    check = lab.run_guard("check", CLIENT)
    assert check.returncode == 0, describe(check)
    assert f"check {lab.repo}: ok; {len(OLD) + 1} archive(s)" in check.stdout

    log = _spy_borgmatic(lab)
    pruned = lab.run_guard("prune", CLIENT)
    assert pruned.returncode == 0, describe(pruned)
    assert f"pruned {lab.repo}: removed {len(OLD) - len(KEPT)} archive(s)" in pruned.stdout
    assert lab.names() == sorted([*KEPT, MANUAL])
    # Every borgmatic run (prune, compact) saw it hidden beside itself; now it is back.
    runs = log.read_text().splitlines()
    assert runs and all(line.startswith("hidden ") for line in runs), runs
    assert lab.repo.is_dir() and not lab.hidden.exists()
    assert not [p for p in lab.repo_root.iterdir()]  # repo_root was never used
    assert lab.extract_dry_run_all(KEPT) == dict.fromkeys(KEPT, 0)

    again = lab.run_guard("check", CLIENT)
    assert again.returncode == 0, describe(again)
    assert f"check {lab.repo}: ok; {len(KEPT) + 1} archive(s)" in again.stdout


def test_status_drill_and_restore_key_work_where_it_is(lab):
    _init(lab)
    status = lab.run_guard("status", "--json")
    assert status.returncode == 0, describe(status)
    (client,) = json.loads(status.stdout)["clients"]
    assert client["name"] == CLIENT and client["archives"] == len(OLD) + 1, client
    assert client["state"] in ("ok", "stale") and client["quota"]["used"] > 0, client
    assert client["newest_archive"]["name"] == OLD[-1]

    drill = lab.run_guard("drill")
    assert drill.returncode == 0, describe(drill)
    assert (lab.state()["last_drill"]["status"], lab.state()["last_drill"]["archive"]) == (
        "ok",
        OLD[-1],
    )

    config = lab.repo / "config"
    original = config.read_text()
    config.write_text(original.replace("\nkey = ", "\nkey = AAAA\rappend_only = 1\n\t", 1))
    refused = lab.run_guard("prune", CLIENT)
    assert refused.returncode == 3, describe(refused)
    restored = lab.run_guard("restore-key", CLIENT)
    assert restored.returncode == 0, describe(restored)
    assert f"restored the repository key of {lab.repo}" in restored.stdout
    assert not lab.hidden.exists() and lab.names() == sorted([*OLD, MANUAL])
    pruned = lab.run_guard("prune", CLIENT)
    assert pruned.returncode == 0, describe(pruned)
    assert lab.names() == sorted([*KEPT, MANUAL])


def test_a_rollback_keeps_its_copy_beside_the_repository(lab):
    _init(lab)
    lab.client_borg("delete", f"REPO::{OLD[-1]}")
    assert lab.run_guard("prune", CLIENT).returncode == 3
    inspected = lab.run_guard("inspect", CLIENT)
    assert inspected.returncode == 0, describe(inspected)
    report = json.loads(inspected.stdout)
    assert report["repository"] == str(lab.repo) and report["rollback"]["possible"], report
    result = lab.run_guard("rollback", CLIENT, str(report["rollback"]["transaction"]))
    assert result.returncode == 0, describe(result)
    assert lab.names() == sorted([*OLD, MANUAL])
    (copy,) = [p for p in lab.repo.parent.iterdir() if p.name.startswith(".oldhost.rollback-")]
    assert str(copy) in result.stdout and not [p for p in lab.repo_root.iterdir()]
