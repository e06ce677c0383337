#!/usr/bin/env bash
# Two builds of the server, before and after a change, compared alternately
# on the same scenarios in one run (issue 15: "each change comes with its
# before/after from one run"), in a private network namespace, a fresh
# server (its defaults) for each run. "CPU per packet" is the server's CPU
# time divided by the RTP packets the participants received
# (docs/benchmarks.md).
#
#   benches/ab.sh BEFORE_BIN AFTER_BIN [rounds] [scenario ...]
#                                  default: 3 county-plenary "audio-webinar --listeners 150"
#
# e.g. (the "before" binary from a worktree of the previous commit):
#   git worktree add /tmp/before HEAD~1 && (cd /tmp/before && cargo build --release -p huiyi-signaling)
#   benches/ab.sh /tmp/before/target/release/huiyi target/release/huiyi 3 county-plenary
#
# A scenario may carry huiyi-load flags in the same (quoted) argument;
# AFTER_FLAGS="..." adds huiyi-load flags to the after arm only (e.g. the
# same binary twice, AFTER_FLAGS=--record: what recording costs), and
# BEFORE_FLAGS to the before arm;
# HUIYI_SET="key=value ..." adds server settings to both. Root is needed
# (network namespace). Reports go to benches/results/ab-*.json; a summary
# (medians, after ÷ before) ends the output. Before each run the script waits
# for a quiet machine (benches/lib.sh); a run others disturbed is marked.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { sed -n 2,20p "$0"; exit 2; }
BEFORE=$(realpath "$1"); AFTER=$(realpath "$2"); shift 2
ROUNDS=${1:-3}
[ $# -gt 0 ] && shift
SCENARIOS=("$@")
[ ${#SCENARIOS[@]} -gt 0 ] || SCENARIOS=(county-plenary "audio-webinar --listeners 150")
SETTINGS=()
for kv in ${HUIYI_SET-}; do SETTINGS+=(--set "$kv"); done
# (The server reads HUIYI_* variables as its own settings: "set" is none.)
unset HUIYI_SET
NS=huiyi-ab
OUT=benches/results
BIN=${CARGO_TARGET_DIR:-target}/release
mkdir -p "$OUT"
cargo build --release --locked -p huiyi-bench --bin huiyi-load

# busy_cores, wait_idle, netns_up, start_huiyi, stop
source benches/lib.sh
netns_up

REPORTS=()
for round in $(seq "$ROUNDS"); do
    for spec in "${SCENARIOS[@]}"; do
        read -ra words <<<"$spec"
        s=${words[0]}
        flags=("${words[@]:1}")
        tag=$(echo "$spec" | tr -c 'a-zA-Z0-9\n' '-' | tr -s '-')
        for arm in before after; do
            bin=$BEFORE; [ "$arm" = after ] && bin=$AFTER
            wait_idle
            start_huiyi "$bin" ${SETTINGS[@]+"${SETTINGS[@]}"}
            report="$OUT/ab-$tag-$arm-r$round.json"
            ip netns exec "$NS" "$BIN/huiyi-load" "$s" --target huiyi --quiet \
                --data-dir "$DATA" --huiyi-pid "$HUIYI" --out "$report" ${flags[@]+"${flags[@]}"} \
                $([ "$arm" = after ] && echo "${AFTER_FLAGS-}") \
                $([ "$arm" = before ] && echo "${BEFORE_FLAGS-}") >/dev/null
            REPORTS+=("$arm:$report")
            python3 - "$report" "$spec" "$arm" "$round" "$IDLE_CORES" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["reports"][0]
others = r["machine_cpu"] - r["server_cpu"] - r["loadgen_cpu"]
mark = " DISTURBED" if others > float(sys.argv[5]) else ""
print(f"round {sys.argv[4]} {sys.argv[2]:32} {sys.argv[3]:6}:{mark} "
      f"{r['server_cpu_us_per_packet']:.1f} µs/packet (workers {r.get('media_cpu_us_per_packet', 0):.1f}), {r['packets_in_per_sec']:,.0f} packets/s received, "
      f"loss {100 * r['loss']:.2f} %, undelivered {100 * r.get('undelivered', 0):.2f} % "
      f"(audio {100 * r.get('undelivered_audio', 0):.2f} %), latency p50 {r['latency_ms_p50']:.1f} p99 {r['latency_ms_p99']:.1f} ms, "
      f"server CPU {r['server_cpu']:.2f} (busiest thread {r['server_busiest_thread_cpu']:.2f}), "
      f"machine {r['machine_cpu']:.2f} cores (others {others:.2f})", flush=True)
PY
        done
    done
done
stop

python3 - "$IDLE_CORES" "${REPORTS[@]}" <<'PY'
import json, statistics, sys
limit = float(sys.argv[1])
runs = {}
for item in sys.argv[2:]:
    arm, path = item.split(":", 1)
    doc = json.load(open(path))
    r = doc["reports"][0]
    key = (doc["scenario"], doc["senders"], doc["listeners"])
    runs.setdefault(key, {"before": [], "after": []})[arm].append(r)
def disturbed(r):
    return r["machine_cpu"] - r["server_cpu"] - r["loadgen_cpu"] > limit
print("\n(* disturbed: other processes used more than", limit, "cores; medians take every run, both arms alike)")
print("scenario                          arm     µs/packet (each run)          median  latency p99 ms  loss %  undelivered %")
for (name, senders, listeners), by in runs.items():
    med = {}
    for arm in ("before", "after"):
        rs = by[arm]
        med[arm] = statistics.median(r["server_cpu_us_per_packet"] for r in rs)
        each = " / ".join(f"{r['server_cpu_us_per_packet']:.1f}{'*' if disturbed(r) else ''}" for r in rs)
        print(f"{name} ({senders} + {listeners})".ljust(34) + f"{arm:7} " + each.ljust(30) + f"{med[arm]:6.1f}  "
              + f"{statistics.median(r['latency_ms_p99'] for r in rs):14.1f}  "
              + f"{100 * statistics.median(r['loss'] for r in rs):6.2f}  "
              + f"{100 * statistics.median(r.get('undelivered', 0) for r in rs):13.2f}")
    print(f"{'':34}after ÷ before (medians): {med['after'] / med['before']:.2f}")
PY
