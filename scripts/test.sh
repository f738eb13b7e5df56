#!/usr/bin/env bash
# Installs what the tests need and runs the whole suite: ruff, mypy, pytest on
# SQLite and on PostgreSQL. With CI=true an unreachable PostgreSQL is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install.sh --test
export PATH="$PWD/.venv/bin:$PATH"
unset DATABASE_URL

echo "== ruff"; ruff check .
echo "== mypy"; mypy kasatka

echo "== pytest on SQLite"
pytest "$@"

PG_URL=${KASATKA_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
if python -c "import psycopg, sys; psycopg.connect(sys.argv[1], connect_timeout=5).close()" "$PG_URL" 2>/dev/null; then
  echo "== pytest on PostgreSQL"
  DATABASE_URL=$PG_URL pytest "$@"
elif [ "${CI:-}" = "true" ]; then
  echo "PostgreSQL is unreachable at $PG_URL: under CI that is a failure." >&2
  exit 1
else
  echo "!! PostgreSQL unreachable at $PG_URL: skipped the PostgreSQL run (set CI=true to fail)." >&2
fi
