# shellcheck shell=sh
# init_repo.sh URL BORG BORG_RSH BORG_PASSCOMMAND    (run as the client's login)
set -eu
url=$1 borg=$2 rsh=$3 passcommand=$4
BORG_FUSE_IMPL=none BORG_RSH="$rsh" BORG_PASSCOMMAND="$passcommand" "$borg" init --encryption repokey-blake2 "$url"
