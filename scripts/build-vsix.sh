#!/usr/bin/env bash
# Builds gradwatch-0.1.0.vsix: bundles the TypeScript client with esbuild, installs the language server and its
# pure-Python dependencies into bundled/libs, and packages everything with vsce.
# Usage: bash scripts/build-vsix.sh        (PYTHON=... to choose the Python that runs pip; default python3)
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
version=$(node -p "require('./package.json').version")
vsix="gradwatch-$version.vsix"
step() { echo "[build-vsix] $*"; }

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi

step "bundling the server into bundled/libs"
rm -rf bundled/libs
mkdir -p bundled/libs
# gradwatch itself: a regular (non-editable) install of the repo, without its dependencies...
"$python" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-compile --no-deps --target bundled/libs .
# ...which come as pure-Python wheels, resolved for the oldest Python we support so its backports are included.
"$python" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-compile --no-deps --target bundled/libs \
  --only-binary=:all: --implementation py --abi none --platform any --python-version 3.10 \
  -r client/bundled-requirements.txt
# pip's console scripts and caches are not used from the extension. jedi ships type stubs for ~200 unrelated
# third-party packages and Django (4,800 files, 27 MB); jedi skips missing stub folders and reads the installed
# packages' own sources instead, and torch carries its own annotations, so they are left out. The stdlib stubs stay.
rm -rf bundled/libs/bin bundled/libs/jedi/third_party/typeshed/stubs bundled/libs/jedi/third_party/django-stubs
find bundled/libs -name __pycache__ -type d -prune -exec rm -rf {} +
for module in gradwatch pygls lsprotocol jedi parso cattrs attrs; do
  if [ ! -d "bundled/libs/$module" ]; then
    echo "[build-vsix] bundled/libs/$module is missing after pip install" >&2
    exit 1
  fi
done

step "packaging $vsix (vsce runs the vscode:prepublish build: tsc --noEmit + esbuild)"
rm -f "$vsix"
# The Marketplace page is client/README.md: self-contained, so vsce has no relative links to rewrite.
npx --no-install vsce package --allow-missing-repository --no-dependencies --readme-path client/README.md --out "$vsix"
step "built $vsix ($(du -h "$vsix" | cut -f1))"
