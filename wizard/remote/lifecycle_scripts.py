"""The remote scripts of a fleet's later life: purge a repository, switch a client to a new
key, forget a rolled-back repository's cache on a client, restore a file.

Like `wizard.remote.scripts`, each is a `.sh` file (`sh/`) taking its values as positional
parameters; secrets travel only as file paths (`BORG_PASSCOMMAND`), and each script runs as
the account that owns what it touches (see `wizard.pipeline.identity`): the borg user on
the server, the login on a client.
"""

from __future__ import annotations

import re
import shlex

from wizard.artefacts.client_ssh import client_ssh_argv
from wizard.remote.scripts import borg_variables
from wizard.remote.shell_files import shell_script

REPOSITORY_ID_RE = re.compile(r"[0-9a-f]{64}\Z")
OLD_KEY_REFUSED = "old key refused"
NEW_KEY_WORKS = "new key works"
RESTORED = "restored"
"""The first words of the lines `switch_key.sh` and `restore.sh` print for each proof."""


def delete_repository_script(repository: str, passphrase_file: str | None, borg: str) -> str:
    """Run as the borg user: `borg delete` of the whole repository, answered by Borg's own
    confirmation variable. Only a real Borg repository exactly at `repository` can go: a
    link there is refused, a directory without Borg's `config` is refused, and Borg itself
    refuses anything that is not a repository. Borg needs the passphrase to list what it
    deletes: from `passphrase_file`, or (None: the server's copy is gone) on stdin."""
    passcommand = "cat" if passphrase_file is None else "cat " + shlex.quote(passphrase_file)
    return shell_script(
        ["signals.sh", "paths.sh", "delete_repository.sh"], [repository, borg, passcommand]
    )


def switch_key_script(
    old_key: str,
    new_key: str,
    known_hosts: str,
    passphrase_file: str,
    url: str,
    server: str,
    port: int,
    borg_user: str,
) -> str:
    """Run as the client's login after the server's authorized_keys holds the new key: prove
    the old key is refused and the new key reaches the repository, then move the new pair
    over the old one (the old private key is gone the moment it is replaced). Prints one
    line per proof. A failed proof changes nothing on the client."""
    old_ssh = [*client_ssh_argv(old_key, known_hosts), "-p", str(port), f"{borg_user}@{server}"]
    rsh, passcommand = borg_variables(new_key, known_hosts, passphrase_file)
    return shell_script(
        ["signals.sh", "switch_key.sh"], [old_key, new_key, url, rsh, passcommand, *old_ssh]
    )


def forget_cache_script(
    repository_id: str, url: str, key: str, known_hosts: str, passphrase_file: str
) -> str:
    """Run as the client's login after its repository was rolled back: its security record
    (`manifest-timestamp`) and its cache are newer than the repository now, so Borg would
    refuse the next backup; remove both (the cache through the client's own key)."""
    if not REPOSITORY_ID_RE.match(repository_id):
        raise ValueError(f"{repository_id!r} is not a Borg repository ID")
    rsh, passcommand = borg_variables(key, known_hosts, passphrase_file)
    return shell_script(["signals.sh", "forget_cache.sh"], [repository_id, url, rsh, passcommand])


def restore_script(
    url: str,
    archive: str,
    path: str,
    destination: str,
    fresh: bool,
    key: str,
    known_hosts: str,
    passphrase_file: str,
) -> str:
    """Run as the client's login: `borg extract` of `path` (absolute, as backed up) from
    `archive` into `destination`, through the client's own key and pinned host key. A
    fresh destination is created here and must not exist yet (mode 0700); otherwise it
    must be a real directory (the operator asked to overwrite)."""
    rsh, passcommand = borg_variables(key, known_hosts, passphrase_file)
    args = [destination, "fresh" if fresh else "existing", f"{url}::{archive}"]
    return shell_script(
        ["signals.sh", "paths.sh", "restore.sh"], [*args, path.lstrip("/"), rsh, passcommand]
    )


def retire_config_script(path: str, to: str) -> str:
    """Run as the login: rename a taken-over borgmatic config beside itself (`to`, in the
    same directory: one atomic rename, nothing deleted). Already renamed: done. Both
    present, or `to` taken by something else: refused, nothing moved."""
    return shell_script(["retire_config.sh"], [path, to])


def edit_config_script(
    path: str, to: str, before: str, after: str, lines: list[int], tmpdir: str
) -> str:
    """Run as the file's owner: comment out `lines` of `path` (a borgmatic config that backs
    up to the taken-over repository and to others; a system crontab's taken-over job) if it
    still hashes to `before`; the original is kept as `to` (none when empty), and the edit
    must hash to `after` (what the plan showed) before it replaces the file in one rename
    from `tmpdir`. Already edited: done."""
    return shell_script(
        ["sha.sh", "edit_config.sh"],
        [path, to, before, after, " ".join(map(str, lines)), tmpdir],
    )
