"""A small lab for the guard program: one server dir (repo root, state dir, the rendered
guard) and one compromised client that reaches its repository only through a forced
`borg serve --append-only --restrict-to-repository` (a BORG_RSH wrapper standing in for
the client's SSH key), exactly what borgkeep's authorized_keys line allows.

The server side runs as the repository's owner without --append-only, like the borg user.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.real_tools import BORG, PASSPHRASE, isolated_env
from wizard.artefacts.borgmatic_server import render_server_prune_config
from wizard.artefacts.guard_program import GUARD_FILE_NAME, render_guard_program

CLIENT = "host1"
SYSTEM_PYTHON = "/usr/bin/python3"
FORGE = str(Path(__file__).with_name("guard_forge.py"))
RETENTION = {"keep_daily": 3}
MAX_NEW_PER_DAY = 6
CLOCK_SKEW = 3600


def day_at(days_ago: int, hour: int = 3, *, now: datetime | None = None) -> datetime:
    """`days_ago` days before today (UTC), at `hour`:00:00."""
    today = (now or datetime.now(UTC)).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days_ago) + timedelta(hours=hour)


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


@dataclass
class GuardLab:
    root: Path
    borgmatic: str
    borgmatic_version: str
    repo_root: Path = field(init=False)
    state_dir: Path = field(init=False)

    def __post_init__(self) -> None:
        self.repo_root = self.root / "repos"
        self.state_dir = self.root / "state"
        for directory in (self.repo_root, self.state_dir):
            directory.mkdir(mode=0o700, exist_ok=True)
        self.passphrase_file.write_text(PASSPHRASE + "\n")
        self.passphrase_file.chmod(0o600)
        self.server_env = isolated_env(self.root / "server-home")
        self.server_env |= {"TZ": "UTC", "BORG_PASSCOMMAND": f"cat {self.passphrase_file}"}
        rsh = self.root / "forced-command"
        rsh.write_text(
            "#!/bin/sh\n# what the client's key runs, whatever the client asks for\n"
            f"exec {BORG} serve --append-only --restrict-to-repository {shlex.quote(str(self.repo))}\n"
        )
        rsh.chmod(0o700)
        self.client_env = isolated_env(self.root / "client-home")
        self.client_env |= {
            "TZ": "UTC",
            "BORG_RSH": str(rsh),
            "BORG_PASSCOMMAND": f"cat {self.passphrase_file}",
            "BORG_RELOCATED_REPO_ACCESS_IS_OK": "yes",
        }
        self.write_prune_config()
        self.render()

    # --- paths --------------------------------------------------------------------------
    @property
    def repo(self) -> Path:
        return self.repo_root / CLIENT

    @property
    def hidden(self) -> Path:
        return self.repo_root / f".{CLIENT}.borgkeep-guard"

    @property
    def url(self) -> str:
        return f"ssh://client@localhost{self.repo}"

    @property
    def passphrase_file(self) -> Path:
        return self.state_dir / f"{CLIENT}.passphrase"

    @property
    def prune_config(self) -> Path:
        return self.state_dir / f"prune-{CLIENT}.yaml"

    @property
    def state_file(self) -> Path:
        return self.state_dir / f"{CLIENT}.guard.json"

    @property
    def guard(self) -> Path:
        return self.state_dir / GUARD_FILE_NAME

    def config(self, **overrides) -> dict:
        config = {
            "server": "nas",
            "borg": BORG,
            "borgmatic": self.borgmatic,
            "state_dir": str(self.state_dir),
            "repo_root": str(self.repo_root),
            "lock_wait": 5,
            "clock_skew": CLOCK_SKEW,
            "clients": {
                CLIENT: {
                    "prefix": f"{CLIENT}-",
                    "retention": RETENTION,
                    "max_new_per_day": MAX_NEW_PER_DAY,
                    "stale_after": 86400,
                    "quota": 0,
                    "prune_config": str(self.prune_config),
                    "passphrase_file": str(self.passphrase_file),
                }
            },
        }
        return config | overrides

    def write_prune_config(self) -> None:
        self.prune_config.write_text(
            render_server_prune_config(
                borgmatic_version=self.borgmatic_version,
                borg_path="/usr/bin/borg",
                client_name=CLIENT,
                repository_path=str(self.repo),
                passphrase_file=str(self.passphrase_file),
                retention=RETENTION,
            )
        )

    def render(self, **overrides) -> None:
        self.guard.write_text(render_guard_program(self.config(**overrides)))

    # --- running things -----------------------------------------------------------------
    def run_guard(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [SYSTEM_PYTHON, "-I", str(self.guard), *args]
        return subprocess.run(command, capture_output=True, text=True, env=self.server_env)

    def server_borg(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [BORG, *args], capture_output=True, text=True, env=self.server_env, check=check
        )

    def client_borg(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """borg on the client, through its forced append-only command (`::` → the repo URL)."""
        argv = [arg.replace("REPO", self.url) for arg in args]
        return subprocess.run(
            [BORG, *argv], capture_output=True, text=True, env=self.client_env, check=check
        )

    def forge(self, archives: list[tuple[str, datetime]]) -> None:
        """Create empty archives with any names and timestamps, in one client connection."""
        wanted = json.dumps([[name, stamp(moment)] for name, moment in archives])
        subprocess.run(
            [SYSTEM_PYTHON, FORGE, "create", self.url],
            input=wanted,
            text=True,
            env=self.client_env,
            check=True,
            capture_output=True,
        )

    def data_chunks(self, name: str) -> list[str]:
        result = subprocess.run(
            [SYSTEM_PYTHON, FORGE, "chunks", self.url, name],
            capture_output=True,
            text=True,
            env=self.client_env,
            check=True,
        )
        return json.loads(result.stdout)

    # --- looking at the result ----------------------------------------------------------
    def listing(self, repository: Path | None = None) -> list[dict]:
        """The archives as the borg user sees them (at another path: allowed to be relocated)."""
        env = self.server_env
        if repository is not None:
            env = env | {"BORG_RELOCATED_REPO_ACCESS_IS_OK": "yes"}
        result = subprocess.run(
            [BORG, "list", "--json", "--consider-checkpoints", str(repository or self.repo)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        return json.loads(result.stdout)["archives"]

    def names(self) -> list[str]:
        return sorted(archive["name"] for archive in self.listing())

    def segments(self, repository: Path | None = None) -> dict[str, int]:
        base = repository or self.repo
        return {str(p.relative_to(base)): p.stat().st_size for p in base.glob("data/*/*")}

    def state(self) -> dict:
        return json.loads(self.state_file.read_text())

    def age_state(self, days: float) -> None:
        """Pretend the recorded observations happened `days` earlier (the guard runs daily)."""
        state = self.state()
        shift = timedelta(days=days)

        def older(text: str | None) -> str | None:
            return None if text is None else (datetime.fromisoformat(text) - shift).isoformat()

        state["last_run"] = older(state["last_run"])
        state["last_prune"] = older(state["last_prune"])
        for entry in state["archives"].values():
            entry["first_seen"] = older(entry["first_seen"])
            entry["seen_after"] = older(entry["seen_after"])
        self.state_file.write_text(json.dumps(state))

    def extract_dry_run_all(self, names: list[str]) -> dict[str, int]:
        """`borg extract --dry-run` of each archive (in parallel): name → exit code."""
        processes = {
            name: subprocess.Popen(
                [BORG, "extract", "--dry-run", f"{self.repo}::{name}"],
                env=self.server_env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for name in names
        }
        return {name: process.wait() for name, process in processes.items()}


def copy_repository(template: Path, lab: GuardLab) -> None:
    """A copy of a prepared repository (same repo ID; each lab has its own borg homes)."""
    shutil.copytree(template, lab.repo, symlinks=True)


def describe(result: subprocess.CompletedProcess[str]) -> str:
    return f"rc={result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


def python_ok() -> bool:
    return os.access(SYSTEM_PYTHON, os.X_OK) and sys.platform.startswith("linux")
