#!/usr/bin/env bash
# Sets up everything Borgkeep and its tests need on a fresh Debian/Ubuntu machine (as root):
# the Debian packages of the local lab, the lab's virtualenvs of every proven borgmatic and
# Borg release under /opt/borgkeep-lab (scripts/build-lab.sh; /opt/borgkeep-lab/borgmatic2 is
# the lab hosts' borgmatic 2.x), and the project's own virtualenv in .venv. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(openssh-server openssh-client borgbackup borgmatic cron python3-venv python3-pip tmux sudo util-linux shellcheck)
# Borg 1.4 is built from its source release: a compiler and the headers of its libraries.
packages+=(build-essential pkg-config python3-dev libssl-dev libzstd-dev liblz4-dev libxxhash-dev libacl1-dev)
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

# The lab's hosts run as other users: its venvs come from Debian's python3, never from a
# pyenv under /root that they cannot read.
bash scripts/build-lab.sh

if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv"
  /usr/bin/python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -e '.[test]'
