# shellcheck shell=sh disable=SC2154  # r, h: set by dn (dirname.sh), sha (sha.sh)
# Needs signals.sh, sha.sh.
# install_crontab.sh USER EXPECTED_SHA256|absent NEW_SHA256    (run as USER, crontab on stdin)
set -eu
user=$1 expected=$2 new=$3
c=$(mktemp)
t=$(mktemp)
trap 'rm -f "$t" "$c"' EXIT
if crontab -l > "$c" 2>/dev/null; then sha "$c"; cur="$h"; else cur=absent; fi
if [ "$cur" != "$expected" ]; then
  echo "the crontab of $user changed since the plan was made" >&2
  exit 75
fi
cat > "$t"
sha "$t"
if [ "$h" != "$new" ]; then
  echo "the upload was incomplete; nothing was changed" >&2
  exit 1
fi
crontab - < "$t"
