#!/usr/bin/env bash
# Does host memory stay bounded whatever the data set's size? Trains the same one-epoch run on all
# 60,000 Fashion-MNIST training images and on the first 6,000 (both imported with import-idx, a
# tenth held out for validation), alternately, REPEAT times each, and prints each run's maximum RSS
# from /usr/bin/time -v, the medians and their ratio (full / tenth). Streaming should keep the
# ratio near 1: what grows with the file count is the index and the per-image bookkeeping only.
# Usage: bench/streaming-rss.sh [WORKDIR]   (default bench/out/streaming-rss; the folders stay there)
# Knobs (environment): REPEAT (2), MODEL (smallcnn), SIZE (28), BATCH (64), WORKERS (2), CLI
# (default build/app/cli/leantune-cli), HEAPTRACK (1: also record each size's last run with
# heaptrack into WORKDIR/heaptrack-NAME.zst).
set -euo pipefail
cd "$(dirname "$0")/.."
cli=$(realpath "${CLI:-build/app/cli/leantune-cli}")
work=${1:-bench/out/streaming-rss}
repeat=${REPEAT:-2}
fm=/usr/share/datasets/fashion-mnist
mkdir -p "$work"
[ -d "$work/full" ] || "$cli" import-idx $fm/train-images-idx3-ubyte.gz \
    $fm/train-labels-idx1-ubyte.gz "$work/full" >/dev/null
[ -d "$work/tenth" ] || "$cli" import-idx $fm/train-images-idx3-ubyte.gz \
    $fm/train-labels-idx1-ubyte.gz "$work/tenth" --limit 6000 >/dev/null
args=(--model "${MODEL:-smallcnn}" --input-size "${SIZE:-28}" --channels 1 --epochs 1
    --batch-size "${BATCH:-64}" --workers "${WORKERS:-2}" --device cpu --no-history --force)

# run NAME I: one run on WORK/NAME; prints its maximum RSS in KiB.
run() {
    local log="$work/run-$1-$2.time"
    /usr/bin/time -v -o "$log" "$cli" train --data "$work/$1" --out "$work/out-$1" "${args[@]}" \
        >"$work/run-$1-$2.log" 2>&1
    awk -F: '/Maximum resident set size/ { gsub(/ /, "", $2); print $2 }' "$log"
}

declare -A peaks
for i in $(seq 1 "$repeat"); do
    for name in full tenth; do
        kib=$(run "$name" "$i")
        peaks[$name]+="$kib "
        printf '%-6s run %d: %d MiB\n' "$name" "$i" $((kib / 1024))
    done
done
if [ "${HEAPTRACK:-0}" = 1 ]; then
    for name in full tenth; do
        heaptrack -o "$work/heaptrack-$name" "$cli" train --data "$work/$name" \
            --out "$work/out-$name" "${args[@]}" >/dev/null 2>&1
    done
fi
median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
full=$(echo "${peaks[full]}" | median)
tenth=$(echo "${peaks[tenth]}" | median)
awk -v f="$full" -v t="$tenth" 'BEGIN { printf "median peak RSS: 60,000 images %.0f MiB, 6,000 images %.0f MiB, ratio %.3f\n", f / 1024, t / 1024, f / t }'
