"""The proven Borg releases (Debian's 1.2.4 and the lab's 1.4.x from scripts/build-lab.sh) run,
are the releases the table names, and share a repository in both directions: a client on one
version backs up through `borg serve --append-only` of the other (the forced command Borgkeep
pins in authorized_keys), and each reads what the other wrote. Mixed client/server versions
are a supported setup.

The "ssh" here is a stand-in that runs the server's forced command locally, ignoring what the
client asked for, as sshd does with `command="..."`. A missing borg skips its tests, except
with CI=true, where it fails them.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.real_tools import PASSPHRASE, isolated_env, missing
from wizard.artefacts.proven_versions import PROVEN_BORG, ProvenRelease


def require(release: ProvenRelease) -> str:
    if not os.access(release.executable, os.X_OK):
        missing(
            f"borg {release.version} not found at {release.executable} (run scripts/build-lab.sh)"
        )
    return release.executable


@pytest.mark.parametrize("release", PROVEN_BORG, ids=lambda r: f"borg-{r.version}")
def test_each_proven_borg_runs_and_is_the_release_it_names(release: ProvenRelease) -> None:
    result = subprocess.run(
        [require(release), "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == f"borg {release.version}"


def test_the_lab_borg_is_a_14_release() -> None:
    (lab,) = [release for release in PROVEN_BORG if release.lab_dir]
    assert lab.version.startswith("1.4.")
    assert lab.lab_dir.endswith("/borg-1.4")


class Borg:
    """One borg release used as one party: its own HOME (cache, security dir, keys)."""

    def __init__(self, release: ProvenRelease, home: Path) -> None:
        self.release = release
        self.path = require(release)
        self.env = isolated_env(home) | {"BORG_PASSPHRASE": PASSPHRASE}

    def __call__(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.path, *args], capture_output=True, text=True, env=self.env | env
        )
        assert result.returncode == 0, (
            f"borg {self.release.version} {shlex.join(args)}: rc={result.returncode}\n"
            f"{result.stdout}\n{result.stderr}"
        )
        return result

    def archives(self, repository: str, **env: str) -> list[str]:
        return self("list", "--short", repository, **env).stdout.split()


def forced_command_ssh(tmp_path: Path, server: Borg, repo: Path) -> Path:
    """A BORG_RSH that runs the server's append-only `borg serve` whatever the client asks."""
    script = tmp_path / "ssh"
    command = shlex.join(
        [server.path, "serve", "--append-only", "--restrict-to-repository", str(repo)]
    )
    log = shlex.quote(str(tmp_path / "ssh.log"))
    script.write_text(f'#!/bin/sh\necho "$@" >>{log}\nexec {command}\n')
    script.chmod(0o755)
    return script


PAIRS = [(a, b) for a in PROVEN_BORG for b in PROVEN_BORG if a != b]


@pytest.mark.parametrize(
    ("server_release", "client_release"),
    PAIRS,
    ids=[f"server-{a.version}-client-{b.version}" for a, b in PAIRS],
)
def test_mixed_client_and_server_versions_share_a_repository(
    server_release: ProvenRelease, client_release: ProvenRelease, tmp_path: Path
) -> None:
    source = tmp_path / "source"
    source.mkdir()
    (source / "file.txt").write_text("some data\n")
    repo = tmp_path / "repo"
    server = Borg(server_release, tmp_path / "server-home")
    client = Borg(client_release, tmp_path / "client-home")
    remote = f"ssh://backup.invalid{repo}"
    ssh = {"BORG_RSH": str(forced_command_ssh(tmp_path, server, repo))}

    server("init", "--encryption", "repokey-blake2", str(repo))
    client("create", f"{remote}::from-client-{client_release.version}", str(source), **ssh)
    server("create", f"{repo}::from-server-{server_release.version}", str(source))
    both = [f"from-client-{client_release.version}", f"from-server-{server_release.version}"]

    assert server.archives(str(repo)) == both
    assert client.archives(remote, **ssh) == both
    # Both remote commands went through the forced command, asked for `borg serve`.
    calls = (tmp_path / "ssh.log").read_text().splitlines()
    assert len(calls) == 2 and all(" serve" in call for call in calls), calls
    # The client's release also reads the repository directly (an upgraded server's borg).
    local = Borg(client_release, tmp_path / "other-home")
    assert local.archives(str(repo)) == both
    extracted = local("extract", "--stdout", f"{repo}::{both[0]}", str(source / "file.txt")[1:])
    assert extracted.stdout == "some data\n"
    local("check", str(repo))
