#!/usr/bin/env bash
# Installs Kasatka into ./.venv exactly as uv.lock pins it. `--test` adds the test tools.
# Works on a fresh Debian machine with Python 3.11; installs Debian packages it needs.
set -euo pipefail
cd "$(dirname "$0")/.."

extras=()
[ "${1:-}" = "--test" ] && extras=(--extra test)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

python=""
for candidate in python3.11 python3; do
  if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    python=$candidate; break
  fi
done
[ -n "$python" ] || { echo "Kasatka needs Python 3.11 (python3.11 or python3)." >&2; exit 1; }

# Debian's Python has no venv/ensurepip unless python3-venv is installed.
missing=()
"$python" -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
package_lists=(scripts/debian-packages.txt)
# The tests also drive a real browser (Debian's chromium, through Playwright).
[ "${1:-}" = "--test" ] && package_lists+=(scripts/debian-packages-test.txt)
for list in "${package_lists[@]}"; do
  [ -f "$list" ] || continue
  while read -r pkg; do
    case "$pkg" in ''|'#'*) continue ;; esac
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done < "$list"
done
if [ ${#missing[@]} -gt 0 ] && command -v apt-get >/dev/null; then
  echo "Installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check uv==0.13.9
# --inexact keeps uv itself, which pip installed into the same environment.
UV_PROJECT_ENVIRONMENT=.venv .venv/bin/uv sync --frozen --inexact --quiet "${extras[@]}"
