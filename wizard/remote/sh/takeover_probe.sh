# shellcheck shell=sh
# takeover_probe.sh REPOSITORY BORG    (run as the borg user; the passphrase on stdin)
# Read only: what a takeover will find in the repository (`borg list --json`), or why it
# cannot be read. Exit 76: a Borg 2 repository; 77: not a repository at all; else Borg's.
set -eu
r=$1 borg=$2
if [ -L "$r" ]; then echo "$r is a symbolic link" >&2; exit 77; fi
if [ -d "$r/config" ] && [ -d "$r/data" ]; then
  echo "$r is a Borg 2 repository" >&2; exit 76
fi
if [ ! -f "$r/config" ]; then echo "$r is not a Borg repository" >&2; exit 77; fi
BORG_RELOCATED_REPO_ACCESS_IS_OK=no BORG_PASSCOMMAND=cat "$borg" list --json --lock-wait 3 "$r"
