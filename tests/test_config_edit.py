"""A config that backs up to the taken-over repository and to others keeps running for the
others: `drop_repository` comments out the one entry (proven by loading both texts the way
borgmatic does; the edited configs pass each real borgmatic's validator), and the host
script that applies it, run for real, checks the hashes, keeps the original and is done
on a second run."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from tests.real_tools import Borgmatic, borgmatic_fixture, isolated_env  # noqa: F401 (fixture)
from tests.takeover_fixtures import LAPTOP_2, ROOT, host_files, laptop_files
from wizard.artefacts.borgmatic_versions import parse_version, validate_config_command
from wizard.remote.lifecycle_scripts import edit_config_script
from wizard.takeover.borgmatic_configs import discover_configs
from wizard.takeover.config_edit import TAKEN_OVER_MARK, RepositoryDropped, drop_repository
from wizard.takeover.host_files import HostFiles
from wizard.takeover.retired import RETIRED_SUFFIX

SECTIONED = """\
location:
    source_directories: [/etc]
    repositories:
        # the nas
        - "ssh://borg@nas:22/srv/a"   # nightly
        - /mnt/usb/repo
storage:
    encryption_passphrase: hunter2
retention:
    keep_daily: 7
"""
FLAT = """\
source_directories: [/etc]
repositories:
    - label: usb
      path: /mnt/usb/repo

    - path: ssh://borg@nas/./a
      label: nas
    # the offsite one
    - path: 'ssh://u@off.example/./x'
encryption_passphrase: hunter2
keep_daily: 3
"""
PATH = "/etc/borgmatic.d/all.yaml"


def drop(text: str, raw: str, version: str = "2.1.10", files: HostFiles | None = None):
    files = files or host_files({PATH: text})
    return drop_repository(
        PATH, files, raw, version=parse_version(version), home="/root", user="root"
    )


def repositories(text: str, version: str) -> list[str]:
    (config,) = discover_configs(host_files({PATH: text}), ROOT, version).configs
    return [location.raw for location in config.options.repositories]


@pytest.mark.parametrize(
    ("text", "raw", "version", "lines"),
    [
        (SECTIONED, "ssh://borg@nas:22/srv/a", "1.7.7", (5,)),
        (SECTIONED, "/mnt/usb/repo", "1.7.7", (6,)),
        (FLAT, "ssh://borg@nas/./a", "2.1.10", (6, 7)),  # its comment line stays the next's
        (FLAT, "/mnt/usb/repo", "2.1.10", (3, 4)),  # `path:` under the entry's dash
        (FLAT, "ssh://u@off.example/./x", "2.1.10", (9,)),  # quoted
    ],
)
def test_only_the_entry_goes_and_every_other_byte_stays(text, raw, version, lines):
    dropped = drop(text, raw, version)
    assert isinstance(dropped, RepositoryDropped), dropped
    assert dropped.lines == lines
    before, after = text.splitlines(), dropped.text.splitlines()
    for number, line in enumerate(after, 1):
        expected = before[number - 1]
        assert line == (TAKEN_OVER_MARK + expected if number in lines else expected)
    left = repositories(text, version)
    left.remove(raw)
    assert repositories(dropped.text, version) == left


def test_a_flow_list_an_entry_in_an_include_and_a_last_repository_are_refused():
    assert "not on a line of its own" in drop("repositories: [/a, /b]\nkeep_daily: 1\n", "/a")
    files = host_files(laptop_files("/root"))
    laptop = "/root/.config/borgmatic.d/laptop.yaml"
    included = drop_repository(
        laptop,
        files,
        "/home/backup/Pictures",
        version=parse_version("2.1.10"),
        home="/root",
        user="root",
    )
    assert isinstance(included, str)
    only = drop("repositories:\n    - /a\nkeep_daily: 1\n", "/a")
    assert only == f"{PATH} does not list /a once beside other repositories"
    twice = drop("repositories:\n    - /a\n    - /a\n", "/a")
    assert twice == "the repository /a is twice"


def test_the_labelled_fixture_of_the_lab_keeps_its_offsite_repository():
    files = host_files(laptop_files("/root"))
    laptop = "/root/.config/borgmatic.d/laptop.yaml"
    dropped = drop_repository(
        laptop,
        files,
        "ssh://borg@nas.lan:2222/./laptop",
        version=parse_version("2.1.10"),
        home="/root",
        user="root",
    )
    assert isinstance(dropped, RepositoryDropped), dropped
    assert dropped.lines == (4, 5)
    assert "offsite.example.net:laptop" in dropped.text.splitlines()[5]
    assert dropped.text.count("\n") == LAPTOP_2.count("\n")


def test_edited_configs_pass_the_real_validator(borgmatic: Borgmatic, tmp_path: Path):
    version = borgmatic.version
    text = SECTIONED if parse_version(version) < (1, 8, 0) else FLAT
    raw = "ssh://borg@nas:22/srv/a" if text is SECTIONED else "ssh://borg@nas/./a"
    dropped = drop(text, raw, version)
    assert isinstance(dropped, RepositoryDropped), dropped
    path = tmp_path / "all.yaml"
    path.write_text(dropped.text)
    command = validate_config_command(
        borgmatic_version=version, borgmatic_path=borgmatic.path, config_path=str(path)
    )
    result = subprocess.run(command, capture_output=True, text=True, env=isolated_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr


# --- edit_config_script, run for real ---------------------------------------------------


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def run_edit(path: Path, dropped: RepositoryDropped, before: str) -> subprocess.CompletedProcess:
    to = str(path) + RETIRED_SUFFIX
    script = edit_config_script(
        str(path), to, sha(before), sha(dropped.text), list(dropped.lines), str(path.parent)
    )
    return subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, timeout=30)


def planned(tmp_path: Path, name: str = "all.yaml") -> tuple[Path, RepositoryDropped]:
    path = tmp_path / name
    path.write_text(FLAT)
    path.chmod(0o640)
    dropped = drop(FLAT, "ssh://borg@nas/./a")
    assert isinstance(dropped, RepositoryDropped)
    return path, dropped


def test_the_script_edits_keeps_the_original_and_says_done_the_second_time(tmp_path):
    path, dropped = planned(tmp_path, "it's all.yaml")
    first = run_edit(path, dropped, FLAT)
    assert first.returncode == 0, first.stderr
    assert path.read_text() == dropped.text
    assert oct(path.stat().st_mode & 0o777) == "0o640"
    assert Path(str(path) + RETIRED_SUFFIX).read_text() == FLAT
    second = run_edit(path, dropped, FLAT)
    assert second.returncode == 0 and "already edited" in second.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name, path.name + RETIRED_SUFFIX]


def test_the_script_refuses_a_config_changed_since_the_plan_and_changes_nothing(tmp_path):
    path, dropped = planned(tmp_path)
    path.write_text(FLAT + "keep_weekly: 2\n")
    result = run_edit(path, dropped, FLAT)
    assert result.returncode == 1 and "changed since the plan" in result.stderr
    assert path.read_text() == FLAT + "keep_weekly: 2\n"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_the_script_refuses_a_link(tmp_path):
    path, dropped = planned(tmp_path)
    link = tmp_path / "link.yaml"
    link.symlink_to(path)
    result = run_edit(link, dropped, FLAT)
    assert result.returncode == 1 and "not a plain file" in result.stderr
    assert path.read_text() == FLAT
