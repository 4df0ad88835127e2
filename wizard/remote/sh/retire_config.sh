# shellcheck shell=sh
# retire_config.sh PATH TO    (run as the login; one rename in one directory)
set -eu
p=$1 t=$2
if [ -e "$t" ] || [ -L "$t" ]; then
  if [ -e "$p" ] || [ -L "$p" ]; then echo "both $p and $t exist: move one away, then apply again" >&2; exit 1; fi
  echo "$p was already retired: $t"; exit 0
fi
[ -f "$p" ] || { echo "$p is gone or not a file" >&2; exit 1; }
mv -- "$p" "$t"
echo "retired $p: renamed to $t (borgmatic no longer loads it)"
