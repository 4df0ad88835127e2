"""The remote scripts of a fleet's later life: purge a repository, switch a client to a new
key, forget a rolled-back repository's cache on a client, restore a file.

Like `wizard.remote.scripts`, every value is shell-quoted, secrets travel only as file
paths (`BORG_PASSCOMMAND`), and each script runs as the account that owns what it touches
(see `wizard.pipeline.identity`): the borg user on the server, the login on a client.
"""

from __future__ import annotations

import re
import shlex

from wizard.artefacts.client_ssh import client_ssh_argv
from wizard.remote.scripts import LINK_REFUSAL, SIGNALS, STALE_EXIT, borg_env

REPOSITORY_ID_RE = re.compile(r"[0-9a-f]{64}\Z")
OLD_KEY_REFUSED = "old key refused"
NEW_KEY_WORKS = "new key works"
RESTORED = "restored"


def _q(value: str) -> str:
    return shlex.quote(value)


def delete_repository_script(repository: str, passphrase_file: str | None, borg: str) -> str:
    """Run as the borg user: `borg delete` of the whole repository, answered by Borg's own
    confirmation variable. Only a real Borg repository exactly at `repository` can go: a
    link there is refused, a directory without Borg's `config` is refused, and Borg itself
    refuses anything that is not a repository. Borg needs the passphrase to list what it
    deletes: from `passphrase_file`, or (None: the server's copy is gone) on stdin."""
    passcommand = "cat" if passphrase_file is None else "cat " + _q(passphrase_file)
    env = (
        "BORG_DELETE_I_KNOW_WHAT_I_AM_DOING=YES BORG_RELOCATED_REPO_ACCESS_IS_OK=no "
        f"BORG_PASSCOMMAND={_q(passcommand)}"
    )
    stdin = "" if passphrase_file is None else " < /dev/null"
    return (
        f"set -eu\n{SIGNALS}r={_q(repository)}\n"
        f'if [ -L "$r" ]; then echo "$r {LINK_REFUSAL}" >&2; exit {STALE_EXIT}; fi\n'
        'if [ ! -d "$r" ] || [ ! -f "$r/config" ] || [ -L "$r/config" ]; then\n'
        '  echo "$r is not a Borg repository; nothing was deleted" >&2\n'
        f"  exit {STALE_EXIT}\nfi\n"
        f'{env} {_q(borg)} delete --lock-wait 60 "$r"{stdin}\n'
        'echo "deleted the repository $r and every archive in it"\n'
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
    old_ssh = shlex.join(
        [*client_ssh_argv(old_key, known_hosts), "-p", str(port), f"{borg_user}@{server}"]
    )
    new_env = borg_env(new_key, known_hosts, passphrase_file)
    return (
        f"set -eu\n{SIGNALS}old={_q(old_key)}\nnew={_q(new_key)}\n"
        'for k in "$old" "$old.pub" "$new" "$new.pub"; do\n'
        f'  if [ -L "$k" ]; then echo "$k {LINK_REFUSAL}" >&2; exit {STALE_EXIT}; fi\n'
        '  if [ ! -f "$k" ]; then echo "$k is missing; nothing was switched" >&2; '
        f"exit {STALE_EXIT}; fi\ndone\n"
        f"if out=$({old_ssh} true < /dev/null 2>&1); then\n"
        '  echo "the server still accepts the old key $old; nothing was switched" >&2\n'
        "  exit 1\nfi\n"
        'case "$out" in\n  *"Permission denied"*) ;;\n'
        '  *) echo "could not prove that the old key is refused: $out" >&2; exit 1 ;;\nesac\n'
        f'echo "{OLD_KEY_REFUSED}: $(printf %s "$out" | tail -n 1)"\n'
        f"if ! err=$({new_env} borg info {_q(url)} 2>&1 >/dev/null < /dev/null); then\n"
        '  echo "the new key $new does not reach the repository: $err; the old key pair is '
        'kept, run borgkeep apply to pin it again" >&2\n  exit 1\nfi\n'
        f'echo "{NEW_KEY_WORKS}: borg info {url} through $new"\n'
        'mv -fT -- "$new.pub" "$old.pub"\nmv -fT -- "$new" "$old"\n'
        'echo "replaced the key pair $old; the old private key is removed"\n'
    )


def security_dir_expression() -> str:
    """Where Borg 1.x keeps a repository's security records for the running user."""
    return (
        "${BORG_SECURITY_DIR:-${BORG_CONFIG_DIR:-${XDG_CONFIG_HOME:-$HOME/.config}/borg}/security}"
    )


def forget_cache_script(
    repository_id: str, url: str, key: str, known_hosts: str, passphrase_file: str
) -> str:
    """Run as the client's login after its repository was rolled back: its security record
    (`manifest-timestamp`) and its cache are newer than the repository now, so Borg would
    refuse the next backup; remove both (the cache through the client's own key)."""
    if not REPOSITORY_ID_RE.match(repository_id):
        raise ValueError(f"{repository_id!r} is not a Borg repository ID")
    env = borg_env(key, known_hosts, passphrase_file)
    return (
        f"set -eu\n{SIGNALS}s={security_dir_expression()}/{repository_id}\n"
        f'if [ -L "$s" ] || [ -L "$s/manifest-timestamp" ]; then echo "$s {LINK_REFUSAL}" >&2; '
        f"exit {STALE_EXIT}; fi\n"
        'rm -f -- "$s/manifest-timestamp"\n'
        f"{env} BORG_RELOCATED_REPO_ACCESS_IS_OK=yes borg delete --cache-only {_q(url)} "
        "< /dev/null\n"
        'echo "removed the security record $s/manifest-timestamp and the cache"\n'
    )


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
    inside = path.lstrip("/")
    env = borg_env(key, known_hosts, passphrase_file)
    if fresh:
        prepare = (
            'if [ -e "$d" ] || [ -L "$d" ]; then echo "$d exists already (created since the '
            f'plan was made); nothing was restored" >&2; exit {STALE_EXIT}; fi\n'
            'mkdir -p -- "$(dirname -- "$d")"\nmkdir -m 0700 -- "$d"\n'
        )
    else:
        prepare = (
            f'if [ -L "$d" ]; then echo "$d {LINK_REFUSAL}" >&2; exit {STALE_EXIT}; fi\n'
            'if [ ! -d "$d" ]; then echo "$d is not a directory" >&2; '
            f"exit {STALE_EXIT}; fi\n"
        )
    pattern = f" {_q('pp:' + inside)}" if inside else ""
    target = f't="$d"/{_q(inside)}' if inside else 't="$d"'
    # A fresh destination that got nothing goes again (rmdir removes only an empty one).
    tidy = '  cd / && rmdir -- "$d" 2>/dev/null || :\n' if fresh else ""
    return (
        f"set -eu\n{SIGNALS}umask 077\nd={_q(destination)}\n{prepare}"
        'cd -- "$d"\n'
        f"if ! err=$({env} borg extract {_q(url + '::' + archive)}{pattern} 2>&1 < /dev/null); "
        "then\n"
        f'  echo "borg extract failed: $err" >&2\n{tidy}  exit 1\nfi\n'
        f"{target}\n"
        'n=$(find "$t" 2>/dev/null | wc -l)\n'
        f'echo "{RESTORED}: $t ($n item(s))"\n'
    )


def retire_config_script(path: str, to: str) -> str:
    """Run as the login: rename a taken-over borgmatic config beside itself (`to`, in the
    same directory: one atomic rename, nothing deleted). Already renamed: done. Both
    present, or `to` taken by something else: refused, nothing moved."""
    return (
        f"set -eu\np={_q(path)}\nt={_q(to)}\n"
        'if [ -e "$t" ] || [ -L "$t" ]; then\n'
        '  if [ -e "$p" ] || [ -L "$p" ]; then echo "both $p and $t exist: move one away, '
        'then apply again" >&2; exit 1; fi\n'
        '  echo "$p was already retired: $t"; exit 0\nfi\n'
        '[ -f "$p" ] || { echo "$p is gone or not a file" >&2; exit 1; }\n'
        'mv -- "$p" "$t"\necho "retired $p: renamed to $t (borgmatic no longer loads it)"\n'
    )
