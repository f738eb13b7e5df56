#!/usr/bin/env bash
# Installs Kasatka, creates its database with the Russian demo business and starts
# the web UI on http://127.0.0.1:8000 together with the engine worker and a local
# mail sink (demo e-mail never leaves this machine). Ctrl+C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install.sh
exec .venv/bin/kasatka run --demo "$@"
