#!/usr/bin/env bash
# What ICE-TCP costs the server (issue 13): the same scenario with every
# participant's media over UDP and over ICE-TCP (huiyi-load --transport),
# alternately, in one run, in a private network namespace, a fresh Huiyi
# (defaults: two media workers, ICE-TCP on the UDP ports' numbers) for each
# run. "CPU per packet" is the server's CPU time divided by the RTP packets
# the participants received (docs/benchmarks.md).
#
# Bandwidth estimation and layer allocation are off (sfu.bwe_initial_kbps=0,
# as in benches/allocation.sh's "off" runs): with them on, a queue anywhere
# on this machine reads as congestion and pauses videos, differently over
# TCP (which queues) and UDP (which drops), and the runs would no longer
# deliver the same packets. HUIYI_SET="key=value ..." replaces that list of
# settings (HUIYI_SET="" for the server's defaults).
#
#   benches/transport.sh [rounds] [scenario ...]     default: 3 discussion "county-plenary --listeners 75"
#
# A scenario may carry huiyi-load flags in the same (quoted) argument. Root
# is needed (network namespace). Reports go to benches/results/transport-*.json;
# a summary (medians, TCP ÷ UDP) ends the output. CARGO_TARGET_DIR is honoured.
#
# The machine may be shared: before each run the script waits (up to
# IDLE_WAIT seconds, default 600) until the other processes use less than
# IDLE_CORES (default 0.3) over 5 s. A run during which they used more than
# that (the report's machine CPU less the server's and the load
# generator's) is marked "disturbed" and left out of the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
[ $# -gt 0 ] && shift
SCENARIOS=("$@")
[ ${#SCENARIOS[@]} -gt 0 ] || SCENARIOS=(discussion "county-plenary --listeners 75")
SETTINGS=(${HUIYI_SET-sfu.bwe_initial_kbps=0})
# (The server reads HUIYI_* variables as its own settings: "set" is none.)
unset HUIYI_SET
NS=huiyi-transport
OUT=benches/results
BIN=${CARGO_TARGET_DIR:-target}/release
mkdir -p "$OUT"
cargo build --release --locked -p huiyi-signaling -p huiyi-bench --bin huiyi --bin huiyi-load

# busy_cores, wait_idle (IDLE_WAIT, IDLE_CORES), netns_up, start_huiyi, stop
source benches/lib.sh
netns_up

REPORTS=()
for round in $(seq "$ROUNDS"); do
    for spec in "${SCENARIOS[@]}"; do
        read -ra words <<<"$spec"
        s=${words[0]}
        flags=("${words[@]:1}")
        tag=$(echo "$spec" | tr -c 'a-zA-Z0-9\n' '-' | tr -s '-')
        for transport in udp tcp; do
            wait_idle
            start_huiyi "$BIN/huiyi" "${SETTINGS[@]/#/--set=}"
            report="$OUT/transport-$tag-$transport-r$round.json"
            ip netns exec "$NS" "$BIN/huiyi-load" "$s" --target huiyi --quiet --transport "$transport" \
                --data-dir "$DATA" --huiyi-pid "$HUIYI" --out "$report" "${flags[@]}" >/dev/null
            REPORTS+=("$report")
            python3 - "$report" "$spec" "$transport" "$round" "$IDLE_CORES" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["reports"][0]
others = r["machine_cpu"] - r["server_cpu"] - r["loadgen_cpu"]
mark = " DISTURBED" if others > float(sys.argv[5]) else ""
print(f"round {sys.argv[4]} {sys.argv[2]:30} {sys.argv[3]}:{mark} "
      f"{r['server_cpu_us_per_packet']:.1f} µs/packet, {r['packets_in_per_sec']:,.0f} packets/s received, "
      f"loss {100 * r['loss']:.2f} %, latency p50 {r['latency_ms_p50']:.1f} ms, "
      f"server CPU {r['server_cpu']:.2f} (busiest thread {r['server_busiest_thread_cpu']:.2f}), "
      f"load generator {r['loadgen_cpu']:.2f}, machine {r['machine_cpu']:.2f} cores busy "
      f"(others {others:.2f}), "
      f"server peers udp/tcp {r['server_peers_udp']}/{r['server_peers_tcp']}", flush=True)
PY
        done
    done
done
stop

python3 - "$IDLE_CORES" "${REPORTS[@]}" <<'PY'
import json, statistics, sys
runs = {}
limit = float(sys.argv[1])
for path in sys.argv[2:]:
    doc = json.load(open(path))
    r = doc["reports"][0]
    key = (doc["scenario"], doc["senders"], doc["listeners"])
    runs.setdefault(key, {"udp": [], "tcp": []})["tcp" if doc["tcp_share"] > 0 else "udp"].append(r)
def disturbed(r):
    return r["machine_cpu"] - r["server_cpu"] - r["loadgen_cpu"] > limit
print("\n(* disturbed: other processes used more than", limit, "cores; left out of the medians)")
print("scenario                         transport  µs/packet (each run)           median  packets/s  server s/s  machine cores")
for (name, senders, listeners), by in runs.items():
    med = {}
    for t in ("udp", "tcp"):
        every = by[t]
        rs = [r for r in every if not disturbed(r)]
        if not rs:
            continue
        us = [r["server_cpu_us_per_packet"] for r in rs]
        med[t] = statistics.median(us)
        each = " / ".join(f"{r['server_cpu_us_per_packet']:.1f}{'*' if disturbed(r) else ''}" for r in every)
        print(f"{name} ({senders} + {listeners})".ljust(33) + f"{t:9}  " + each.ljust(30) + f" {med[t]:6.1f}  " +
              f"{statistics.median(r['packets_in_per_sec'] for r in rs):9,.0f}  " +
              f"{statistics.median(r['server_cpu'] for r in rs):10.2f}  " +
              f"{max(r['machine_cpu'] for r in rs):13.2f}")
    if "udp" in med and "tcp" in med:
        print(f"{'':33}TCP ÷ UDP (medians): {med['tcp'] / med['udp']:.2f}")
PY
