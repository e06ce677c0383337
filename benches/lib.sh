# Shared by the benchmark scripts (sourced): how busy the machine is, and
# waiting until it is quiet enough to measure.
#
# IDLE_WAIT (seconds, default 600) and IDLE_CORES (default 0.3) tune wait_idle.

IDLE_WAIT=${IDLE_WAIT:-600}
IDLE_CORES=${IDLE_CORES:-0.3}

# Cores busy over the last 5 s, every process (/proc/stat).
busy_cores() {
    python3 - <<'PY'
import time
def ticks():
    f = [int(v) for v in open("/proc/stat").readline().split()[1:]]
    return sum(f[i] for i in (0, 1, 2, 5, 6))
a = ticks(); time.sleep(5); print(f"{(ticks() - a) / 100 / 5:.2f}")
PY
}

# Waits (up to IDLE_WAIT s) until other processes use less than IDLE_CORES.
wait_idle() {
    local waited=0 busy
    while :; do
        busy=$(busy_cores)
        python3 -c "import sys; sys.exit(0 if $busy < $IDLE_CORES else 1)" && return 0
        if [ "$waited" -ge "$IDLE_WAIT" ]; then
            echo "the machine is still busy ($busy cores) after ${IDLE_WAIT} s: running anyway" >&2
            return 0
        fi
        waited=$((waited + 5))
    done
}

# A private network namespace "$NS" with loopback up, removed (with any
# server still running) when the script exits.
HUIYI=""
DATA=""
stop() {
    [ -n "$HUIYI" ] && kill "$HUIYI" 2>/dev/null && wait "$HUIYI" 2>/dev/null || true
    [ -n "$DATA" ] && rm -rf "$DATA"
    HUIYI=""; DATA=""
}
netns_up() {
    trap 'stop; ip netns del "$NS" 2>/dev/null || true' EXIT
    ip netns del "$NS" 2>/dev/null || true
    ip netns add "$NS"
    ip netns exec "$NS" ip link set lo up
}

# start_huiyi BIN [huiyi flags…]: a fresh server in "$NS" on a new data
# directory ($DATA; its pid in $HUIYI), once /healthz answers (20 s at most).
start_huiyi() {
    local bin=$1; shift
    stop
    DATA=$(mktemp -d /tmp/huiyi-bench-XXXXXX)
    ip netns exec "$NS" "$bin" --data-dir "$DATA" --set log.level=warn "$@" >"$DATA/server.log" 2>&1 &
    HUIYI=$!
    for _ in $(seq 100); do
        ip netns exec "$NS" curl -sf http://127.0.0.1:8470/healthz >/dev/null && return 0
        # A server that exited (a bad setting, e.g. a HUIYI_* variable it
        # reads as one) says why, instead of a run of refused connections.
        if ! kill -0 "$HUIYI" 2>/dev/null; then
            echo "the server exited at start:" >&2
            tail -5 "$DATA/server.log" >&2
            return 1
        fi
        sleep 0.2
    done
}

# report_line REPORT SCENARIO ARM ROUND: one line of a huiyi-load report.
report_line() {
    python3 - "$@" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["reports"][0]
print(f"round {sys.argv[4]} {sys.argv[2]:15} {sys.argv[3]:16}: "
      f"{r['server_cpu_us_per_packet']:.2f} µs/packet, {r['packets_in_per_sec']:,.0f} packets/s received, "
      f"loss {100 * r['loss']:.2f} %, latency p50 / p99 {r['latency_ms_p50']:.1f} / {r['latency_ms_p99']:.1f} ms, "
      f"server CPU {r['server_cpu']:.2f}, load generator CPU {r['loadgen_cpu']:.2f}")
PY
}
