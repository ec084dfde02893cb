#!/usr/bin/env bash
# Load-test POST /v1/score over real HTTP with wrk: single entries (1 connection), batches of 100 (2 connections).
# Needs: make up (a champion and data/entries.parquet) and wrk (apt-get install wrk).
#   bench/load.sh                      # SQLite decisions store in a temp dir
#   DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/bench bench/load.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-30s}
PORT=${PORT:-8765}
work=$(mktemp -d)
export DATABASE_URL=${DATABASE_URL:-sqlite:///$work/bench.db}
.venv/bin/python bench/bodies.py --data data/entries.parquet --out "$work"
.venv/bin/targeting db upgrade
.venv/bin/targeting history load --data data/entries.parquet --replace
KEY=$(.venv/bin/targeting keys create --name "load-$(date +%s%N)" --role scorer | tail -1)
.venv/bin/targeting serve --port "$PORT" > "$work/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 120); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.5; done
curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null || { echo "service did not start"; cat "$work/serve.log"; exit 1; }
echo "== one entry per request, 1 connection, $DURATION"
wrk -t1 -c1 -d"$DURATION" --timeout 30s --latency -s bench/score.lua "http://127.0.0.1:$PORT/v1/score" -- "$work/one.json" "$KEY"
echo "== 100 entries per request, 2 connections, $DURATION (entries/s = requests/s x 100)"
wrk -t2 -c2 -d"$DURATION" --timeout 30s --latency -s bench/score.lua "http://127.0.0.1:$PORT/v1/score" -- "$work/batch100.json" "$KEY"
