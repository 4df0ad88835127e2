# shellcheck shell=sh
# init_repo.sh URL BORG BORG_RSH BORG_PASSCOMMAND    (run as the client's login)
# A repository already there that opens with this passphrase is the one an earlier apply,
# stopped (killed) while Borg was creating it, went on to finish: taken as done.
set -eu
url=$1 borg=$2 rsh=$3 passcommand=$4
export BORG_FUSE_IMPL=none BORG_RSH="$rsh" BORG_PASSCOMMAND="$passcommand"
if out=$("$borg" init --encryption repokey-blake2 "$url" 2>&1); then
  if [ -n "$out" ]; then printf '%s\n' "$out" >&2; fi
  exit 0
fi
case $out in
  *"repository already exists"*)
    if "$borg" info --lock-wait 60 "$url" > /dev/null 2>&1; then
      echo "the repository $url was already created with this passphrase (by an earlier apply that was stopped): taken as done" >&2
      exit 0
    fi ;;
esac
printf '%s\n' "$out" >&2
exit 1
