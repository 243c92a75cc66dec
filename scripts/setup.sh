#!/usr/bin/env bash
# Creates .venv with gradwatch installed in editable mode.
# Usage: scripts/setup.sh [extra]   (extra: "test" adds pytest, pytest-lsp, torch==2.13.0, numpy, hypothesis and hypothesmith)
set -euo pipefail
cd "$(dirname "$0")/.."
extra="${1:-}"

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; assert sys.version_info >= (3, 10)' 2>/dev/null; then
  echo "gradwatch needs Python >= 3.10 (found: $("$python" --version 2>&1))" >&2
  exit 2
fi
if [ ! -x .venv/bin/python ]; then
  if ! "$python" -m venv .venv 2>/dev/null; then
    echo "python3 -m venv failed; installing Debian's python3-venv" >&2
    rm -rf .venv
    apt-get update -qq && apt-get install -y -qq python3-venv
    "$python" -m venv .venv
  fi
fi
.venv/bin/python -m pip install -q --upgrade pip
if [ -n "$extra" ]; then
  .venv/bin/python -m pip install -q -e ".[$extra]"
else
  .venv/bin/python -m pip install -q -e .
fi
