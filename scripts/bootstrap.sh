#!/usr/bin/env bash
# Sets up everything Borgkeep and its tests need on a fresh Debian/Ubuntu machine (as root):
# the Debian packages of the local lab, a borgmatic 2.x venv for the lab's hosts, and the
# project's own virtualenv in .venv. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(openssh-server openssh-client borgbackup borgmatic cron python3-venv python3-pip tmux sudo util-linux)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "bootstrap: missing packages: ${missing[*]} — run this as root (it uses apt-get)" >&2
    exit 1
  fi
  echo "bootstrap: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The lab's hosts run as other users: their venv must come from Debian's python3, never
# from a pyenv under /root that they cannot read.
BM2=/opt/borgkeep-lab/borgmatic2
if [ ! -x "$BM2/bin/borgmatic" ]; then
  echo "bootstrap: building the borgmatic 2.x venv in $BM2"
  mkdir -p "$(dirname "$BM2")"
  /usr/bin/python3 -m venv "$BM2"
  "$BM2/bin/pip" install -q --disable-pip-version-check 'borgmatic>=2,<3'
fi
chmod -R a+rX "$(dirname "$BM2")"

if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv"
  /usr/bin/python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -e '.[test]'
