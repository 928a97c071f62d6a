#!/usr/bin/env bash
# Benchmarks (issue 9): generate realistic n8n 2.40.7 data and measure backup and restore
# against the raw tools and n8n's own export, side by side; writes docs/benchmarks.md
# (and docs/benchmarks.json, which later runs of other sizes merge into).
#
#   scripts/bench.sh                          # SIZES=small,10k,100k on postgres and sqlite, RUNS=3
#   SIZES=1m DBS=postgres scripts/bench.sh    # 1M executions (RUNS_1M=1 by default; ~3 GB of data)
#   scripts/bench.sh --render-only            # re-render the doc from docs/benchmarks.json
#
# Knobs: SIZES (small,10k,100k,1m), DBS (postgres,sqlite), RUNS (3), RUNS_SMALL (1), RUNS_1M (1),
# EXPORT_RUNS_1M (1: n8n's export takes ~10 min there), EXPORT_LIMIT (7200 s: a longer export is stopped
# and reported as a lower bound), BENCH_WORK (/var/tmp/lifeboat-bench),
# BENCH_KEEP=1 (keep the generated sites and reuse them next time; default: drop them).
# Never part of `make test`: timings are not asserted anywhere.
set -euo pipefail
. "$(dirname "$0")/env.sh"
cd "$LIFEBOAT_ROOT"
scripts/setup.sh tools venv collections n8n postgres >&2
exec python -m bench "$@"
