# shellcheck shell=sh disable=SC2154  # r, h: set by dn (dirname.sh), sha (sha.sh)
# Needs signals.sh, dirname.sh, sha.sh, paths.sh.
# delete_file.sh PATH EXPECTED_SHA256|absent BASE    (run as the file's owner)
set -eu
p=$1 expected=$2 base=$3
dn "$p"
d="$r"
no_links "$d" "$base"
if [ -L "$p" ]; then linked "$p"; fi
if [ ! -e "$p" ]; then exit 0; fi
if [ ! -f "$p" ]; then not_a "$p" "regular file"; fi
sha "$p"
if [ "$h" != "$expected" ]; then
  echo "$p changed since the plan was made (refusing to delete it)" >&2
  exit 75
fi
rm -f -- "$p"
