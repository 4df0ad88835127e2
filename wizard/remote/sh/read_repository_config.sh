# shellcheck shell=sh
# read_repository_config.sh REPOSITORY    (prints its config, never through a link)
set -eu
c=$1/config
if [ -L "$c" ] || [ ! -f "$c" ]; then echo "$c is not a regular file" >&2; exit 1; fi
cat -- "$c"
