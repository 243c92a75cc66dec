#!/usr/bin/env bash
# Sets up everything (Python venv with torch, Neovim, the extension's npm packages) and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test

if ! command -v nvim >/dev/null 2>&1; then
  echo "installing Neovim for the editor end-to-end test" >&2
  apt-get update -qq && apt-get install -y -qq neovim
fi

if [ -f scripts/test-extension.sh ]; then
  bash scripts/test-extension.sh
fi

.venv/bin/python -m pytest -q "$@"
