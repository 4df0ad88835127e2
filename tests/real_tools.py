"""The real borg and borgmatic binaries for tests that run them (both borgmatic releases).

Locally a missing tool skips the test; with CI=true it fails it, so CI never goes green
without having run the real tools.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from wizard.artefacts.borgmatic_versions import parse_version

BORGMATIC_BINARIES = {
    "1.7": ("BORGKEEP_BORGMATIC17", "/usr/bin/borgmatic"),
    "2": ("BORGKEEP_BORGMATIC2", "/opt/borgkeep-lab/borgmatic2/bin/borgmatic"),
}
BORG = shutil.which("borg") or "/usr/bin/borg"
PASSPHRASE = "correct horse battery staple"


@dataclass(frozen=True)
class Borgmatic:
    path: str
    version: str


def isolated_env(home: Path) -> dict[str, str]:
    """This process's environment with `home` as HOME and no BORG_/XDG_ settings, so borg's
    security and cache dirs and borgmatic's state stay in a test's own directory."""
    home.mkdir(exist_ok=True)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("BORG_", "XDG_")) and key != "HOME"
    }
    env["HOME"] = str(home)
    return env


def missing(reason: str) -> None:
    """Skip locally, but never let CI go green without having run the real tools."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the real tools must be installed)")
    pytest.skip(reason)


@pytest.fixture(
    name="borgmatic", params=sorted(BORGMATIC_BINARIES), ids=lambda key: f"borgmatic{key}"
)
def borgmatic_fixture(request: pytest.FixtureRequest) -> Borgmatic:
    """Each real borgmatic release in turn (import this into a test module to use it)."""
    variable, default = BORGMATIC_BINARIES[request.param]
    path = os.environ.get(variable, default)
    if not os.access(path, os.X_OK):
        missing(f"borgmatic {request.param} not found at {path} (set {variable})")
    result = subprocess.run([path, "--version"], capture_output=True, text=True, check=True)
    version = result.stdout.strip()
    assert parse_version(version)[0] == (1 if request.param == "1.7" else 2), version
    return Borgmatic(path, version)
