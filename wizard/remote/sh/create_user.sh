# shellcheck shell=sh
# create_user.sh USER HOME    (run by root)
set -eu
user=$1 home=$2
if ! getent passwd "$user" >/dev/null; then
  useradd --system --create-home --home-dir "$home" --shell /bin/sh "$user"
fi
usermod -p '*' "$user"
