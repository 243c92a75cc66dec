#!/usr/bin/env bash
# Tests the VS Code extension end to end:
#   npm ci -> type check + bundle -> grammar and manifest tests -> .vsix build + contents check ->
#   code-server (installed once, cached in ~/.cache/gradwatch-e2e) -> the e2e test in code-server + Chromium.
# Needs .venv (scripts/setup.sh test) for the interpreter the extension runs in the e2e test.
# Environment: GRADWATCH_E2E_PYTHON (default .venv/bin/python), GRADWATCH_E2E_ARGS (extra e2e.mjs flags,
# e.g. --update-docs-screenshot), GRADWATCH_E2E_CACHE (code-server cache folder).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
step() { echo "[test-extension +$(( $(date +%s) - started ))s] $*"; }
fail() { echo "[test-extension] FAILED: $*" >&2; exit 1; }

python=${GRADWATCH_E2E_PYTHON:-.venv/bin/python}
[ -x "$python" ] || fail "$python not found: run scripts/setup.sh test first (or set GRADWATCH_E2E_PYTHON)"
python=$(cd "$(dirname "$python")" && pwd)/$(basename "$python")
command -v node >/dev/null && command -v npm >/dev/null || fail "node and npm are needed"

apt_updated=""
need_debian_package() {  # $1: package, $2: a file it provides
  if [ ! -e "$2" ]; then
    step "installing Debian's $1"
    if [ -z "$apt_updated" ]; then apt-get update -qq; apt_updated=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
  fi
}

step "npm ci"
npm ci --no-audit --no-fund --loglevel=error || fail "npm ci"

step "type check and bundle (tsc --noEmit, esbuild)"
npm run -s build || fail "build"

step "grammar and manifest tests (node --test)"
npm test || fail "grammar/manifest tests"

need_debian_package unzip /usr/bin/unzip
step "building the .vsix"
PYTHON="$python" bash scripts/build-vsix.sh || fail "build-vsix.sh"
vsix=$(ls gradwatch-*.vsix)
node tests/extension/vsix-contents.mjs "$vsix" || fail "vsix contents"

need_debian_package chromium /usr/bin/chromium
step "code-server (cached after the first install)"
code_server=$(bash tests/extension/install-code-server.sh) || fail "code-server install"

step "end-to-end test in code-server (screenshots in .artifacts/e2e/)"
# shellcheck disable=SC2086  # GRADWATCH_E2E_ARGS is a list of flags
node tests/extension/e2e.mjs --code-server "$code_server" --vsix "$vsix" --python "$python" ${GRADWATCH_E2E_ARGS:-} \
  || fail "end-to-end test"

step "extension tests passed"
