# shellcheck shell=sh
# Needs signals.sh.
# switch_key.sh OLD_KEY NEW_KEY URL BORG_RSH BORG_PASSCOMMAND SSH_ARGV...
# Run as the client's login: prove the old key is refused (SSH_ARGV: ssh to the server with
# the old key) and the new key reaches the repository, then move the new pair over the old.
set -eu
old=$1 new=$2 url=$3 rsh=$4 passcommand=$5
shift 5
for k in "$old" "$old.pub" "$new" "$new.pub"; do
  if [ -L "$k" ]; then echo "$k is a symbolic link; Borgkeep never writes through links — remove it and run again" >&2; exit 75; fi
  if [ ! -f "$k" ]; then echo "$k is missing; nothing was switched" >&2; exit 75; fi
done
if out=$("$@" true < /dev/null 2>&1); then
  echo "the server still accepts the old key $old; nothing was switched" >&2
  exit 1
fi
case "$out" in
  *"Permission denied"*) ;;
  *) echo "could not prove that the old key is refused: $out" >&2; exit 1 ;;
esac
echo "old key refused: $(printf %s "$out" | tail -n 1)"
if ! err=$(BORG_FUSE_IMPL=none BORG_RSH="$rsh" BORG_PASSCOMMAND="$passcommand" borg info "$url" 2>&1 >/dev/null < /dev/null); then
  echo "the new key $new does not reach the repository: $err; the old key pair is kept, run borgkeep apply to pin it again" >&2
  exit 1
fi
echo "new key works: borg info $url through $new"
mv -fT -- "$new.pub" "$old.pub"
mv -fT -- "$new" "$old"
echo "replaced the key pair $old; the old private key is removed"
