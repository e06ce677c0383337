#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60), one after another,
# at the lowest priority; exits non-zero, naming them, if any target finds
# a crash (a panic, a failed check, a timeout or running out of memory).
#
#   fuzz/run.sh 600            # every target, ten minutes each
#   fuzz/run.sh 60 sdp token   # only these
#
# Needs the nightly toolchain; installs cargo-fuzz if it is missing. The
# seeds in fuzz/corpus/<target>/ are read, never written: what a run finds
# goes to fuzz/work/<target>/ (kept for the next run), crashing inputs to
# fuzz/artifacts/<target>/, each run's log to fuzz/work/<target>.log.
set -uo pipefail
cd "$(dirname "$0")"

seconds="${1:-60}"

# `nice` ranks processes within one scheduler autogroup (a session each).
# Started in a session of its own (setsid, cron, a service), the run would
# compete with everything else as an equal; lower its whole group instead.
if [ "$(ps -o sid= -p $$ | tr -d ' ')" = "$$" ] && [ -w /proc/self/autogroup ]; then
    echo 19 >/proc/self/autogroup 2>/dev/null || true
fi
shift || true

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    nice -n 19 cargo install cargo-fuzz --locked || exit 2
fi

# Release code with debug assertions (overflow checks on, as in the
# tests); no sanitizer: the code is safe Rust, and speed finds more.
flags=(--release --debug-assertions --sanitizer none)

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

echo "== building ${#targets[@]} targets"
nice -n 19 cargo +nightly fuzz build "${flags[@]}" || exit 2

mkdir -p work
failed=()
for t in "${targets[@]}"; do
    mkdir -p "work/$t"
    log="work/$t.log"
    extra=()
    case "$t" in
        sdp) extra+=(-max_len=32768) ;;  # three SDP texts of a few KiB each
    esac
    nice -n 19 cargo +nightly fuzz run "${flags[@]}" "$t" "work/$t" "corpus/$t" -- \
        -max_total_time="$seconds" -timeout=60 -rss_limit_mb=2048 -print_final_stats=1 \
        ${extra[@]+"${extra[@]}"} >"$log" 2>&1
    status=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    corpus=$(find "work/$t" -type f | wc -l)
    if [ "$status" -eq 0 ]; then
        echo "$t: ok, ${runs:-?} runs in ${seconds} s (${rate:-?}/s), corpus ${corpus} inputs"
    else
        failed+=("$t")
        input=$(grep -o 'artifacts/[^ ]*' "$log" | tail -1)
        echo "$t: CRASH (exit $status) after ${runs:-?} runs; input: ${input:-see $log}; log: fuzz/$log"
        grep -m 3 -E "panicked at|^==[0-9]+== ERROR|SUMMARY: libFuzzer" "$log" | sed 's/^/    /'
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "== crashes in: ${failed[*]}"
    echo "   reproduce one: cargo +nightly fuzz run ${flags[*]} <target> <input>"
    exit 1
fi
echo "== no crash in ${#targets[@]} targets"
