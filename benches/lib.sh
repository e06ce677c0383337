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
