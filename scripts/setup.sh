#!/usr/bin/env bash
# Set up a fresh machine for borderwatch: Debian packages of the test servers, a virtualenv
# in .venv with the project and its test dependencies. Idempotent: a warm machine skips work.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-debian-deps.sh

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
# Re-install only when pyproject.toml changed since the last successful install.
stamp=.venv/.borderwatch-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[test]"
  touch "$stamp"
fi
