"""The remote shell scripts that apply one change each (`sh/*.sh`; values as positional
parameters, quoted once by `shell_files`).

Each script runs as the account that owns what it changes (see `wizard.pipeline.identity`):
a file is written by its owner, never by root on the owner's behalf, so nothing is ever
chowned and a link planted by that owner gains it nothing. Still, nothing follows a link
where a regular file or a directory is expected: a link there is refused (exit code
`STALE_EXIT`, naming the path), and so is a file whose current hash differs from the one
the plan saw.

Writes are atomic: a temp file (`mktemp`) in the same directory, its hash checked, its mode
set, the old file kept as a hard link under an unpredictable name
(`FILE.borgkeep-STAMP-RANDOM.bak`; `ln` never follows a link at its destination and fails
if the name exists), then a rename.
"""

from __future__ import annotations

import shlex
import time

from wizard.artefacts.client_ssh import client_ssh_command
from wizard.remote.shell_files import shell_file, shell_script

_q = shlex.quote

STALE_EXIT = 75
"""A refusal: something changed since the plan, or is not what Borgkeep expects (the `.sh`
files exit with it literally)."""
ABSENT = "absent"
LINK_REFUSAL = "is a symbolic link; Borgkeep never writes through links — remove it and run again"

DIRNAME_FUNCTION = shell_file("dirname.sh")
"""`dn P` sets r to `dirname P` without a process (gather's reads use it too)."""
_WRITING = ("signals.sh", "dirname.sh", "sha.sh", "paths.sh")


def write_file_script(
    path: str,
    expected_sha256: str | None,
    mode: int,
    new_sha256: str,
    base: str,
    dir_mode: int = 0o700,
    group: str | None = None,
    backup_stamp: str | None = None,
) -> str:
    """Run as the file's owner. Content comes on stdin (never on the command line: it may be
    a secret); its hash is checked before the rename, so a connection cut mid-upload never
    installs half a file. Every directory between `base` and the file must be a real one
    (missing ones are created with `dir_mode`). Same content, own file: only the mode is set,
    in place, without a backup."""
    stamp = backup_stamp or time.strftime("%Y%m%dT%H%M%S")
    args = [path, expected_sha256 or ABSENT, new_sha256, f"{mode:04o}", f"{dir_mode:04o}"]
    return shell_script([*_WRITING, "write_file.sh"], [*args, base, group or "", stamp])


def delete_file_script(path: str, expected_sha256: str | None, base: str) -> str:
    """Run as the file's owner: delete it if it still has the hash the plan saw. A link at
    the file or at any directory between `base` and it is refused (nothing is followed), so
    is anything but a regular file; a file already gone is fine. No backup: a deletion of
    a key or a passphrase must not leave a copy behind."""
    return shell_script([*_WRITING, "delete_file.sh"], [path, expected_sha256 or ABSENT, base])


def ensure_dir_script(path: str, mode: int, base: str) -> str:
    """Run as the directory's owner: create it (and missing parents) below `base`, refusing
    links on the way, and set its mode. A directory of another account is refused: chowning
    inside an account's own tree is exactly what root must not do."""
    return shell_script(["dirname.sh", "paths.sh", "ensure_dir.sh"], [path, f"{mode:04o}", base])


def create_dir_as_root_script(path: str, mode: int, owner: str, group: str | None) -> str:
    """Run by root for a directory whose parent no other account controls: create it with
    `mode` and give it to `owner` (`chown -h`). A link or a non-directory is refused; a
    directory that already is `owner`'s is left to `owner` (its mode: `ensure_dir_script`)."""
    return shell_script(
        ["paths.sh", "create_dir_as_root.sh"],
        [path, f"{mode:04o}", owner, f"{owner}:{group or ''}"],
    )


def install_crontab_script(user: str, expected_sha256: str | None, new_sha256: str) -> str:
    """Run as `user`: their own crontab (`crontab -` on stdin, no `-u`, no root). The new
    crontab comes on stdin; refuses when the current one differs from the planned one."""
    return shell_script(
        ["signals.sh", "sha.sh", "install_crontab.sh"],
        [user, expected_sha256 or ABSENT, new_sha256],
    )


def generate_key_script(path: str, comment: str) -> str:
    """Generates the key pair on the host; prints the public key."""
    return shell_script(["dirname.sh", "generate_key.sh"], [path, comment])


def create_user_script(user: str, home: str) -> str:
    """A system account with a home and a shell (borg serve runs through it), no password."""
    return shell_script(["create_user.sh"], [user, home])


NO_FUSE = "BORG_FUSE_IMPL=none"
"""Borgkeep never runs `borg mount`: borg need not load a FUSE library (pyfuse3 with trio,
a fifth of a borg start-up) for its self-test's imports. (The `.sh` files set it too.)"""


def borg_variables(key: str, known_hosts: str, passphrase_file: str) -> tuple[str, str]:
    """`BORG_RSH` and `BORG_PASSCOMMAND` for running borg against the server through the
    client's own key (borg splits each itself: they are quoted for borg, not for a shell)."""
    return client_ssh_command(key, known_hosts), "cat " + _q(passphrase_file)


def borg_env(key: str, known_hosts: str, passphrase_file: str) -> str:
    """Environment for running borg against the server through the client's own key."""
    rsh, passcommand = borg_variables(key, known_hosts, passphrase_file)
    return f"{NO_FUSE} BORG_RSH={_q(rsh)} BORG_PASSCOMMAND={_q(passcommand)}"


def init_repo_script(
    url: str, key: str, known_hosts: str, passphrase_file: str, borg: str = "borg"
) -> str:
    rsh, passcommand = borg_variables(key, known_hosts, passphrase_file)
    return shell_script(["init_repo.sh"], [url, borg, rsh, passcommand])


def read_repository_config_script(repository: str) -> str:
    """The repository's `config` (its id and its encrypted key), never through a link."""
    return shell_script(["read_repository_config.sh"], [repository])


def exported_key(config_text: str, repository: str) -> str:
    """`borg key export`'s output for a repokey repository, from its `config` (the guard's
    own reading: `wizard.hostside.guard_identity.export_text`); ValueError without a key."""
    from wizard.hostside.guard_identity import IdentityError, export_text

    try:
        return export_text(config_text, f"{repository}/config")
    except IdentityError as error:
        raise ValueError(str(error)) from None
