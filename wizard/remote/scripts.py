"""The remote shell scripts that apply one change each; every value is shell-quoted.

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

STALE_EXIT = 75
ABSENT = "absent"
LINK_REFUSAL = "is a symbolic link; Borgkeep never writes through links — remove it and run again"

# A cut connection must not kill a script before its EXIT trap removes its temp file:
# writes to a closed stderr fail instead of raising SIGPIPE, and a hangup exits cleanly.
SIGNALS = "trap '' PIPE\ntrap 'exit 129' HUP\ntrap 'exit 143' TERM\ntrap 'exit 130' INT\n"
# `dn P` sets r to `dirname P` without a process (every path here is absolute and
# normalised); `sha F` sets h to F's SHA-256 in one process (no `cut`).
DIRNAME_FUNCTION = (
    'dn() { r="${1%/*}"; if [ "$r" = "$1" ]; then r=.; elif [ -z "$r" ]; then r=/; fi; }\n'
)
_HASH_FUNCTION = 'sha() { h=$(sha256sum < "$1"); h="${h%% *}"; }\n'
_VERIFY_UPLOAD = (
    'sha "$t"\nif [ "$h" != {expected} ]; then\n'
    '  echo "the upload was incomplete; nothing was changed" >&2\n  exit 1\nfi\n'
)
# `linked P` refuses P; `no_links P TOP` refuses a link at P or any directory above it up
# to TOP (exclusive); `mk D` creates D and its missing parents with mode $dm.
_PATH_FUNCTIONS = (
    DIRNAME_FUNCTION
    + _HASH_FUNCTION
    + f'linked() {{ echo "$1 {LINK_REFUSAL}" >&2; exit {STALE_EXIT}; }}\n'
    'no_links() { a="$1"; while [ "$a" != "$2" ] && [ "$a" != / ] && [ "$a" != . ]; do\n'
    '  if [ -L "$a" ]; then linked "$a"; fi; dn "$a"; a="$r"; done; }\n'
    'mk() { if [ ! -d "$1" ]; then dn "$1"; mk "$r"; mkdir -m "$dm" -- "$1"; fi; }\n'
)


def _q(value: str) -> str:
    return shlex.quote(value)


def _not_a(what: str, variable: str) -> str:
    return (
        f'  echo "${variable} is not a {what}; Borgkeep expects one there — remove it and run '
        f'again" >&2\n  exit {STALE_EXIT}\n'
    )


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
    chgrp = f'chgrp {_q(group)} "$t"\n' if group else ""
    chgrp_in_place = f'  chgrp {_q(group)} "$p"\n' if group else ""
    # mktemp creates the file 0600: only another mode needs a chmod
    chmod = f'chmod {mode:04o} "$t"\n' if mode != 0o600 else ""
    stamp = backup_stamp or time.strftime("%Y%m%dT%H%M%S")
    return (
        "set -eu\numask 077\n"
        + SIGNALS
        + _PATH_FUNCTIONS
        + f'p={_q(path)}\ndn "$p"\nd="$r"\ndm={dir_mode:04o}\n'
        + f'no_links "$d" {_q(base)}\nmk "$d"\n'
        + 'if [ -L "$p" ]; then linked "$p"; fi\n'
        + 'if [ -e "$p" ] && [ ! -f "$p" ]; then\n'
        + _not_a("regular file", "p")
        + "fi\n"
        + 'if [ -e "$p" ]; then sha "$p"; cur="$h"; '
        + f"else cur={ABSENT}; fi\n"
        + f'if [ "$cur" != {_q(expected_sha256 or ABSENT)} ]; then\n'
        '  echo "$p changed since the plan was made (refusing to overwrite it)" >&2\n'
        f"  exit {STALE_EXIT}\nfi\n"
        f'if [ "$cur" = {_q(new_sha256)} ] && [ -O "$p" ]; then\n'
        f'  chmod {mode:04o} "$p"\n{chgrp_in_place}  exit 0\nfi\n'
        't=$(mktemp "$d/.borgkeep.XXXXXXXX")\n'
        "trap 'rm -f \"$t\"' EXIT\n"
        'cat > "$t"\n' + _VERIFY_UPLOAD.format(expected=_q(new_sha256)) + f"{chmod}{chgrp}"
        'sync "$t" 2>/dev/null || true\n'
        'if [ -e "$p" ]; then\n'
        f'  b="$(mktemp -u "$p.borgkeep-{stamp}-XXXXXX").bak"\n'
        '  ln -- "$p" "$b" 2>/dev/null || (set -C; cat -- "$p" > "$b")\n'
        "fi\n"
        'mv -fT -- "$t" "$p"\ntrap - EXIT\n'
    )


def delete_file_script(path: str, expected_sha256: str | None, base: str) -> str:
    """Run as the file's owner: delete it if it still has the hash the plan saw. A link at
    the file or at any directory between `base` and it is refused (nothing is followed), so
    is anything but a regular file; a file already gone is fine. No backup: a deletion of
    a key or a passphrase must not leave a copy behind."""
    return (
        "set -eu\n"
        + SIGNALS
        + _PATH_FUNCTIONS
        + f'p={_q(path)}\ndn "$p"\nd="$r"\ndm=0700\n'
        + f'no_links "$d" {_q(base)}\n'
        + 'if [ -L "$p" ]; then linked "$p"; fi\n'
        + 'if [ ! -e "$p" ]; then exit 0; fi\n'
        + 'if [ ! -f "$p" ]; then\n'
        + _not_a("regular file", "p")
        + "fi\n"
        + 'sha "$p"\n'
        + f'if [ "$h" != {_q(expected_sha256 or ABSENT)} ]; then\n'
        '  echo "$p changed since the plan was made (refusing to delete it)" >&2\n'
        f"  exit {STALE_EXIT}\nfi\n"
        'rm -f -- "$p"\n'
    )


def ensure_dir_script(path: str, mode: int, base: str) -> str:
    """Run as the directory's owner: create it (and missing parents) below `base`, refusing
    links on the way, and set its mode. A directory of another account is refused: chowning
    inside an account's own tree is exactly what root must not do."""
    return (
        f"set -eu\nd={_q(path)}\ndm={mode:04o}\n"
        + _PATH_FUNCTIONS
        + f'no_links "$d" {_q(base)}\n'
        + 'if [ -e "$d" ] && [ ! -d "$d" ]; then\n'
        + _not_a("directory", "d")
        + 'fi\nmk "$d"\n'
        'if [ ! -O "$d" ]; then\n'
        '  echo "$d belongs to $(stat -c %U -- "$d"), not to $(id -un); Borgkeep does not chown '
        'it as root there — chown it by hand and run again" >&2\n  exit 1\nfi\n'
        f'chmod {mode:04o} "$d"\n'
    )


def create_dir_as_root_script(path: str, mode: int, owner: str, group: str | None) -> str:
    """Run by root for a directory whose parent no other account controls: create it with
    `mode` and give it to `owner` (`chown -h`). A link or a non-directory is refused; a
    directory that already is `owner`'s is left to `owner` (its mode: `ensure_dir_script`)."""
    owner_spec = _q(f"{owner}:{group or ''}")
    return (
        f"set -eu\nd={_q(path)}\n"
        f'if [ -L "$d" ]; then echo "$d {LINK_REFUSAL}" >&2; exit {STALE_EXIT}; fi\n'
        'if [ -e "$d" ] && [ ! -d "$d" ]; then\n' + _not_a("directory", "d") + "fi\n"
        'if [ ! -d "$d" ]; then\n'
        f'  mkdir -p -- "$(dirname -- "$d")"\n  mkdir -m {mode:04o} -- "$d"\nfi\n'
        f'if [ "$(stat -c %U -- "$d")" != {_q(owner)} ]; then\n'
        f'  chmod {mode:04o} "$d"\n  chown -h {owner_spec} "$d"\nfi\n'
    )


def install_crontab_script(user: str, expected_sha256: str | None, new_sha256: str) -> str:
    """Run as `user`: their own crontab (`crontab -` on stdin, no `-u`, no root). The new
    crontab comes on stdin; refuses when the current one differs from the planned one."""
    return (
        "set -eu\n"
        + SIGNALS
        + _HASH_FUNCTION
        + 'c=$(mktemp)\nt=$(mktemp)\ntrap \'rm -f "$t" "$c"\' EXIT\n'
        'if crontab -l > "$c" 2>/dev/null; then sha "$c"; cur="$h"; '
        f"else cur={ABSENT}; fi\n"
        f'if [ "$cur" != {_q(expected_sha256 or ABSENT)} ]; then\n'
        f'  echo "the crontab of {user} changed since the plan was made" >&2\n'
        f"  exit {STALE_EXIT}\nfi\n"
        'cat > "$t"\n' + _VERIFY_UPLOAD.format(expected=_q(new_sha256)) + 'crontab - < "$t"\n'
    )


def generate_key_script(path: str, comment: str) -> str:
    """Generates the key pair on the host; prints the public key."""
    return (
        "set -eu\n" + DIRNAME_FUNCTION + f"k={_q(path)}\n"
        'dn "$k"\nmkdir -p -- "$r"\nchmod 0700 "$r"\n'
        'if [ -e "$k" ] || [ -L "$k" ]; then echo "$k already exists (created since the plan '
        'was made)" >&2; '
        f"exit {STALE_EXIT}; fi\n"
        f'ssh-keygen -q -t ed25519 -N "" -C {_q(comment)} -f "$k" < /dev/null\n'
        'cat "$k.pub"\n'
    )


def create_user_script(user: str, home: str) -> str:
    """A system account with a home and a shell (borg serve runs through it), no password."""
    return (
        "set -eu\n"
        f"if ! getent passwd {_q(user)} >/dev/null; then\n"
        f"  useradd --system --create-home --home-dir {_q(home)} --shell /bin/sh {_q(user)}\n"
        "fi\n"
        f"usermod -p '*' {_q(user)}\n"
    )


NO_FUSE = "BORG_FUSE_IMPL=none"
"""Borgkeep never runs `borg mount`: borg need not load a FUSE library (pyfuse3 with trio,
a fifth of a borg start-up) for its self-test's imports."""


def borg_env(key: str, known_hosts: str, passphrase_file: str) -> str:
    """Environment for running borg against the server through the client's own key."""
    rsh = client_ssh_command(key, known_hosts)
    return f"{NO_FUSE} BORG_RSH={_q(rsh)} BORG_PASSCOMMAND={_q('cat ' + _q(passphrase_file))}"


def init_repo_script(
    url: str, key: str, known_hosts: str, passphrase_file: str, borg: str = "borg"
) -> str:
    return (
        "set -eu\n"
        f"{borg_env(key, known_hosts, passphrase_file)} {_q(borg)} init --encryption repokey-blake2 "
        f"{_q(url)}\n"
    )


def read_repository_config_script(repository: str) -> str:
    """The repository's `config` (its id and its encrypted key), never through a link."""
    return (
        f"set -eu\nc={_q(repository)}/config\n"
        'if [ -L "$c" ] || [ ! -f "$c" ]; then echo "$c is not a regular file" >&2; exit 1; fi\n'
        'cat -- "$c"\n'
    )


def exported_key(config_text: str, repository: str) -> str:
    """`borg key export`'s output for a repokey repository, from its `config` (the guard's
    own reading: `wizard.hostside.guard_identity.export_text`); ValueError without a key."""
    from wizard.hostside.guard_identity import IdentityError, export_text

    try:
        return export_text(config_text, f"{repository}/config")
    except IdentityError as error:
        raise ValueError(str(error)) from None
