# shellcheck shell=sh
# Needs signals.sh, paths.sh.
# delete_repository.sh REPOSITORY BORG PASSCOMMAND    (run as the borg user)
# PASSCOMMAND `cat` alone: the server's copy is gone, Borg reads the passphrase on stdin.
set -eu
r=$1 borg=$2 passcommand=$3
if [ -L "$r" ]; then linked "$r"; fi
if [ ! -d "$r" ] || [ ! -f "$r/config" ] || [ -L "$r/config" ]; then
  echo "$r is not a Borg repository; nothing was deleted" >&2
  exit 75
fi
if [ "$passcommand" = cat ]; then
  BORG_DELETE_I_KNOW_WHAT_I_AM_DOING=YES BORG_RELOCATED_REPO_ACCESS_IS_OK=no BORG_PASSCOMMAND="$passcommand" "$borg" delete --lock-wait 60 "$r"
else
  BORG_DELETE_I_KNOW_WHAT_I_AM_DOING=YES BORG_RELOCATED_REPO_ACCESS_IS_OK=no BORG_PASSCOMMAND="$passcommand" "$borg" delete --lock-wait 60 "$r" < /dev/null
fi
echo "deleted the repository $r and every archive in it"
