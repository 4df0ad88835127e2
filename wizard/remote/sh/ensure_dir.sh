# shellcheck shell=sh
# Needs dirname.sh, sha.sh, paths.sh.
# ensure_dir.sh DIR MODE BASE    (run as the directory's owner)
set -eu
d=$1 dm=$2 base=$3
no_links "$d" "$base"
if [ -e "$d" ] && [ ! -d "$d" ]; then not_a "$d" directory; fi
mk "$d"
if [ ! -O "$d" ]; then
  echo "$d belongs to $(stat -c %U -- "$d"), not to $(id -un); Borgkeep does not chown it as root there — chown it by hand and run again" >&2
  exit 1
fi
chmod "$dm" "$d"
