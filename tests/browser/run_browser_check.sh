#!/usr/bin/env bash
# Browser check of the explorer: JupyterLab headless on localhost, 08_explore.ipynb opened in Debian's Chromium,
# all cells run, a screenshot of the rendered explorer written to $1 (default: explorer.png).
# Needs: the project's .venv (make demo or make test creates it), Debian's chromium (apt-get install chromium),
# and Node.js with npm (playwright-core is installed into a temporary folder). Not part of `make test`.
#   bash tests/browser/run_browser_check.sh /tmp/explorer.png
# JupyterLab runs with its own settings in a temporary folder: news and update checks off, so no pop-up covers
# the page; autosave off, so the notebook is not rewritten; a fresh workspace.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="$(realpath -m "${1:-explorer.png}")"
port="${PORT:-8899}"
work="$(mktemp -d)"
lab=""
cleanup() {
  if [ -n "$lab" ]; then kill "$lab" 2>/dev/null || true; wait "$lab" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
if curl -s "http://127.0.0.1:$port/" >/dev/null; then
  echo "port $port is taken; set PORT to a free one" >&2
  exit 1
fi
npm install --silent --prefix "$work" playwright-core@1 >/dev/null
cp "$here/explorer_screenshot.mjs" "$work/"
settings="$work/settings/@jupyterlab"
mkdir -p "$settings/apputils-extension" "$settings/docmanager-extension" "$work/workspaces"
echo '{"fetchNews": "false", "checkForUpdates": false}' >"$settings/apputils-extension/notification.jupyterlab-settings"
echo '{"autosave": false}' >"$settings/docmanager-extension/plugin.jupyterlab-settings"  # the notebook stays as it is
notebook="$repo/notebooks/08_explore.ipynb"
before="$(sha256sum "$notebook")"
JUPYTERLAB_SETTINGS_DIR="$work/settings" JUPYTERLAB_WORKSPACES_DIR="$work/workspaces" SAMTL_FAST=1 \
  "$repo/.venv/bin/jupyter" lab --no-browser --allow-root --ip=127.0.0.1 --port="$port" \
  --ServerApp.token=samtl --ServerApp.root_dir="$repo" \
  --LabApp.news_url=None --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate >"$work/lab.log" 2>&1 &
lab=$!
for _ in $(seq 60); do curl -sf "http://127.0.0.1:$port/api?token=samtl" >/dev/null && break; sleep 1; done
if ! curl -sf "http://127.0.0.1:$port/api?token=samtl" >/dev/null; then
  echo "JupyterLab did not start within 60 s; its log:" >&2
  cat "$work/lab.log" >&2
  exit 1
fi
# the notebook explores the model on hand synthetic-mtl: its sliders must start at its validated score threshold
score="$("$repo/.venv/bin/python" -c 'from samtl_lite.pretrained import index
print(format(index()["synthetic-mtl"]["thresholds"]["score"], ".3f"))')"
node "$work/explorer_screenshot.mjs" "http://127.0.0.1:$port/lab/tree/notebooks/08_explore.ipynb?token=samtl&reset" "$out" \
  "$score"
if [ "$(sha256sum "$notebook")" != "$before" ]; then
  echo "notebooks/08_explore.ipynb changed during the check; restore it (git checkout) before committing" >&2
  exit 1
fi
