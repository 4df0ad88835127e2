# shellcheck shell=sh disable=SC2154  # h: set by sha (sha.sh)
# edit_config.sh PATH TO BEFORE AFTER LINES TMPDIR    (run as the file's owner; needs sha.sh)
# Comment out LINES (1-based, space-separated) of PATH (a borgmatic config, a system
# crontab), which must still hash to BEFORE (what the plan read), keeping the original as
# TO (none when empty: the commented lines keep it); the edited file must hash to AFTER
# (what the plan showed) before it replaces PATH in one rename from TMPDIR (on PATH's
# filesystem, where nothing loads a stray file: cron reads every file in /etc/cron.d on
# some systems). Already edited (PATH hashes to AFTER): done.
set -eu
p=$1 t=$2 before=$3 after=$4 lines=$5 tmpdir=$6
if [ -L "$p" ] || [ ! -f "$p" ]; then echo "$p is gone or not a plain file" >&2; exit 1; fi
sha "$p"
if [ "$h" = "$after" ]; then echo "$p was already edited (its original: $t)"; exit 0; fi
if [ "$h" != "$before" ]; then
  echo "$p changed since the plan: plan again" >&2; exit 1
fi
if [ -n "$t" ]; then
  if [ -L "$t" ]; then echo "$t is a link: move it away, then apply again" >&2; exit 1; fi
  if [ ! -e "$t" ]; then cp -p -- "$p" "$t"; fi
fi
tmp=$(mktemp "$tmpdir/.borgkeep-edit-XXXXXX")
trap 'rm -f -- "$tmp"' EXIT
chmod --reference="$p" -- "$tmp"
awk -v l="$lines" 'BEGIN { n = split(l, a, " "); for (i = 1; i <= n; i++) m[a[i]] = 1 }
  { if (FNR in m) print "# borgkeep took over: " $0; else print }' "$p" > "$tmp"
sha "$tmp"
if [ "$h" != "$after" ]; then echo "the edit of $p came out other than planned: nothing changed" >&2; exit 1; fi
mv -f -- "$tmp" "$p"
trap - EXIT
echo "edited $p: lines $lines commented out${t:+ (original: $t)}"
