"""The remote shell scripts that apply one change each; every value is shell-quoted.

Writes are atomic: a temp file in the same directory, mode and owner set on it, the old
file copied to a backup, then a rename. A file whose current hash differs from the one
the plan saw is refused (exit code `STALE_EXIT`) and left untouched.
"""

from __future__ import annotations

import shlex
import time

from wizard.artefacts.client_ssh import client_ssh_command

STALE_EXIT = 75
ABSENT = "absent"

# A cut connection must not kill a script before its EXIT trap removes its temp file:
# writes to a closed stderr fail instead of raising SIGPIPE, and a hangup exits cleanly.
SIGNALS = "trap '' PIPE\ntrap 'exit 129' HUP\ntrap 'exit 143' TERM\ntrap 'exit 130' INT\n"
_VERIFY_UPLOAD = (
    'if [ "$(sha256sum < "$t" | cut -d" " -f1)" != {expected} ]; then\n'
    '  echo "the upload was incomplete; nothing was changed" >&2\n  exit 1\nfi\n'
)
_CURRENT_HASH = (
    'if [ -e "$p" ]; then cur=$(sha256sum < "$p" | cut -d" " -f1); else cur={absent}; fi\n'
)


def _q(value: str) -> str:
    return shlex.quote(value)


def _owner_spec(owner: str | None, group: str | None) -> str:
    """`user:group`, or `user:` for the user's login group."""
    if not owner:
        return ""
    return f"{owner}:{group or ''}"


def _make_dirs(mode: int, owner_spec: str | None) -> str:
    """A shell function `mk DIR` creating DIR and each missing parent with `mode` and owner,
    so that a new `~borg/.config` is not left owned by root."""
    chown = f' && chown {_q(owner_spec)} "$1"' if owner_spec else ""
    return (
        'mk() { if [ ! -d "$1" ]; then mk "$(dirname "$1")"; '
        f'mkdir "$1" && chmod {mode:04o} "$1"{chown}; fi; }}\n'
    )


def ensure_dir_script(
    path: str, mode: int, owner: str | None, group: str | None, as_root: bool
) -> str:
    chown = f'chown {_q(_owner_spec(owner, group))} "$d"\n' if as_root and owner else ""
    return f'set -eu\nd={_q(path)}\nmkdir -p "$d"\nchmod {mode:04o} "$d"\n{chown}'


def write_file_script(
    path: str,
    expected_sha256: str | None,
    mode: int,
    owner: str | None,
    group: str | None,
    dir_mode: int,
    as_root: bool,
    new_sha256: str,
    backup_suffix: str | None = None,
) -> str:
    """Content comes on stdin (never on the command line: it may be a secret). Its hash is
    checked before the rename, so a connection cut mid-upload never installs half a file."""
    owner_spec = _owner_spec(owner, group)
    chown_tmp = f'chown {_q(owner_spec)} "$t"\n' if as_root and owner else ""
    suffix = backup_suffix or time.strftime("%Y%m%dT%H%M%S")
    return (
        "set -eu\numask 077\n"
        + SIGNALS
        + f'p={_q(path)}\nd=$(dirname "$p")\n'
        + _make_dirs(dir_mode, owner_spec if as_root and owner else None)
        + 'mk "$d"\n'
        + _CURRENT_HASH.format(absent=ABSENT)
        + f'if [ "$cur" != {_q(expected_sha256 or ABSENT)} ]; then\n'
        '  echo "$p changed since the plan was made (refusing to overwrite it)" >&2\n'
        f"  exit {STALE_EXIT}\nfi\n"
        't=$(mktemp "$d/.borgkeep.XXXXXXXX")\n'
        "trap 'rm -f \"$t\"' EXIT\n"
        'cat > "$t"\n'
        + _VERIFY_UPLOAD.format(expected=_q(new_sha256))
        + f'chmod {mode:04o} "$t"\n{chown_tmp}'
        'sync "$t" 2>/dev/null || true\n'
        f'if [ -e "$p" ]; then cp -p "$p" "$p.borgkeep-{suffix}.bak"; fi\n'
        'mv -f "$t" "$p"\ntrap - EXIT\n'
    )


def chmod_script(path: str, mode: int, owner: str | None, group: str | None, as_root: bool) -> str:
    chown = f"chown {_q(_owner_spec(owner, group))} {_q(path)}\n" if as_root and owner else ""
    return f"set -eu\nchmod {mode:04o} {_q(path)}\n{chown}"


def install_crontab_script(
    user: str, expected_sha256: str | None, other_user: bool, new_sha256: str
) -> str:
    """New crontab on stdin; refuses when the current crontab differs from the planned one."""
    flag = f"-u {_q(user)} " if other_user else ""
    return (
        "set -eu\n" + SIGNALS + 'c=$(mktemp)\nt=$(mktemp)\ntrap \'rm -f "$t" "$c"\' EXIT\n'
        f'if crontab {flag}-l > "$c" 2>/dev/null; then cur=$(sha256sum < "$c" | cut -d" " -f1); '
        f"else cur={ABSENT}; fi\n"
        f'if [ "$cur" != {_q(expected_sha256 or ABSENT)} ]; then\n'
        f'  echo "the crontab of {user} changed since the plan was made" >&2\n'
        f"  exit {STALE_EXIT}\nfi\n"
        'cat > "$t"\n' + _VERIFY_UPLOAD.format(expected=_q(new_sha256)) + f'crontab {flag}"$t"\n'
    )


def generate_key_script(path: str, comment: str) -> str:
    """Generates the key pair on the host; prints the public key."""
    return (
        "set -eu\n"
        f"k={_q(path)}\n"
        'mkdir -p "$(dirname "$k")"\nchmod 0700 "$(dirname "$k")"\n'
        'if [ -e "$k" ]; then echo "$k already exists (created since the plan was made)" >&2; '
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


def borg_env(key: str, known_hosts: str, passphrase_file: str) -> str:
    """Environment for running borg against the server through the client's own key."""
    rsh = client_ssh_command(key, known_hosts)
    return f"BORG_RSH={_q(rsh)} BORG_PASSCOMMAND={_q('cat ' + _q(passphrase_file))}"


def init_repo_script(url: str, key: str, known_hosts: str, passphrase_file: str) -> str:
    return (
        "set -eu\n"
        f"{borg_env(key, known_hosts, passphrase_file)} borg init --encryption repokey-blake2 "
        f"{_q(url)}\n"
    )


def export_key_script(url: str, key: str, known_hosts: str, passphrase_file: str) -> str:
    """Prints the repository key (it is useless without the passphrase, and vice versa)."""
    t = "t=$(mktemp)\ntrap 'rm -f \"$t\"' EXIT\n"
    env = borg_env(key, known_hosts, passphrase_file)
    return f'set -eu\numask 077\n{SIGNALS}{t}{env} borg key export {_q(url)} "$t"\ncat "$t"\n'


def run_as_user(command: str, user: str, home: str, login_user: str) -> str:
    """A command run as `user` (from a root login, or under `sudo -n`), with that user's
    HOME as cron would give it; unchanged when the login is that user."""
    if user == login_user:
        return command
    return f"env HOME={_q(home)} runuser -u {_q(user)} -- sh -c {_q(command)}"
