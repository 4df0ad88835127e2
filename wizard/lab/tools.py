"""What the lab needs from this machine: the programs, the borgmatic installations, root.

Every program is the real one (OpenSSH, borg, borgmatic, cron); missing ones are named
with the Debian package that provides them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

BORGMATIC2_VENV = Path("/opt/borgkeep-lab/borgmatic2")
DEBIAN_BORGMATIC = Path("/usr/bin/borgmatic")
SSHD = Path("/usr/sbin/sshd")
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CRON_PATH = "/usr/bin:/bin"
BORGMATIC_VERSIONS = ("1.7", "2")
BORG14_VENV = Path("/opt/borgkeep-lab/borg-1.4")
DEBIAN_BORG = Path("/usr/bin/borg")
BORG_VERSIONS = ("1.2", "1.4")

# program -> Debian package that provides it
REQUIRED_PROGRAMS: dict[str, str] = {
    str(SSHD): "openssh-server",
    "/usr/bin/ssh-keygen": "openssh-client",
    "/usr/bin/borg": "borgbackup",
    str(DEBIAN_BORGMATIC): "borgmatic",
    "crontab": "cron",
    "unshare": "util-linux",
    "nsenter": "util-linux",
    "setpriv": "util-linux",
}


class LabError(RuntimeError):
    """The lab cannot be started or used; the message says why and what to do."""


def borgmatic_for_version(version: str) -> Path:
    """Where the lab finds borgmatic `version` ("1.7": Debian's, "2": the PyPI venv)."""
    if version == "1.7":
        return DEBIAN_BORGMATIC
    if version == "2":
        return BORGMATIC2_VENV / "bin" / "borgmatic"
    raise LabError(f"unknown borgmatic version {version!r}: use one of {BORGMATIC_VERSIONS}")


def borg_for_version(version: str) -> Path:
    """Where the lab finds Borg `version` ("1.2": Debian's, "1.4": built from PyPI's
    source release into a venv by `scripts/build-lab.sh`)."""
    if version == "1.2":
        return DEBIAN_BORG
    if version == "1.4":
        borg = BORG14_VENV / "bin" / "borg"
        if not borg.exists():
            raise LabError(f"the lab's Borg 1.4 is missing ({borg}): run bash scripts/bootstrap.sh")
        return borg
    raise LabError(f"unknown borg version {version!r}: use one of {BORG_VERSIONS}")


def login_path_for_version(version: str, borg: str = "1.2") -> str:
    """The login PATH that puts borgmatic `version` (and Borg `borg`) first."""
    path = SYSTEM_PATH
    if version == "2":
        path = f"{BORGMATIC2_VENV / 'bin'}:{path}"
    if borg != "1.2":
        path = f"{borg_for_version(borg).parent}:{path}"
    return path


def ensure_borgmatic2_venv(path: Path = BORGMATIC2_VENV) -> Path:
    """The lab's borgmatic 2.x (a proven release, built by `scripts/build-lab.sh` from
    /usr/bin/python3 so that non-root lab users can run it); refuse, saying how to get it."""
    borgmatic = path / "bin" / "borgmatic"
    if not borgmatic.exists():
        raise LabError(
            f"the lab's borgmatic 2 is missing ({borgmatic}): run `bash scripts/bootstrap.sh` "
            "from the Borgkeep checkout (it builds the lab's proven borgmatic and Borg venvs)"
        )
    return borgmatic


def check_lab_prerequisites() -> None:
    """Refuse early, with what to do, when the lab cannot run on this machine."""
    if os.geteuid() != 0:
        raise LabError(
            "the local lab needs root: it starts one sshd per lab host in its own mount "
            "namespace (unshare --mount) with private bind mounts over /etc, /root, /home, "
            "/srv and /var/spool/cron, and logs in as root. Run it as root, e.g. in a "
            "throwaway VM or container: sudo borgkeep demo"
        )
    missing = sorted(
        {package for program, package in REQUIRED_PROGRAMS.items() if not program_exists(program)}
    )
    if missing:
        raise LabError(
            "the local lab needs programs that are not installed. "
            f"Install them with: apt-get install {' '.join(missing)}"
        )


def program_exists(program: str) -> bool:
    if program.startswith("/"):
        return os.access(program, os.X_OK)
    return shutil.which(program) is not None


def run_checked(argv: list[str]) -> None:
    result = subprocess.run(argv, capture_output=True, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        stderr = result.stderr.decode(errors="replace")
        raise LabError(f"{' '.join(argv)} failed ({result.returncode}): {stderr}")
