# shellcheck shell=sh
# Needs signals.sh, paths.sh.
# restore.sh DESTINATION fresh|existing URL::ARCHIVE PATH_INSIDE|"" BORG_RSH BORG_PASSCOMMAND
# Run as the client's login. A fresh destination must not exist yet (created here, 0700);
# an existing one must be a real directory (the operator asked to overwrite).
set -eu
umask 077
d=$1 fresh=$2 archive=$3 inside=$4 rsh=$5 passcommand=$6
if [ "$fresh" = fresh ]; then
  if [ -e "$d" ] || [ -L "$d" ]; then echo "$d exists already (created since the plan was made); nothing was restored" >&2; exit 75; fi
  mkdir -p -- "$(dirname -- "$d")"
  mkdir -m 0700 -- "$d"
else
  if [ -L "$d" ]; then linked "$d"; fi
  if [ ! -d "$d" ]; then echo "$d is not a directory" >&2; exit 75; fi
fi
cd -- "$d"
if [ -n "$inside" ]; then set -- "pp:$inside"; t="$d/$inside"; else set --; t="$d"; fi
if ! err=$(BORG_FUSE_IMPL=none BORG_RSH="$rsh" BORG_PASSCOMMAND="$passcommand" borg extract "$archive" "$@" 2>&1 < /dev/null); then
  echo "borg extract failed: $err" >&2
  # a fresh destination that got nothing goes again (rmdir removes only an empty one)
  # shellcheck disable=SC2015  # cd / cannot fail; rmdir may, and then nothing is tidied
  if [ "$fresh" = fresh ]; then cd / && rmdir -- "$d" 2>/dev/null || :; fi
  exit 1
fi
n=$(find "$t" 2>/dev/null | wc -l)
echo "restored: $t ($n item(s))"
