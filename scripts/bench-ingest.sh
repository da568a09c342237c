#!/usr/bin/env bash
# Callback ingest benchmark, side by side in one run: `scrm serve` on the
# embedded store (each callback acknowledged only once durable) against the
# decrypt-only baseline (`scrm sim baseline`: same verification, decryption
# and parsing, nothing stored). Both are driven by `scrm sim load` over
# loopback with encrypted OA text callbacks. Results go to stdout; the figures
# in docs/benchmarks.md come from this script.
#
#   scripts/bench-ingest.sh [N_MAX] [N_RATE]
set -euo pipefail
cd "$(dirname "$0")/.."
N_MAX=${1:-100000}
N_RATE=${2:-30000}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

go build -trimpath -o "$work/scrm" ./cmd/scrm

export SCRM_OA_APP_ID=wxbench0000001 SCRM_OA_TOKEN=benchtoken \
  SCRM_OA_AES_KEY=abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG \
  SCRM_WECOM_CORP_ID=wwbench00000001 SCRM_WECOM_TOKEN=benchtoken \
  SCRM_WECOM_AES_KEY=jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C SCRM_LOG_LEVEL=error

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "go: $(go version)"

wait_up() {
  for _ in $(seq 1 200); do
    curl -fsS "http://$1/healthz" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "server at $1 did not start" >&2
  return 1
}

bench() { # name, subcommand
  local name=$1 sub=$2 addr=127.0.0.1:18$((RANDOM % 900 + 100))
  rm -rf "$work/data"
  SCRM_ADDR=$addr SCRM_DATA_DIR="$work/data" "$work/scrm" $sub &
  local pid=$!
  wait_up "$addr"
  local load=("$work/scrm" sim load --url "http://$addr" --kinds oa_text --senders 1000)
  "${load[@]}" -n 5000 --concurrency 32 >/dev/null # warm-up
  echo "== $name: maximum sustained throughput ($N_MAX callbacks, 64 concurrent)"
  "${load[@]}" -n "$N_MAX" --concurrency 64
  echo "== $name: fixed rate 1000/s ($N_RATE callbacks)"
  "${load[@]}" -n "$N_RATE" --rate 1000 --concurrency 64
  echo "== $name: peak resident memory: $(awk '/VmHWM/ {print $2/1024 " MiB"}' /proc/$pid/status)"
  if [ "$sub" = serve ]; then
    echo "== $name: processing throughput (20000 callbacks from 1000 new senders, 64 concurrent, until on timelines)"
    "$work/scrm" sim load --url "http://$addr" --kinds oa_text --senders 1000 -n 20000 --concurrency 64 --until-processed
    echo "== $name: events stored: $(curl -fsS -H 'Authorization: Bearer bench' "http://$addr/api/v1/stats" || echo '?')"
  fi
  kill -TERM $pid
  wait $pid || true
}

export SCRM_API_TOKEN=bench
bench "decrypt-only baseline" "sim baseline"
bench "scrm serve (SQLite, synchronous=FULL)" serve
