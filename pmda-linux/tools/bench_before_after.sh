#!/usr/bin/env bash
# The live full-fetch benchmark (benches/fetch.rs: one fetch of every
# metric against raw reads of the same files, interleaved) of pmda-linux
# at git revision BEFORE and of the working tree, in one run: both bench
# binaries are built (release; BEFORE exported with git archive into a
# temporary directory, built into this checkout's target directory), then
# run alternately RUNS times. Prints each run's agent and raw times and
# ratio, then per side the median ratio and its min-max, and the date.
#
#   pmda-linux/tools/bench_before_after.sh [BEFORE [RUNS]]
#
# BEFORE defaults to main, RUNS to 3. Only the live part of each bench's
# output is used (the generated trees are skipped with BENCH_LIVE_ONLY=1
# where the bench knows it, read past otherwise).
set -euo pipefail

before=${1:-main}
runs=${2:-3}
repo=$(git rev-parse --show-toplevel)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$repo/target}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

git -C "$repo" archive --format=tar "$before" | tar -x -C "$tmp"

# The bench executable built in directory $1.
build() {
    (cd "$1" && cargo bench -p pmda-linux --bench fetch --no-run --message-format=json 2>/dev/null) |
        jq -r 'select(.reason == "compiler-artifact" and .target.name == "fetch" and .executable != null) | .executable' |
        tail -1
}

echo "building $before ..." >&2
old=$(build "$tmp")
echo "building the working tree ..." >&2
new=$(build "$repo")
[ -x "$old" ] && [ -x "$new" ] || { echo "a bench did not build" >&2; exit 1; }

# One run of bench $1: "agent_us raw_us ratio" of the live full fetch.
run() {
    BENCH_LIVE_ONLY=1 "$1" --bench 2>/dev/null | awk '
        /agent fetch/ && !a { a = $3 }
        /raw read/ && !r { r = $3 }
        /ratio/ && !x { x = $2; sub(/x$/, "", x); print a, r, x; exit }'
}

declare -a old_ratios new_ratios
for i in $(seq 1 "$runs"); do
    read -r oa or ox < <(run "$old")
    read -r na nr nx < <(run "$new")
    printf 'run %d: %s agent %s us raw %s us ratio %sx | working tree agent %s us raw %s us ratio %sx\n' \
        "$i" "$before" "$oa" "$or" "$ox" "$na" "$nr" "$nx"
    old_ratios+=("$ox")
    new_ratios+=("$nx")
done

summary() {
    printf '%s\n' "${@:2}" | sort -g | awk -v who="$1" '
        { v[NR] = $1 }
        END {
            m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            printf "%s: ratio median %.2fx (min %.2fx, max %.2fx) over %d runs\n", who, m, v[1], v[NR], NR
        }'
}
summary "$before" "${old_ratios[@]}"
summary "working tree" "${new_ratios[@]}"
echo "date: $(date -u +%Y-%m-%dT%H:%MZ), load average: $(cut -d' ' -f1-3 /proc/loadavg)"
