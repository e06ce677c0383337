#!/usr/bin/env bash
# Two arms measured side by side, at the same time: each arm a server and
# its load generator in a network namespace of its own, both running
# concurrently, so both see the same machine. On this shared 2-vCPU VM the
# arms of allocation.sh and ab.sh, run one after the other, read within
# ±15 % of each other between rounds (the machine changes between two
# runs); run together, whatever slows one slows the other, and the ratio of
# the two is what is left. The arms swap namespaces every round.
#
#   benches/paired.sh [rounds] [scenario ...]      default: 6 discussion
#
# An arm is "name|server binary|server settings|huiyi-load flags" (settings
# as key=value separated by spaces). Defaults: issue 12's allocation cost,
#   ARM_A="simulcast+alloc|target/release/huiyi|sfu.bwe_initial_kbps=1000|--simulcast"
#   ARM_B="simulcast|target/release/huiyi|sfu.bwe_initial_kbps=0|--simulcast"
# and e.g. a before/after of two builds:
#   ARM_A="after|target/release/huiyi||" ARM_B="before|/tmp/before/huiyi||" benches/paired.sh 6 discussion
#
# Keep the two arms together well under the machine's cores (the script
# prints both arms' CPU): discussion (30 participants) uses about 0.5 cores
# per arm here. A scenario may carry huiyi-load flags in the same quoted
# argument. Root is needed. Reports go to benches/results/paired-*.json; a
# summary of A ÷ B per round and its median ends the output. Reports are
# named paired-RUN-scenario-arm-rROUND.json, RUN the run's start (UTC).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-6}
[ $# -gt 0 ] && shift
SCENARIOS=("$@")
[ ${#SCENARIOS[@]} -gt 0 ] || SCENARIOS=(discussion)
BIN=${CARGO_TARGET_DIR:-target}/release
ARM_A=${ARM_A:-"simulcast+alloc|$BIN/huiyi|sfu.bwe_initial_kbps=1000|--simulcast"}
ARM_B=${ARM_B:-"simulcast|$BIN/huiyi|sfu.bwe_initial_kbps=0|--simulcast"}
OUT=benches/results
# Each run's reports carry its start time: a later run with the same arm
# names does not overwrite them.
RUN=$(date -u +%Y%m%dT%H%M)
[ $((ROUNDS % 2)) -eq 0 ] || echo "note: an odd number of rounds leaves one namespace (and start slot) to arm A once more" >&2
mkdir -p "$OUT"
cargo build --release --locked -p huiyi-signaling -p huiyi-bench --bin huiyi --bin huiyi-load

# busy_cores, wait_idle
source benches/lib.sh

NS=(huiyi-pair-1 huiyi-pair-2)
PIDS=(); DIRS=(); LOADS=()
cleanup() {
    for p in ${LOADS[@]+"${LOADS[@]}"} ${PIDS[@]+"${PIDS[@]}"}; do kill "$p" 2>/dev/null || true; done
    # (The servers are not this shell's children: wait until they are gone,
    # so the next round's server can take the port.)
    for p in ${PIDS[@]+"${PIDS[@]}"}; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null || true
    done
    LOADS=()
    for d in ${DIRS[@]+"${DIRS[@]}"}; do rm -rf "$d"; done
    PIDS=(); DIRS=()
}
trap 'cleanup; for n in "${NS[@]}"; do ip netns del "$n" 2>/dev/null || true; done' EXIT
for n in "${NS[@]}"; do
    ip netns del "$n" 2>/dev/null || true
    ip netns add "$n"
    ip netns exec "$n" ip link set lo up
done

# start NS BIN SETTINGS: a fresh server in NS; prints "pid dir".
start() {
    local ns=$1 bin=$2 settings=$3 dir pid args=()
    for kv in $settings; do args+=(--set "$kv"); done
    dir=$(mktemp -d /tmp/huiyi-pair-XXXXXX)
    ip netns exec "$ns" "$bin" --data-dir "$dir" --set log.level=warn ${args[@]+"${args[@]}"} \
        >"$dir/server.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do
        ip netns exec "$ns" curl -sf http://127.0.0.1:8470/healthz >/dev/null && { echo "$pid $dir"; return 0; }
        kill -0 "$pid" 2>/dev/null || { echo "the server in $ns exited at start:" >&2; tail -5 "$dir/server.log" >&2; rm -rf "$dir"; return 1; }
        sleep 0.2
    done
    echo "the server in $ns did not answer" >&2
    kill -9 "$pid" 2>/dev/null; rm -rf "$dir"
    return 1
}

for round in $(seq "$ROUNDS"); do
    for spec in "${SCENARIOS[@]}"; do
        read -ra words <<<"$spec"
        s=${words[0]}
        sflags=("${words[@]:1}")
        tag=$(echo "$spec" | tr -c 'a-zA-Z0-9\n' '-' | tr -s '-')
        wait_idle
        # Round 1: A in the first namespace; round 2: in the second; …
        order=(A B); [ $((round % 2)) -eq 0 ] && order=(B A)
        LOADS=()
        for i in 0 1; do
            arm=${order[$i]}
            spec_arm=$ARM_A; [ "$arm" = B ] && spec_arm=$ARM_B
            IFS='|' read -r name bin settings lflags <<<"$spec_arm"
            read -r pid dir < <(start "${NS[$i]}" "$bin" "$settings") || true
            [ -n "${pid:-}" ] || exit 1
            PIDS+=("$pid"); DIRS+=("$dir")
            report="$OUT/paired-$RUN-$tag-${name// /-}-r$round.json"
            # shellcheck disable=SC2086
            ip netns exec "${NS[$i]}" "$BIN/huiyi-load" "$s" --target huiyi --quiet --floor 0 --settle 10 \
                --data-dir "$dir" --huiyi-pid "$pid" --out "$report" \
                ${sflags[@]+"${sflags[@]}"} $lflags &
            LOADS+=($!)
        done
        for l in "${LOADS[@]}"; do wait "$l"; done
        cleanup
        for arm in A B; do
            spec_arm=$ARM_A; [ "$arm" = B ] && spec_arm=$ARM_B
            IFS='|' read -r name _ <<<"$spec_arm"
            report_line "$OUT/paired-$RUN-$tag-${name// /-}-r$round.json" "$s" "$name" "$round"
        done
    done
done

IFS='|' read -r NAME_A _ <<<"$ARM_A"
IFS='|' read -r NAME_B _ <<<"$ARM_B"
python3 - "$OUT/paired-$RUN" "$ROUNDS" "${NAME_A// /-}" "${NAME_B// /-}" "${SCENARIOS[@]}" <<'PY'
import json, re, statistics, sys
out, rounds, a, b, specs = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5:]
def cpu(tag, arm, r):
    return json.load(open(f"{out}-{tag}-{arm}-r{r}.json"))["reports"][0]["server_cpu_us_per_packet"]
for spec in specs:
    tag = re.sub("-+", "-", re.sub("[^a-zA-Z0-9]", "-", spec))
    xa = [cpu(tag, a, r) for r in range(1, rounds + 1)]
    xb = [cpu(tag, b, r) for r in range(1, rounds + 1)]
    ratios = [x / y for x, y in zip(xa, xb)]
    print(f"{spec}: {a} ÷ {b} per round: " + " ".join(f"{q:.3f}" for q in ratios))
    print(f"{spec}: median of the rounds' ratios {statistics.median(ratios):.3f} "
          f"(range {min(ratios):.3f}–{max(ratios):.3f}); arms' medians "
          f"{statistics.median(xa):.2f} / {statistics.median(xb):.2f} µs per packet")
PY
