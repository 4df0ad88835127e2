#!/usr/bin/env bash
# Sets everything up, then runs the linters and the whole test suite (unit, screens and the
# end-to-end tests on the local lab, which need root).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh

echo "== ruff check"; .venv/bin/ruff check .
echo "== ruff format --check"; .venv/bin/ruff format --check .
echo "== shellcheck (the shell that runs on hosts)"; shellcheck -s sh wizard/remote/sh/*.sh

echo "== pip install . (not editable) gives a working borgkeep"
check_venv=$(mktemp -d)
/usr/bin/python3 -m venv "$check_venv"
"$check_venv/bin/pip" install -q --disable-pip-version-check . 
"$check_venv/bin/borgkeep" --version
rm -rf "$check_venv"

# Three workers on two cores: the lab tests wait on SSH, cron and borg more than they
# compute. Each test file runs whole on one worker (`loadfile`), so a module's shared lab
# stays shared; every lab is its own set of namespaces and ports, so labs run side by side.
# The screens (Textual pilots, snapshots, tmux) run afterwards on their own: they measure
# what a person sees, and a machine loaded by three labs draws late.
echo "== pytest"
if [ "$#" -gt 0 ]; then
  exec .venv/bin/python -m pytest -p no:cacheprovider -q "$@"
fi
status=0
.venv/bin/python -m pytest -p no:cacheprovider -q -n "${BORGKEEP_TEST_WORKERS:-3}" \
  --dist loadfile --durations=15 --ignore=tests/screens || status=$?
echo "== pytest tests/screens"
.venv/bin/python -m pytest -p no:cacheprovider -q --durations=5 tests/screens || status=$?
exit "$status"
