#!/usr/bin/env bash
# Huiyi and Janus side by side, on this machine, in one run: Janus
# (benches/janus/run.sh) and Huiyi run inside the same private network
# namespace, and huiyi-load drives each scenario against both. Both servers
# are started fresh for every scenario, so that memory growth is the
# scenario's own.
#
#   benches/compare.sh [scenario ...] [-- huiyi-load flags]
#                                         default: all four scenarios
#   e.g. benches/compare.sh audio-webinar -- --listeners 150
#
# Janus runs with one event loop per core (JANUS_EVENT_LOOPS overrides).
# Reports go to benches/results/<scenario>.json; the tables to stdout.
# Root is needed (network namespace). Bounded: each scenario stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
SCENARIOS=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do SCENARIOS+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
EXTRA=("$@")
[ ${#SCENARIOS[@]} -gt 0 ] || SCENARIOS=(county-plenary discussion audio-webinar small-rooms)
NS=huiyi-bench
OUT=benches/results
# Janus as its users run it under load: one media event loop per core
# (`event_loops`; its default, a thread per PeerConnection, collapses on
# these scenarios and would flatter Huiyi). JANUS_EVENT_LOOPS=0 for that
# default.
export JANUS_EVENT_LOOPS=${JANUS_EVENT_LOOPS:-$(nproc)}
mkdir -p "$OUT"
cargo build --release --locked -p huiyi-signaling -p huiyi-bench --bin huiyi --bin huiyi-load

HUIYI=""
DATA=""
stop_all() {
    [ -n "$HUIYI" ] && kill "$HUIYI" 2>/dev/null && wait "$HUIYI" 2>/dev/null || true
    [ -n "$DATA" ] && rm -rf "$DATA"
    benches/janus/run.sh stop >/dev/null 2>&1 || true
}
trap stop_all EXIT

for s in "${SCENARIOS[@]}"; do
    stop_all
    benches/janus/run.sh start >/dev/null
    DATA=$(mktemp -d /tmp/huiyi-compare-XXXXXX)
    # Huiyi with its defaults (two media workers) and its own data directory.
    ip netns exec "$NS" target/release/huiyi --data-dir "$DATA" --set log.level=warn >/dev/null 2>&1 &
    HUIYI=$!
    for _ in $(seq 50); do
        ip netns exec "$NS" curl -sf http://127.0.0.1:8470/healthz >/dev/null && break
        sleep 0.2
    done
    echo "== $s"
    ip netns exec "$NS" target/release/huiyi-load "$s" --target both --quiet \
        --data-dir "$DATA" --huiyi-pid "$HUIYI" --janus-pid "$(cat benches/janus/.run/janus.pid)" \
        --out "$OUT/$s.json" "${EXTRA[@]}"
done
