#!/usr/bin/env bash
# What a video publisher with its subscriptions costs in memory (issue 15):
# the same meeting run with cameras and with every camera off
# (`--video-kbps 0`), the server's anonymous resident memory read from
# /proc/PID/smaps 20 s into each run, the difference divided by the
# publishers. Anonymous memory is what the process allocated; the binary's
# code pages that the media paths fault in on first use (file-backed,
# shared, ~4 MB here, the same with cameras or without) and the idle
# server's memory are left out of both arms. The server runs with the
# deployed allocator setting (config/huiyi.service's GLIBC_TUNABLES).
#
#   benches/memory.sh [rounds] [scenario] [publishers]   default: 2 discussion 6
#
# SERVER picks the binary (default: the release build). Root is needed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-2}
SCENARIO=${2:-discussion}
PUBLISHERS=${3:-6}
BIN=${CARGO_TARGET_DIR:-target}/release
SERVER=$(realpath "${SERVER:-$BIN/huiyi}")
cargo build --release --locked -q -p huiyi-bench --bin huiyi-load
NS=huiyi-memory
source benches/lib.sh
netns_up
export GLIBC_TUNABLES=glibc.malloc.mmap_threshold=1048576

# Anonymous and file-backed resident memory of PID, in MB.
resident() {
    python3 - "$1" <<'PY'
import re, sys
anon = file = 0
kind = None
for line in open(f"/proc/{sys.argv[1]}/smaps"):
    if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
        parts = line.split()
        kind = "file" if len(parts) > 5 and parts[5].startswith("/") else "anon"
    elif line.startswith("Rss:"):
        kb = int(line.split()[1])
        if kind == "file":
            file += kb
        else:
            anon += kb
print(f"{anon / 1024:.2f} {file / 1024:.2f}")
PY
}

declare -A ANON
for round in $(seq "$ROUNDS"); do
    for arm in cameras audio; do
        flags=()
        [ "$arm" = audio ] && flags=(--video-kbps 0)
        wait_idle
        start_huiyi "$SERVER"
        read -r idle_anon idle_file < <(resident "$HUIYI")
        ip netns exec "$NS" "$BIN/huiyi-load" "$SCENARIO" --target huiyi --quiet --data-dir "$DATA" \
            --huiyi-pid "$HUIYI" --out "/tmp/huiyi-memory-$arm.json" ${flags[@]+"${flags[@]}"} >/dev/null 2>&1 &
        load=$!
        sleep 20
        read -r anon file < <(resident "$HUIYI")
        wait "$load"
        stop
        grown=$(python3 -c "print(f'{$anon - $idle_anon:.2f}')")
        ANON[$arm]="${ANON[$arm]-} $grown"
        echo "round $round $SCENARIO $arm: anonymous $idle_anon → $anon MB (+$grown), file-backed $idle_file → $file MB"
    done
done

python3 - "$PUBLISHERS" "${ANON[cameras]}" "${ANON[audio]}" <<'PY'
import statistics, sys
n = int(sys.argv[1])
cams = [float(v) for v in sys.argv[2].split()]
audio = [float(v) for v in sys.argv[3].split()]
c, a = statistics.median(cams), statistics.median(audio)
print(f"anonymous memory grown: with cameras {c:.2f} MB, cameras off {a:.2f} MB (medians)")
print(f"per video publisher with its subscriptions: {(c - a) / n:.2f} MB ({n} publishers)")
PY
