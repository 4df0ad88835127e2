"""The rendered configs against the real borgmatic releases (1.7.7 from Debian, 2.x from PyPI).

Validation runs each release's own validator; the behaviour tests run real borg on a local
temporary repository: the server config prunes only its client's archives, and the client
config never prunes.

Binaries: `BORGKEEP_BORGMATIC17` (default /usr/bin/borgmatic) and `BORGKEEP_BORGMATIC2`
(default /opt/borgkeep-lab/borgmatic2/bin/borgmatic). A missing one skips its tests, except
with CI=true, where it fails them.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.real_tools import BORG, PASSPHRASE, Borgmatic, borgmatic_fixture, isolated_env, missing  # noqa: F401 (fixture)
from wizard.artefacts.borgmatic_client import render_client_config
from wizard.artefacts.borgmatic_server import render_server_prune_config
from wizard.artefacts.borgmatic_versions import (
    supports_skip_actions,
    validate_config_command,
)

ARCHIVE_NAME_RE = r"client1-\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d"


@pytest.fixture
def borg() -> str:
    if not os.access(BORG, os.X_OK):
        missing(f"borg not found at {BORG}")
    return BORG


@pytest.fixture(name="isolated_env")
def isolated_env_fixture(tmp_path: Path) -> dict[str, str]:
    return isolated_env(tmp_path / "home")


# --- validation with the real validators ---------------------------------------------------------

DEFAULT_RETENTION = {"keep_daily": 7, "keep_weekly": 4, "keep_monthly": 6, "keep_yearly": 1}

INVENTORIES = {
    "two-clients-default-retention": [
        {
            "name": "client1",
            "sources": ["/etc", "/home", "/root"],
            "excludes": [],
            "keep": {},
            "check_frequency": "2 weeks",
        },
        {
            "name": "client2",
            "sources": ["/srv/www"],
            "excludes": ["*.tmp", "/home/*/.cache", "sh:/var/cache/**"],
            "keep": {"keep_daily": 14},
            "check_frequency": "1 month",
        },
    ],
    "odd-names-and-keep-within": [
        {
            "name": "web-01.lan",
            "sources": ["/var/www"],
            "excludes": ["*.log"],
            "keep": {"keep_within": "2d", "keep_hourly": 24},
            "check_frequency": "always",
        },
        {
            "name": "db_2",
            "sources": ["/var/lib/postgresql"],
            "excludes": [],
            "keep": {},
            "check_frequency": "3 days",
        },
        {
            "name": "0cache",
            "sources": ["/opt"],
            "excludes": [],
            "keep": {"keep_yearly": 0, "keep_secondly": 3, "keep_minutely": 5},
            "check_frequency": "1 week",
        },
    ],
    # Source directories and excludes only go into YAML: spaces, '#', ':', quotes and shell
    # syntax must come out of the renderer as the same strings borgmatic reads back.
    "paths-with-spaces-and-yaml-characters": [
        {
            "name": "nas-share",
            "sources": ["/srv/my data/", '/srv/#1: it\'s "quoted"', "/srv/a: b #c", "/srv/$(x)"],
            "excludes": ["/srv/my data/*.tmp", "*: x #y", "'single'", "sh:/srv/**/[Cc]ache dir"],
            "keep": {},
            "check_frequency": "2 weeks",
        },
    ],
}


def inventory_cases() -> list[tuple[str, dict]]:
    return [(name, client) for name, clients in INVENTORIES.items() for client in clients]


def write_rendered_configs(borgmatic: Borgmatic, client: dict, directory: Path) -> list[Path]:
    name = client["name"]
    client_config = render_client_config(
        borgmatic_version=borgmatic.version,
        borg_path="/usr/bin/borg",
        client_name=name,
        source_directories=client["sources"],
        exclude_patterns=client["excludes"],
        repository_url=f"ssh://borg@127.0.0.1:2201/srv/backups/{name}",
        passphrase_file=f"/root/.config/borgkeep/{name}.passphrase",
        ssh_key_file="/root/.ssh/borgkeep_ed25519",
        known_hosts_file="/root/.ssh/borgkeep_known_hosts",
        check_frequency=client["check_frequency"],
    )
    server_config = render_server_prune_config(
        borgmatic_version=borgmatic.version,
        borg_path="/usr/bin/borg",
        client_name=name,
        repository_path=f"/srv/backups/{name}",
        passphrase_file=f"/home/borg/.config/borgkeep/{name}.passphrase",
        retention={**DEFAULT_RETENTION, **client["keep"]},
    )
    paths = [directory / f"{name}-client.yaml", directory / f"{name}-server.yaml"]
    for path, text in zip(paths, (client_config, server_config), strict=True):
        path.write_text(text)
    return paths


@pytest.mark.parametrize(
    ("inventory", "client"), inventory_cases(), ids=[c["name"] for _, c in inventory_cases()]
)
def test_rendered_configs_pass_the_real_validator(
    borgmatic: Borgmatic,
    inventory: str,
    client: dict,
    tmp_path: Path,
    isolated_env: dict[str, str],
) -> None:
    """The referenced passphrase/key files do not exist here: validation does not need them."""
    for config in write_rendered_configs(borgmatic, client, tmp_path):
        command = validate_config_command(
            borgmatic_version=borgmatic.version,
            borgmatic_path=borgmatic.path,
            config_path=str(config),
        )
        result = subprocess.run(command, capture_output=True, text=True, env=isolated_env)
        assert result.returncode == 0, (
            f"{inventory}: {config.name} is invalid for borgmatic {borgmatic.version}:\n"
            f"{config.read_text()}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
        assert "valid" in (result.stdout + result.stderr).lower()


# --- behaviour against a real repository -------------------------------------------------------


@dataclass
class Lab:
    root: Path
    repo: Path
    source: Path
    passphrase_file: Path
    env: dict[str, str]
    borg: str

    def borg_run(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**self.env, "BORG_PASSPHRASE": self.passphrase_file.read_text().strip()}
        return subprocess.run(
            [self.borg, *args], capture_output=True, text=True, env=env, check=True
        )

    def archives(self) -> list[str]:
        return self.borg_run("list", "--short", str(self.repo)).stdout.split()


def run_borgmatic(
    lab: Lab, borgmatic: Borgmatic, config: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """Run borgmatic with a log file, which also keeps 1.7.7 away from a missing syslog socket."""
    command = [borgmatic.path, "-c", str(config), "--log-file", str(lab.root / "borgmatic.log")]
    return subprocess.run([*command, *args], capture_output=True, text=True, env=lab.env)


def describe(result: subprocess.CompletedProcess[str]) -> str:
    return f"rc={result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


@pytest.fixture
def lab(tmp_path: Path, isolated_env: dict[str, str], borg: str) -> Lab:
    """A repokey-blake2 repo holding 3 archives of client1 and 2 of client2."""
    source = tmp_path / "source"
    source.mkdir()
    (source / "file.txt").write_text("some data\n")
    passphrase_file = tmp_path / "passphrase"
    passphrase_file.write_text(PASSPHRASE + "\n")
    passphrase_file.chmod(0o600)
    lab = Lab(tmp_path, tmp_path / "repo", source, passphrase_file, isolated_env, borg)
    lab.borg_run("init", "--encryption", "repokey-blake2", str(lab.repo))
    for name in (
        "client1-2024-01-01T03:00:00",
        "client1-2024-01-02T03:00:00",
        "client1-2024-01-03T03:00:00",
        "client2-2024-01-01T03:00:00",
        "client2-2024-01-02T03:00:00",
    ):
        lab.borg_run("create", f"{lab.repo}::{name}", str(source))
    return lab


CLIENT2_ARCHIVES = ["client2-2024-01-01T03:00:00", "client2-2024-01-02T03:00:00"]


def test_server_config_prunes_only_its_clients_archives(borgmatic: Borgmatic, lab: Lab) -> None:
    config = lab.root / "server-client1.yaml"
    config.write_text(
        render_server_prune_config(
            borgmatic_version=borgmatic.version,
            borg_path="/usr/bin/borg",
            client_name="client1",
            repository_path=str(lab.repo),
            passphrase_file=str(lab.passphrase_file),
            retention={"keep_daily": 1},
        )
    )
    dry = run_borgmatic(lab, borgmatic, config, "prune", "--list", "--dry-run")
    assert dry.returncode == 0, describe(dry)
    output = dry.stdout + dry.stderr
    assert "client1-2024-01-03T03:00:00" in output  # kept
    assert len(re.findall(r"Would prune:\s+client1-2024-01-0[12]T", output)) == 2, output
    assert "client2-" not in output
    assert len(lab.archives()) == 5

    pruned = run_borgmatic(lab, borgmatic, config, "prune", "compact")
    assert pruned.returncode == 0, describe(pruned)
    # All archives were made within the same minute, so keep_daily: 1 keeps the newest one.
    assert lab.archives() == ["client1-2024-01-03T03:00:00", *CLIENT2_ARCHIVES]


def test_server_config_refuses_to_create_archives(borgmatic: Borgmatic, lab: Lab) -> None:
    """A bare `borgmatic` (create, prune, compact, check) on the server must not back it up."""
    config = lab.root / "server-client2.yaml"
    config.write_text(
        render_server_prune_config(
            borgmatic_version=borgmatic.version,
            borg_path="/usr/bin/borg",
            client_name="client2",
            repository_path=str(lab.repo),
            passphrase_file=str(lab.passphrase_file),
            retention={"keep_daily": 1},
        )
    )
    result = run_borgmatic(lab, borgmatic, config)
    if supports_skip_actions(borgmatic.version):
        assert result.returncode == 0, describe(result)
    else:
        assert result.returncode != 0, describe(result)
        assert "borgkeep: this server-side config only runs prune and compact" in (
            result.stdout + result.stderr
        )
    archives = lab.archives()
    assert not [name for name in archives if not name.startswith(("client1-", "client2-"))]
    assert sorted(a for a in archives if a.startswith("client1-")) == [
        "client1-2024-01-01T03:00:00",
        "client1-2024-01-02T03:00:00",
        "client1-2024-01-03T03:00:00",
    ]
    assert [a for a in archives if a.startswith("client2-")] == ["client2-2024-01-02T03:00:00"]


def render_local_client_config(borgmatic: Borgmatic, lab: Lab) -> Path:
    config = lab.root / "client1.yaml"
    config.write_text(
        render_client_config(
            borgmatic_version=borgmatic.version,
            borg_path="/usr/bin/borg",
            client_name="client1",
            source_directories=[str(lab.source)],
            exclude_patterns=["*.tmp"],
            repository_url=str(lab.repo),
            passphrase_file=str(lab.passphrase_file),
            ssh_key_file="/nonexistent/borgkeep_ed25519",
            known_hosts_file="/nonexistent/known_hosts",
        )
    )
    return config


def test_client_config_never_prunes(borgmatic: Borgmatic, lab: Lab) -> None:
    config = render_local_client_config(borgmatic, lab)
    before = lab.archives()

    explicit_prune = run_borgmatic(lab, borgmatic, config, "prune", "compact")
    bare = run_borgmatic(lab, borgmatic, config)
    if supports_skip_actions(borgmatic.version):
        # Without skip_actions, borg would refuse a prune with no keep_* option (rc != 0).
        assert explicit_prune.returncode == 0, describe(explicit_prune)
        assert bare.returncode == 0, describe(bare)
        after = lab.archives()
        assert after[: len(before)] == before
        (new_archive,) = after[len(before) :]
        assert re.fullmatch(ARCHIVE_NAME_RE, new_archive)
    else:
        guard = "borgkeep: prune runs on the backup server"
        assert explicit_prune.returncode != 0, describe(explicit_prune)
        assert guard in explicit_prune.stdout + explicit_prune.stderr
        assert bare.returncode != 0, describe(bare)
        assert guard in bare.stdout + bare.stderr
        assert lab.archives() == before


def test_client_config_creates_and_checks_with_explicit_actions(
    borgmatic: Borgmatic, lab: Lab
) -> None:
    config = render_local_client_config(borgmatic, lab)
    before = lab.archives()
    result = run_borgmatic(lab, borgmatic, config, "create", "check")
    assert result.returncode == 0, describe(result)
    after = lab.archives()
    assert after[: len(before)] == before
    (new_archive,) = after[len(before) :]
    assert re.fullmatch(ARCHIVE_NAME_RE, new_archive)
    assert "client2-" not in new_archive


ODD_DIRECTORIES = ["my data", '#1: it\'s "quoted"', "a: b #c", "$(touch pwned)"]


def test_client_config_backs_up_paths_with_spaces_and_yaml_characters(
    borgmatic: Borgmatic, lab: Lab
) -> None:
    """The YAML round trip is exact: each odd directory is backed up under its own name, the
    exclude with a space applies, and nothing in a path was run by a shell."""
    sources = []
    for name in ODD_DIRECTORIES:
        directory = lab.root / "odd" / name
        directory.mkdir(parents=True)
        (directory / "kept.txt").write_text(name)
        (directory / "junk.tmp").write_text("excluded")
        sources.append(str(directory) + "/")
    config = lab.root / "odd.yaml"
    config.write_text(
        render_client_config(
            borgmatic_version=borgmatic.version,
            borg_path="/usr/bin/borg",
            client_name="client1",
            source_directories=sources,
            exclude_patterns=[f"{lab.root}/odd/my data/*.tmp", "*/a: b #c/*.tmp"],
            repository_url=str(lab.repo),
            passphrase_file=str(lab.passphrase_file),
            ssh_key_file="/nonexistent/borgkeep_ed25519",
            known_hosts_file="/nonexistent/known_hosts",
        )
    )
    validate = subprocess.run(
        validate_config_command(
            borgmatic_version=borgmatic.version,
            borgmatic_path=borgmatic.path,
            config_path=str(config),
        ),
        capture_output=True,
        text=True,
        env=lab.env,
    )
    assert validate.returncode == 0, describe(validate)
    before = lab.archives()
    created = run_borgmatic(lab, borgmatic, config, "create")
    assert created.returncode == 0, describe(created)
    (archive,) = [a for a in lab.archives() if a not in before]
    listed = lab.borg_run("list", "--short", f"{lab.repo}::{archive}").stdout.splitlines()
    root = str(lab.root / "odd").lstrip("/")
    for name in ODD_DIRECTORIES:
        assert f"{root}/{name}/kept.txt" in listed, listed
    assert f"{root}/my data/junk.tmp" not in listed
    assert f"{root}/a: b #c/junk.tmp" not in listed
    assert f'{root}/#1: it\'s "quoted"/junk.tmp' in listed
    assert not list(lab.root.rglob("pwned")) and not Path("pwned").exists()
