#!/usr/bin/env bash
# Soak-test the scoring service on a throwaway PostgreSQL database; arguments go to bench/soak.py.
#   bench/soak.sh                      # 40 requests/s for 120 s, 2 workers; writes bench/results/soak.json
#   bench/soak.sh --rate 15 --seconds 600
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python bench/soak.py "$@"
