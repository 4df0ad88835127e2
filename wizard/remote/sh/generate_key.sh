# shellcheck shell=sh disable=SC2154  # r, h: set by dn (dirname.sh), sha (sha.sh)
# Needs dirname.sh.
# generate_key.sh KEY_PATH COMMENT    (prints the public key)
set -eu
k=$1 comment=$2
dn "$k"
mkdir -p -- "$r"
chmod 0700 "$r"
if [ -e "$k" ] || [ -L "$k" ]; then echo "$k already exists (created since the plan was made)" >&2; exit 75; fi
ssh-keygen -q -t ed25519 -N "" -C "$comment" -f "$k" < /dev/null
cat "$k.pub"
