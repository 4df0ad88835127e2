"""Every proven borgmatic release (wizard/artefacts/proven_versions.py) against what Borgkeep
renders for it, with that release itself rather than with what we believe it does.

- Every config Borgkeep renders for the release (clients with and without excludes, server
  prune configs with several retention settings) passes the release's own validator, and the
  validator really validates (it refuses an unknown option).
- The client config, run by the release against a real repository made by Debian's borg, never
  prunes or compacts: not through bare `borgmatic`, not through `borgmatic prune` or
  `borgmatic compact`. Its debug log shows no borg prune/compact command and shows what stopped
  it (`skip_actions` from 1.8.5, the failing before_prune/before_compact guard hooks before);
  the repository keeps every archive and every segment file. The control: the server
  config's run on a copy of the same repository logs borg prune and compact, loses archives
  and removes segment files, so both checks do see a prune and a compaction.
- The client's cron command (`... create check`) backs up and checks.
- The server config prunes and compacts only its client's archives, and never creates one.

The lab venvs come from scripts/build-lab.sh. A missing release skips its tests, except with
CI=true, where it fails them.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from tests.real_tools import BORG, PASSPHRASE, isolated_env, missing
from wizard.artefacts import borgmatic_versions as bv
from wizard.artefacts.borgmatic_client import render_client_config
from wizard.artefacts.borgmatic_server import render_server_prune_config
from wizard.artefacts.crontab import client_cron_line
from wizard.artefacts.proven_versions import PROVEN_BORGMATIC, ProvenRelease

# What borgmatic logs at -v 2 when it runs borg prune/compact (2.x prefixes the command with
# "label: BORG_...=*** "), and what borg itself says while pruning or compacting.
PRUNE_OR_COMPACT_RAN = re.compile(
    r"\bborg (?:prune|compact)\b|Compaction started|compaction completed|Pruning archive"
)
SKIPPED = "Skipping prune/compact actions due to configured skip_actions"
CLIENT_GUARD = "borgkeep: {action} runs on the backup server, not here"
SERVER_GUARD = "borgkeep: this server-side config only runs prune and compact"

ARCHIVES = (
    "client1-2024-01-01T03:00:00",
    "client1-2024-01-02T03:00:00",
    "client1-2024-01-03T03:00:00",
    "client2-2024-01-01T03:00:00",
    "client2-2024-01-02T03:00:00",
)
DELETED = "client1-2023-12-31T03:00:00"
"""Made, then deleted with borg delete (which does not compact): its segments are freeable."""


@cache
def reported_version(executable: str) -> str:
    result = subprocess.run([executable, "--version"], capture_output=True, text=True, check=True)
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(params=PROVEN_BORGMATIC, ids=lambda release: f"borgmatic-{release.version}")
def release(request: pytest.FixtureRequest) -> ProvenRelease:
    proven: ProvenRelease = request.param
    if not os.access(proven.executable, os.X_OK):
        missing(
            f"borgmatic {proven.version} not found at {proven.executable} "
            "(run scripts/build-lab.sh)"
        )
    # The table must not lie: the binary tested is the release it names.
    assert reported_version(proven.executable) == proven.version
    return proven


def test_the_matrix_covers_every_layout_and_guard() -> None:
    """Each version difference Borgkeep renders is proven on both sides of its boundary."""
    versions = [release.version for release in PROVEN_BORGMATIC]
    for boundary in (
        bv.FLAT_OPTIONS_SINCE,
        bv.MATCH_ARCHIVES_SINCE,
        bv.SKIP_ACTIONS_SINCE,
        bv.CREATE_FIRST_SINCE,
        bv.CONFIG_VALIDATE_ACTION_SINCE,
    ):
        assert any(bv.parse_version(v) < boundary for v in versions), boundary
        assert any(bv.parse_version(v) >= boundary for v in versions), boundary
    assert "1.8.4" in versions and "1.8.5" in versions  # right at the skip_actions boundary


# --- validation --------------------------------------------------------------------------------

CLIENT_CASES = {
    "no-excludes": {"name": "client1", "sources": ["/etc", "/home", "/root"], "excludes": []},
    "excludes": {
        "name": "client2",
        "sources": ["/srv/www"],
        "excludes": ["*.tmp", "/home/*/.cache", "sh:/var/cache/**", "re:\\.bak$"],
    },
    "odd-name": {"name": "web-01.lan", "sources": ["/var/www"], "excludes": ["*.log"]},
    "alerts-hooks": {
        "name": "db1",
        "sources": ["/var/lib/db"],
        "excludes": [],
        "healthchecks": "https://hc.example/ping/0c6a1e2f-7a1b-4c2d-9e3f-123456789abc",
        "ntfy": "https://ntfy.example/backups-fleet",
    },
}
CHECK_FREQUENCIES = ["2 weeks", "always", "1 month", "2 weeks"]
RETENTIONS = {
    "default": {"keep_daily": 7, "keep_weekly": 4, "keep_monthly": 6, "keep_yearly": 1},
    "within-and-hourly": {"keep_within": "2d", "keep_hourly": 24},
    "every-option": {
        "keep_within": "12H",
        "keep_secondly": 3,
        "keep_minutely": 5,
        "keep_hourly": 48,
        "keep_daily": 14,
        "keep_weekly": 8,
        "keep_monthly": 12,
        "keep_yearly": 0,
    },
    "daily-only": {"keep_daily": 1},
}


def rendered_configs(version: str, directory: Path) -> list[Path]:
    """Every client and server config variant for `version`, written to `directory`."""
    paths = []
    urls = [
        "ssh://borg@backup.lan:2222/srv/backups/{name}",
        "ssh://backup/srv/{name}",
        "/mnt/b",
        "ssh://borg@backup.lan/srv/backups/{name}",
    ]
    for (case, client), frequency, url in zip(
        CLIENT_CASES.items(), CHECK_FREQUENCIES, urls, strict=True
    ):
        path = directory / f"client-{case}.yaml"
        path.write_text(
            render_client_config(
                borgmatic_version=version,
                borg_path="/usr/bin/borg",
                client_name=client["name"],
                source_directories=client["sources"],
                exclude_patterns=client["excludes"],
                repository_url=url.format(name=client["name"]),
                passphrase_file=f"/root/.config/borgkeep/{client['name']}.passphrase",
                ssh_key_file="/root/.ssh/borgkeep_ed25519",
                known_hosts_file="/root/.ssh/borgkeep_known_hosts",
                check_frequency=frequency,
                healthchecks=client.get("healthchecks"),
                ntfy=client.get("ntfy"),
            )
        )
        paths.append(path)
    for case, retention in RETENTIONS.items():
        path = directory / f"server-{case}.yaml"
        path.write_text(
            render_server_prune_config(
                borgmatic_version=version,
                borg_path="/usr/bin/borg",
                client_name="client1",
                repository_path="/srv/backups/client1",
                passphrase_file="/home/borg/.config/borgkeep/client1.passphrase",
                retention=retention,
            )
        )
        paths.append(path)
    return paths


def validate(
    release: ProvenRelease, configs: list[Path], env: dict[str, str]
) -> dict[Path, subprocess.CompletedProcess[str]]:
    """Each config through `validate_config_command`, as Borgkeep runs it, all at once."""
    running = {
        path: subprocess.Popen(
            bv.validate_config_command(
                borgmatic_version=release.version,
                borgmatic_path=release.executable,
                config_path=str(path),
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for path in configs
    }
    results = {}
    for path, process in running.items():
        stdout, stderr = process.communicate()
        results[path] = subprocess.CompletedProcess(
            process.args, process.returncode, stdout, stderr
        )
    return results


def test_every_rendered_config_passes_the_releases_own_validator(
    release: ProvenRelease, tmp_path: Path
) -> None:
    env = isolated_env(tmp_path / "home")
    configs = rendered_configs(release.version, tmp_path)
    assert len(configs) == len(CLIENT_CASES) + len(RETENTIONS)
    for path, result in validate(release, configs, env).items():
        assert result.returncode == 0, (
            f"borgmatic {release.version} rejects {path.name}:\n{describe(result)}\n"
            f"{path.read_text()}"
        )
        assert "valid" in (result.stdout + result.stderr).lower()


def test_the_validator_refuses_an_unknown_option(release: ProvenRelease, tmp_path: Path) -> None:
    """The control: validation that passed above would have failed on a bad config."""
    env = isolated_env(tmp_path / "home")
    good, *_ = rendered_configs(release.version, tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text(good.read_text() + "borgkeep_no_such_option: 1\n")
    (result,) = validate(release, [bad], env).values()
    assert result.returncode != 0, describe(result)
    assert "borgkeep_no_such_option" in result.stdout + result.stderr


# --- behaviour against a real repository -------------------------------------------------------
#
# Each scenario runs one borgmatic command of one release on its own copy of a template
# repository. All of them run concurrently the first time a test asks (the suite is otherwise
# serial, and these are slow subprocesses); each test then asserts on its own scenario.


def describe(result: subprocess.CompletedProcess[str]) -> str:
    return f"rc={result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


@dataclass
class Repo:
    root: Path
    path: Path
    source: Path
    passphrase_file: Path
    env: dict[str, str]

    def borg(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**self.env, "BORG_PASSPHRASE": PASSPHRASE}
        return subprocess.run([BORG, *args], capture_output=True, text=True, env=env, check=True)

    def archives(self) -> list[str]:
        return self.borg("list", "--short", str(self.path)).stdout.split()

    def segments(self) -> set[str]:
        return {p.name for p in (self.path / "data").glob("*/*") if p.name.isdigit()}


def make_template(root: Path) -> Path:
    """A repokey-blake2 repository (Debian's borg) with client1's and client2's archives and
    the freeable segments of a deleted one."""
    root.mkdir()
    repo = Repo(root, root / "repo", root / "source", root / "passphrase", {})
    repo.env = isolated_env(root / "home")
    repo.source.mkdir()
    (repo.source / "file.txt").write_text("some data\n")
    repo.borg("init", "--encryption", "repokey-blake2", str(repo.path))
    for name in (DELETED, *ARCHIVES):
        repo.borg("create", f"{repo.path}::{name}", str(repo.source))
    repo.borg("delete", f"{repo.path}::{DELETED}")
    return repo.path


def copy_repo(template: Path, root: Path) -> Repo:
    root.mkdir()
    source = root / "source"
    source.mkdir()
    (source / "file.txt").write_text("some data\n")
    (source / "skipped.tmp").write_text("excluded\n")
    passphrase_file = root / "passphrase"
    passphrase_file.write_text(PASSPHRASE + "\n")
    passphrase_file.chmod(0o600)
    shutil.copytree(template, root / "repo")
    return Repo(root, root / "repo", source, passphrase_file, isolated_env(root / "home"))


def client_config(release: ProvenRelease, repo: Repo) -> Path:
    config = repo.root / "client1.yaml"
    config.write_text(
        render_client_config(
            borgmatic_version=release.version,
            borg_path="/usr/bin/borg",
            client_name="client1",
            source_directories=[str(repo.source)],
            exclude_patterns=["*.tmp"],
            repository_url=str(repo.path),
            passphrase_file=str(repo.passphrase_file),
            ssh_key_file="/nonexistent/borgkeep_ed25519",
            known_hosts_file="/nonexistent/known_hosts",
        )
    )
    return config


def server_config(release: ProvenRelease, repo: Repo, client: str) -> Path:
    config = repo.root / f"server-{client}.yaml"
    config.write_text(
        render_server_prune_config(
            borgmatic_version=release.version,
            borg_path="/usr/bin/borg",
            client_name=client,
            repository_path=str(repo.path),
            passphrase_file=str(repo.passphrase_file),
            retention={"keep_daily": 1},
        )
    )
    return config


def client_cron_command(release: ProvenRelease, repo: Repo) -> list[str]:
    """The client's crontab line, as Borgkeep renders it, without its schedule."""
    config = client_config(release, repo)
    log = str(repo.root / "borgmatic.log")
    line = client_cron_line("0 3 * * *", release.executable, str(config), log_path=log)
    return shlex.split(line.split(" ", 5)[5])


SCENARIOS = {
    "client": lambda r, repo: [r.executable, "-c", str(client_config(r, repo)), "-v", "2"],
    "client prune": lambda r, repo: [*SCENARIOS["client"](r, repo), "prune"],
    "client compact": lambda r, repo: [*SCENARIOS["client"](r, repo), "compact"],
    "client cron": client_cron_command,
    "server prune compact": lambda r, repo: [
        *(r.executable, "-c", str(server_config(r, repo, "client1")), "-v", "2", "--no-color"),
        *("prune", "compact"),
    ],
    "server": lambda r, repo: [
        r.executable,
        "-c",
        str(server_config(r, repo, "client2")),
        "-v",
        "2",
    ],
}


@dataclass
class Outcome:
    command: list[str]
    result: subprocess.CompletedProcess[str]
    log: str
    archives: list[str]
    segments_before: set[str]
    segments_after: set[str]
    repo: Repo

    def new_archives(self) -> list[str]:
        """Archives made by this run, after checking that the template's all survived."""
        assert self.archives[: len(ARCHIVES)] == list(ARCHIVES), self.archives
        added = self.archives[len(ARCHIVES) :]
        assert all(NEW_ARCHIVE_RE.match(name) for name in added), added
        return added


NEW_ARCHIVE_RE = re.compile(r"client1-\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\Z")


def run_scenario(release: ProvenRelease, scenario: str, template: Path, root: Path) -> Outcome:
    repo = copy_repo(template, root)
    command = SCENARIOS[scenario](release, repo)
    before = repo.segments()
    result = subprocess.run(command, capture_output=True, text=True, env=repo.env)
    return Outcome(
        command,
        result,
        result.stdout + result.stderr,
        repo.archives(),
        before,
        repo.segments(),
        repo,
    )


@pytest.fixture(scope="session")
def outcomes(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[tuple[str, str], Future[Outcome]]:
    """Every scenario of every installed release this session tests, started at once on a
    small thread pool."""
    if not os.access(BORG, os.X_OK):
        missing(f"borg not found at {BORG}")
    base = tmp_path_factory.mktemp("matrix")
    template = make_template(base / "template")
    selected = {
        item.callspec.params["release"]
        for item in request.session.items
        if "release" in getattr(getattr(item, "callspec", None), "params", {})
    }
    installed = [r for r in PROVEN_BORGMATIC if r in selected and os.access(r.executable, os.X_OK)]
    pool = ThreadPoolExecutor(max_workers=(os.cpu_count() or 1) + 1)
    futures = {
        (release.version, scenario): pool.submit(
            run_scenario, release, scenario, template, base / f"{release.version}-{index}"
        )
        for release in installed
        for index, scenario in enumerate(SCENARIOS)
    }
    yield futures
    pool.shutdown(cancel_futures=True)


@pytest.fixture
def outcome(
    release: ProvenRelease, outcomes: dict[tuple[str, str], Future[Outcome]]
) -> Callable[[str], Outcome]:
    return lambda scenario: outcomes[release.version, scenario].result()


@pytest.mark.parametrize(
    ("scenario", "guard_action"),
    [("client", "prune"), ("client prune", "prune"), ("client compact", "compact")],
    ids=["bare", "prune", "compact"],
)
def test_client_config_never_prunes_or_compacts(
    release: ProvenRelease, outcome: Callable[[str], Outcome], scenario: str, guard_action: str
) -> None:
    run = outcome(scenario)
    what = f"{shlex.join(run.command)} (borgmatic {release.version})"
    assert not PRUNE_OR_COMPACT_RAN.search(run.log), f"{what} pruned or compacted:\n{run.log}"
    if bv.supports_skip_actions(release.version):
        assert run.result.returncode == 0, f"{what}: {describe(run.result)}"
        assert SKIPPED in run.log, f"{what}: {run.log}"
    else:
        assert run.result.returncode != 0, f"{what}: {describe(run.result)}"
        assert CLIENT_GUARD.format(action=guard_action) in run.log, f"{what}: {run.log}"
    # The server test below is the control: there the same repository loses segments.
    assert run.segments_before <= run.segments_after, f"{what} removed segment files"
    # Every archive is still there; only a bare run may have backed up, and only when
    # borgmatic runs create before prune or skips prune.
    creates = scenario == "client" and (
        bv.supports_skip_actions(release.version) or bv.bare_run_creates_first(release.version)
    )
    assert len(run.new_archives()) == creates, run.archives


def test_client_cron_command_creates_and_checks(
    release: ProvenRelease, outcome: Callable[[str], Outcome]
) -> None:
    run = outcome("client cron")
    assert run.command[-2:] == ["create", "check"]
    assert run.result.returncode == 0, f"{shlex.join(run.command)}\n{describe(run.result)}"
    (archive,) = run.new_archives()
    listing = run.repo.borg("list", "--short", f"{run.repo.path}::{archive}").stdout
    assert "file.txt" in listing
    assert "skipped.tmp" not in listing  # the exclude pattern took effect


def test_server_config_prunes_and_compacts_only_its_client(
    release: ProvenRelease, outcome: Callable[[str], Outcome]
) -> None:
    run = outcome("server prune compact")
    assert run.result.returncode == 0, describe(run.result)
    # The control for the client test: a prune and a compaction show in the log and on disk.
    assert re.search(r"\bborg prune\b", run.log), run.log
    assert re.search(r"\bborg compact\b", run.log), run.log
    assert not run.segments_before <= run.segments_after
    # All archives were made within one minute, so keep_daily: 1 keeps client1's newest.
    assert run.archives == [ARCHIVES[2], ARCHIVES[3], ARCHIVES[4]]


def test_server_config_never_creates_archives(
    release: ProvenRelease, outcome: Callable[[str], Outcome]
) -> None:
    """A bare `borgmatic` (create, prune, compact, check) on the server must not back it up."""
    run = outcome("server")
    if bv.supports_skip_actions(release.version):
        assert run.result.returncode == 0, describe(run.result)
        assert "Skipping create/check actions due to configured skip_actions" in run.log
    else:
        assert run.result.returncode != 0, describe(run.result)
        assert SERVER_GUARD in run.log
    assert set(run.archives) <= set(ARCHIVES), run.archives
    assert {a for a in run.archives if a.startswith("client1-")} == set(ARCHIVES[:3])
