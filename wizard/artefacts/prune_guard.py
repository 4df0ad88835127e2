"""The prune guard: the server's prune refuses to run after a client deleted archives.

A client key is pinned to `borg serve --append-only`, yet a compromised client can still
"delete" archives through it: Borg reports success and the manifest stops listing them,
while every segment stays on disk. The server's own prune + compact (not append-only)
would make those deletions permanent. So the server runs prune through this script, which
compares the archives in the repository with the list it recorded right after its last
prune, and refuses to prune or compact when any of them has gone.

Archives are compared by ID, not only by name: a client that deletes an archive and
creates another under the same name (or rewrites one with `borg recreate`) leaves the name
in place but changes the ID.

The script is POSIX `sh` (dash-clean), rendered once per server; the client name is its
argument, so one file serves every client.
"""

from __future__ import annotations

import posixpath
import re
import shlex

from wizard.artefacts.crontab import QUIET_CONSOLE_FLAGS
from wizard.artefacts.managed_block import MANAGED_HEADER
from wizard.inventory.validation import check_absolute_path, check_name

PRUNE_GUARD_FILE_NAME = "prune-guard"
PRUNE_GUARD_MODE = 0o700
SHELL = "/bin/sh"
ACKNOWLEDGE_FLAG = "--acknowledge"
BORG_LOCK_WAIT_SECONDS = 600

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3

_PLACEHOLDER_RE = re.compile(r"@([A-Z_]+)@")


def prune_guard_path(state_dir: str) -> str:
    """Where the guard lives: beside the prune configs and state it reads, in the borg
    user's state dir."""
    return posixpath.join(check_absolute_path("state_dir", state_dir), PRUNE_GUARD_FILE_NAME)


def guard_lock_path(state_dir: str, client_name: str) -> str:
    """The file the guard `flock`s, so two runs for one client never interleave."""
    directory = check_absolute_path("state_dir", state_dir)
    return posixpath.join(directory, f"{check_name('client_name', client_name)}.lock")


def prune_guard_command(guard_path: str, client_name: str) -> str:
    """The server cron command for one client: `/bin/sh GUARD CLIENT`.

    Run through `/bin/sh` so the file needs no exec bit and no shebang trust.
    """
    return shlex.join(
        [
            SHELL,
            check_absolute_path("guard_path", guard_path),
            check_name("client_name", client_name),
        ]
    )


def acknowledge_command(guard_path: str, client_name: str) -> str:
    """What the operator runs (as the borg user) to accept a deliberate deletion."""
    return shlex.join(
        [
            SHELL,
            check_absolute_path("guard_path", guard_path),
            ACKNOWLEDGE_FLAG,
            check_name("client_name", client_name),
        ]
    )


def render_prune_guard(
    *, borg_path: str, borgmatic_path: str, state_dir: str, repo_root: str
) -> str:
    """The guard script, with this server's absolute paths baked in (shell-quoted)."""
    values = {
        "BORG": shlex.quote(check_absolute_path("borg_path", borg_path)),
        "BORGMATIC": shlex.quote(check_absolute_path("borgmatic_path", borgmatic_path)),
        "STATE_DIR": shlex.quote(check_absolute_path("state_dir", state_dir)),
        "REPO_ROOT": shlex.quote(check_absolute_path("repo_root", repo_root)),
        "HEADER": MANAGED_HEADER.rstrip("\n"),
        "BORGMATIC_FLAGS": shlex.join(QUIET_CONSOLE_FLAGS),
        "LOCK_WAIT": str(BORG_LOCK_WAIT_SECONDS),
        "EXIT_FAILED": str(EXIT_FAILED),
        "EXIT_USAGE": str(EXIT_USAGE),
        "EXIT_REFUSED": str(EXIT_REFUSED),
    }
    # One pass, so a value (paths may hold '@') is never scanned for placeholders again.
    return _PLACEHOLDER_RE.sub(lambda match: values[match[1]], _TEMPLATE)


_TEMPLATE = r"""#!/bin/sh
@HEADER@
#
# borgkeep prune guard: prune + compact one client's repository, unless archives
# disappeared since this guard's last prune (a compromised client "deleting" through its
# append-only key). Run it as the borg user:
#
#   /bin/sh prune-guard CLIENT                 check, then prune + compact
#   /bin/sh prune-guard --acknowledge CLIENT   accept a deliberate deletion (no prune)
#
# Exit: 0 ok, 1 failure (borg/borgmatic/lock), 2 usage, 3 refused (archives deleted).
set -eu
umask 077
LC_ALL=C
export LC_ALL

BORG=@BORG@
BORGMATIC=@BORGMATIC@
STATE_DIR=@STATE_DIR@
REPO_ROOT=@REPO_ROOT@

log() {
    if command -v logger >/dev/null 2>&1; then
        logger -t borgkeep-guard "$1" 2>/dev/null || :
    fi
}
say() {
    printf 'borgkeep-guard: %s\n' "$1"
    log "$1"
}
complain() {
    printf 'borgkeep-guard: %s\n' "$1" >&2
    log "$1"
}
die() {
    complain "$2"
    exit "$1"
}

acknowledge=no
if [ "$#" -ge 1 ] && [ "$1" = --acknowledge ]; then
    acknowledge=yes
    shift
fi
if [ "$#" -ne 1 ]; then
    die @EXIT_USAGE@ "usage: /bin/sh $0 [--acknowledge] CLIENT"
fi
client=$1
case $client in
    '' | [!abcdefghijklmnopqrstuvwxyz0123456789]* | *[!abcdefghijklmnopqrstuvwxyz0123456789._-]*)
        die @EXIT_USAGE@ "invalid client name '$client': use lower-case letters, digits, '.', '_' and '-', starting with a letter or digit" ;;
esac
if [ "${#client}" -gt 64 ]; then
    die @EXIT_USAGE@ "invalid client name '$client': at most 64 characters"
fi

repo=$REPO_ROOT/$client
config=$STATE_DIR/prune-$client.yaml
passfile=$STATE_DIR/$client.passphrase
state=$STATE_DIR/$client.archives
lock=$STATE_DIR/$client.lock
before=$STATE_DIR/.$client.archives.before
after=$STATE_DIR/.$client.archives.after
raw=$STATE_DIR/.$client.archives.raw

command -v flock >/dev/null 2>&1 || die @EXIT_FAILED@ "$client: flock(1) is not installed; refusing to run unlocked"
exec 9>>"$lock"
if ! flock -n 9; then
    die @EXIT_FAILED@ "$client: another prune is running for $repo (lock $lock is held); not starting a second one"
fi
trap 'rm -f -- "$before" "$after" "$raw" "$state.new"' EXIT
trap 'exit @EXIT_FAILED@' HUP INT TERM

[ -d "$repo" ] || die @EXIT_FAILED@ "$client: repository $repo does not exist; nothing pruned"
[ -n "$(find "$repo" -prune -user "$(id -u)")" ] ||
    die @EXIT_FAILED@ "$client: $repo is not owned by $(id -un); run the guard as the repository's owner (the borg user), never as root"
[ -r "$passfile" ] || die @EXIT_FAILED@ "$client: cannot read the passphrase file $passfile; nothing pruned"

# One line per archive, "ID NAME", sorted by name. Names are NUL-terminated by borg and their
# control characters shown as '?', so a crafted name cannot forge a line.
list_archives() {
    BORG_PASSCOMMAND="cat $passfile" "$BORG" list --lock-wait @LOCK_WAIT@ \
        --format '{id} {archive}{NUL}' "$repo" </dev/null >"$raw" || return
    tr '\001-\037\177' '[?*]' <"$raw" | tr '\000' '\n' | sort -k 2 >"$1" || return
    rm -f -- "$raw"
}

# The names of archives in state file $1 whose ID is not in list $2, space-separated.
missing_archives() {
    awk 'FILENAME == ARGV[1] { present[$1] = 1; next }
         !($1 in present) { name = $0; sub(/^[^ ]* /, "", name); out = out sep name; sep = " " }
         END { print out }' "$2" "$1"
}

count_lines() {
    wc -l <"$1" | tr -d ' '
}

record_state() {
    cp -- "$1" "$state.new"
    mv -f -- "$state.new" "$state"
}

if ! list_archives "$before"; then
    die @EXIT_FAILED@ "$client: could not list the archives of $repo (borg list failed, see above); nothing pruned"
fi

if [ "$acknowledge" = yes ]; then
    gone=
    if [ -f "$state" ]; then
        gone=$(missing_archives "$state" "$before") ||
            die @EXIT_FAILED@ "$client: could not compare $state with the archives in $repo"
    fi
    record_state "$before"
    say "$client: acknowledged: archive(s) no longer in $repo accepted as deleted: ${gone:-none}; recorded $(count_lines "$state") archive(s); nothing pruned"
    exit 0
fi

first_run=yes
if [ -f "$state" ]; then
    first_run=no
    gone=$(missing_archives "$state" "$before") ||
        die @EXIT_FAILED@ "$client: could not compare $state with the archives in $repo; nothing pruned"
    if [ -n "$gone" ]; then
        die @EXIT_REFUSED@ "$client: REFUSING to prune $repo: archive(s) deleted outside the server's prune: $gone — a client may be compromised; every segment is still on disk. Inspect and recover with Borg's transaction rollback (see the borgkeep README), or acknowledge a deliberate deletion with: /bin/sh $0 --acknowledge $client"
    fi
fi

[ -r "$config" ] || die @EXIT_FAILED@ "$client: cannot read the prune config $config; nothing pruned"
status=0
"$BORGMATIC" -c "$config" @BORGMATIC_FLAGS@ prune compact </dev/null || status=$?

# Recorded even when borgmatic failed: whatever it pruned before failing was its own doing,
# and must not be reported as a client's deletion on the next run.
if ! list_archives "$after"; then
    die @EXIT_FAILED@ "$client: pruned $repo, but could not list its archives afterwards (borg list failed, see above); the next run may report this prune's deletions: check them, then acknowledge"
fi
record_state "$after"
if [ "$status" -ne 0 ]; then
    die @EXIT_FAILED@ "$client: borgmatic prune/compact of $repo failed (exit $status, see above)"
fi
if [ "$first_run" = yes ]; then
    say "$client: first run for $repo: no archive list was recorded before, so nothing could be compared; pruned and recorded $(count_lines "$state") archive(s). From now on a prune is refused if any of them disappears outside this guard."
fi
exit 0
"""
