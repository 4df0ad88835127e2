# shellcheck shell=sh
# Needs paths.sh.
# create_dir_as_root.sh DIR MODE OWNER OWNER:GROUP    (run by root)
set -eu
d=$1 mode=$2 owner=$3 owner_spec=$4
if [ -L "$d" ]; then linked "$d"; fi
if [ -e "$d" ] && [ ! -d "$d" ]; then not_a "$d" directory; fi
if [ ! -d "$d" ]; then
  mkdir -p -- "$(dirname -- "$d")"
  mkdir -m "$mode" -- "$d"
fi
if [ "$(stat -c %U -- "$d")" != "$owner" ]; then
  chmod "$mode" "$d"
  chown -h "$owner_spec" "$d"
fi
