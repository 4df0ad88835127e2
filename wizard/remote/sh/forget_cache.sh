# shellcheck shell=sh
# Needs signals.sh.
# forget_cache.sh REPOSITORY_ID URL BORG_RSH BORG_PASSCOMMAND    (run as the client's login)
# Borg 1.x keeps a repository's security records for the running user under the first of
# these directories that is set.
set -eu
id=$1 url=$2 rsh=$3 passcommand=$4
s=${BORG_SECURITY_DIR:-${BORG_CONFIG_DIR:-${XDG_CONFIG_HOME:-$HOME/.config}/borg}/security}/$id
if [ -L "$s" ] || [ -L "$s/manifest-timestamp" ]; then echo "$s is a symbolic link; Borgkeep never writes through links — remove it and run again" >&2; exit 75; fi
rm -f -- "$s/manifest-timestamp"
BORG_FUSE_IMPL=none BORG_RSH="$rsh" BORG_PASSCOMMAND="$passcommand" BORG_RELOCATED_REPO_ACCESS_IS_OK=yes borg delete --cache-only "$url" < /dev/null
echo "removed the security record $s/manifest-timestamp and the cache"
