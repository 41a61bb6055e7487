#!/usr/bin/env bash
# Browser check of the explorer: JupyterLab headless on localhost, 08_explore.ipynb opened in Debian's Chromium,
# all cells run, a screenshot of the rendered widgets written to $1 (default: explorer.png).
# Needs: the project's .venv (make demo or make test creates it), Debian's chromium (apt-get install chromium),
# and Node.js with npm (playwright-core is installed into a temporary folder). Not part of `make test`.
#   bash tests/browser/run_browser_check.sh /tmp/explorer.png
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="$(realpath -m "${1:-explorer.png}")"
port="${PORT:-8899}"
work="$(mktemp -d)"
trap 'kill "$lab" 2>/dev/null || true; rm -rf "$work"' EXIT
npm install --silent --prefix "$work" playwright-core@1 >/dev/null
cp "$here/explorer_screenshot.mjs" "$work/"
SAMTL_FAST=1 "$repo/.venv/bin/jupyter" lab --no-browser --allow-root --ip=127.0.0.1 --port="$port" \
  --ServerApp.token=samtl --ServerApp.root_dir="$repo" >"$work/lab.log" 2>&1 &
lab=$!
for _ in $(seq 60); do curl -sf "http://127.0.0.1:$port/api?token=samtl" >/dev/null && break; sleep 1; done
node "$work/explorer_screenshot.mjs" "http://127.0.0.1:$port/lab/tree/notebooks/08_explore.ipynb?token=samtl&reset" "$out"
