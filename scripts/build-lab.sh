#!/usr/bin/env bash
# Builds the lab's virtualenvs of every proven borgmatic and Borg release that is not a Debian
# package (the table in wizard/artefacts/proven_versions.py) under /opt/borgkeep-lab, in
# parallel. Each comes from Debian's /usr/bin/python3 so that the lab's non-root users can run
# it, and is readable by all.
#
# /opt/borgkeep-lab/NAME is a symlink to .venvs/NAME-HASH, HASH naming exactly what it holds
# (its requirements and scripts/lab-constraints.txt). An up-to-date venv is kept, so a second
# run takes well under a second; a changed pin builds a new venv beside the old one and then
# swaps the symlink, so tests already running on the old one are not pulled from under them.
set -euo pipefail
cd "$(dirname "$0")/.."

LAB=/opt/borgkeep-lab
constraints=$PWD/scripts/lab-constraints.txt
constraints_sum=$(sha256sum "$constraints" | cut -d' ' -f1)
spec_text=$(/usr/bin/python3 -m wizard.artefacts.proven_versions lab)  # fails loudly, unlike <(...)
mapfile -t specs <<<"$spec_text"
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

build() {  # NAME REQUIREMENT... — make $LAB/NAME hold exactly these requirements
  local name=$1; shift
  local want="$* constraints=$constraints_sum"
  local hash; hash=$(printf '%s' "$want" | sha256sum | cut -c1-12)
  local real=$LAB/.venvs/$name-$hash link=$LAB/$name
  # One builder per venv at a time (two checkouts may bootstrap at once); this job's own fd.
  exec 9>"$LAB/.venvs/.$name.lock"
  flock 9
  if [ "$(readlink "$link" 2>/dev/null)" = ".venvs/$name-$hash" ] \
    && [ "$(cat "$real/.borgkeep-lab" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  echo "build-lab: building $link ($*)"
  local started=$SECONDS
  rm -rf "$real"
  /usr/bin/python3 -m venv --without-pip "$real"
  # Debian's pip installs into the venv; PIP_CONSTRAINT also reaches isolated build envs.
  PIP_CONSTRAINT=$constraints /usr/bin/python3 -m pip --python "$real/bin/python" install \
    --quiet --disable-pip-version-check --no-input --no-warn-script-location "$@"
  chmod -R a+rX "$real"
  printf '%s\n' "$want" >"$real/.borgkeep-lab"
  # A real directory here is a venv from before the symlinks: renamed out of the way first.
  if [ -e "$link" ] && [ ! -L "$link" ]; then
    mv -T "$link" "$LAB/.venvs/$name-unlinked"
  fi
  ln -sfn ".venvs/$name-$hash" "$link.new"
  mv -T "$link.new" "$link"
  find "$LAB/.venvs" -mindepth 1 -maxdepth 1 -name "$name-*" ! -name "$name-$hash" \
    -exec rm -rf {} +
  echo "build-lab: built $link in $((SECONDS - started))s"
}

if [ ! -d "$LAB/.venvs" ]; then
  mkdir -p "$LAB/.venvs"
  chmod 755 "$LAB" "$LAB/.venvs"
fi
pids=()
names=()
for spec in "${specs[@]}"; do
  read -r -a words <<<"$spec"
  name=$(basename "${words[0]}")
  build "$name" "${words[@]:1}" >"$logs/$name.log" 2>&1 &
  pids+=("$!")
  names+=("$name")
done
failed=0
for i in "${!pids[@]}"; do
  if wait "${pids[$i]}"; then
    cat "$logs/${names[$i]}.log"
  else
    echo "build-lab: building ${names[$i]} failed:" >&2
    cat "$logs/${names[$i]}.log" >&2
    failed=1
  fi
done
exit "$failed"
