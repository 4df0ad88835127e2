#!/usr/bin/env bash
# Sets everything up, then runs the linters and the whole test suite (unit, screens and the
# end-to-end tests on the local lab, which need root).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh

echo "== ruff check"; .venv/bin/ruff check .
echo "== ruff format --check"; .venv/bin/ruff format --check .

echo "== pip install . (not editable) gives a working borgkeep"
check_venv=$(mktemp -d)
/usr/bin/python3 -m venv "$check_venv"
"$check_venv/bin/pip" install -q --disable-pip-version-check . 
"$check_venv/bin/borgkeep" --version
rm -rf "$check_venv"

echo "== pytest"
.venv/bin/python -m pytest -p no:cacheprovider -q "$@"
