# shellcheck shell=sh disable=SC2154,SC2034  # r, h: set by dn, sha; dm: read by mk (paths.sh)
# Needs signals.sh, dirname.sh, sha.sh, paths.sh.
# write_file.sh PATH EXPECTED_SHA256|absent NEW_SHA256 MODE DIR_MODE BASE GROUP|"" STAMP
# Run as the file's owner; the content comes on stdin.
set -eu
umask 077
p=$1 expected=$2 new=$3 mode=$4 dm=$5 base=$6 group=$7 stamp=$8
dn "$p"
d="$r"
no_links "$d" "$base"
mk "$d"
if [ -L "$p" ]; then linked "$p"; fi
if [ -e "$p" ] && [ ! -f "$p" ]; then not_a "$p" "regular file"; fi
if [ -e "$p" ]; then sha "$p"; cur="$h"; else cur=absent; fi
if [ "$cur" != "$expected" ]; then
  echo "$p changed since the plan was made (refusing to overwrite it)" >&2
  exit 75
fi
if [ "$cur" = "$new" ] && [ -O "$p" ]; then
  chmod "$mode" "$p"
  if [ -n "$group" ]; then chgrp "$group" "$p"; fi
  exit 0
fi
t=$(mktemp "$d/.borgkeep.XXXXXXXX")
trap 'rm -f "$t"' EXIT
cat > "$t"
sha "$t"
if [ "$h" != "$new" ]; then
  echo "the upload was incomplete; nothing was changed" >&2
  exit 1
fi
# mktemp creates the file 0600: only another mode needs a chmod
if [ "$mode" != 0600 ]; then chmod "$mode" "$t"; fi
if [ -n "$group" ]; then chgrp "$group" "$t"; fi
sync "$t" 2>/dev/null || true
if [ -e "$p" ]; then
  b="$(mktemp -u "$p.borgkeep-$stamp-XXXXXX").bak"
  ln -- "$p" "$b" 2>/dev/null || (set -C; cat -- "$p" > "$b")
fi
mv -fT -- "$t" "$p"
trap - EXIT
