#!/usr/bin/env bash
# Does the batch size that find-batch-size answers keep the whole run under the host memory
# budget? For each budget: find-batch-size on the CPU, then RUNS one-epoch train runs at
# the answer given the same budget, as a user would run them (seeds 1..RUNS), each with its memory
# probes, training, validation, a test pass and the checkpoint and model writes, its peak measured
# from outside (/usr/bin/time -v, maximum RSS) and, for the probes, from the run's log. Budgets are
# in the CLI's units (1000M = 1000 MiB).
# The largest batch that really fits comes from train runs at a grid of batch sizes (GRID, one run
# each, seed 1, with the allocator policy of a budgeted run: LEANTUNE_BOUNDED_HOST_MEMORY=1, no
# probes): the largest grid size whose peak stayed under the budget, and the size where the line
# through the two grid sizes that bracket the budget meets it (stated as "interpolated"). Not a
# timed test.
# Usage: bench/batch-finder-budget.sh [WORKDIR]   (default bench/out/batch-finder-budget)
# Knobs (environment): BUDGETS (MiB, default "1000 1250 1500"), RUNS (10), GRID (batch sizes,
# default "16 24 32 40 48 56 64"), TRAIN (images imported from Fashion-MNIST's training set,
# default 240: 192 train + 48 validation at --val-split 0.2, so that even the largest grid size
# trains three whole batches: a run of one or two steps never reaches the steady peak with the
# optimizer's state, and made the grid's large sizes look cheaper than they are), TEST (images from
# its test set, 24), MODEL (resnet18), SIZE (64), CLI (default build/app/cli/leantune-cli), REGRID
# (1: rerun the grid whose peaks WORKDIR keeps from an earlier run).
set -euo pipefail
cd "$(dirname "$0")/.."
cli=$(realpath "${CLI:-build/app/cli/leantune-cli}")
work=${1:-bench/out/batch-finder-budget}
budgets=(${BUDGETS:-1000 1250 1500})
runs=${RUNS:-10}
grid=(${GRID:-16 24 32 40 48 56 64})
model=${MODEL:-resnet18}
size=${SIZE:-64}
fm=/usr/share/datasets/fashion-mnist
mkdir -p "$work"
if [ ! -d "$work/train" ]; then
    "$cli" import-idx $fm/train-images-idx3-ubyte.gz $fm/train-labels-idx1-ubyte.gz "$work/train" \
        --limit "${TRAIN:-240}" >/dev/null
    "$cli" import-idx $fm/t10k-images-idx3-ubyte.gz $fm/t10k-labels-idx1-ubyte.gz "$work/test" \
        --limit "${TEST:-24}" >/dev/null
fi
common=(--data "$work/train" --model "$model" --input-size "$size" --channels 1 --device cpu)
# train BATCH SEED NAME [OPTION...]: one run; prints its peak RSS in bytes: the larger of the
# maximum RSS that /usr/bin/time reports and the host peaks of the run's own memory probes, which
# its log lists (each probe resets the kernel's high-water mark, so /usr/bin/time sees only the
# peak after the last probe: training, validation, test and the writes).
train() {
    rm -rf "$work/runs/$3"
    mkdir -p "$work/runs"
    /usr/bin/time -v -o "$work/runs/$3.time" "$cli" train "${common[@]}" --val-split 0.2 \
        --test "$work/test" --epochs 1 --batch-size "$1" --seed "$2" --out "$work/runs/$3" \
        --no-history "${@:4}" >"$work/runs/$3.log" 2>&1 || { echo "train $3 failed" >&2; tail -3 "$work/runs/$3.log" >&2; exit 1; }
    python3 - "$work/runs/$3.time" "$work/runs/$3.log" <<'PY'
import re, sys
peak = 1024 * int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(sys.argv[1]).read()).group(1))
unit = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
for line in open(sys.argv[2], errors="replace"):
    if "memory probes (host peak" in line:
        for value, u in re.findall(r"\d+: ([\d.]+) (B|KiB|MiB|GiB)", line.split("):", 1)[1]):
            peak = max(peak, int(float(value) * unit[u]))
print(peak)
PY
}
mib() { awk -v b="$1" 'BEGIN { printf "%.0f", b / 1048576 }'; }

start=$SECONDS
declare -A gridPeak
for b in "${grid[@]}"; do
    # A grid run's peak does not depend on the planner: kept in WORKDIR and reused (REGRID=1 reruns).
    if [ -s "$work/grid-$b.peak" ] && [ -z "${REGRID:-}" ]; then
        gridPeak[$b]=$(cat "$work/grid-$b.peak")
    else
        gridPeak[$b]=$(LEANTUNE_BOUNDED_HOST_MEMORY=1 train "$b" 1 "grid-$b")
        echo "${gridPeak[$b]}" >"$work/grid-$b.peak"
    fi
    echo "grid: batch $b peak $(mib "${gridPeak[$b]}") MiB" >&2
done
echo
echo "| budget | answer (predicted peak) | peaks of $runs runs at the answer (MiB) | worst, % of budget | under budget | runs that split the batch | largest grid batch under budget (peak) | interpolated largest batch | answer vs interpolated |"
echo "|---|---|---|---|---|---|---|---|---|"
for mb in "${budgets[@]}"; do
    budget=$((mb * 1048576))
    json=$("$cli" find-batch-size "${common[@]}" --memory-budget "${mb}M" --json)
    echo "$json" >"$work/find-$mb.json"
    answer=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['batch_size'])" "$json")
    predicted=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['predicted_peak_bytes'])" "$json")
    peaks=() under=0 worst=0 split=0
    for seed in $(seq 1 "$runs"); do
        p=$(train "$answer" "$seed" "b$mb-s$seed" --memory-budget "${mb}M")
        peaks+=("$(mib "$p")")
        [ "$p" -le "$budget" ] && under=$((under + 1))
        [ "$p" -gt "$worst" ] && worst=$p
        grep -q "does not fit whole" "$work/runs/b$mb-s$seed.log" && split=$((split + 1))
        echo "budget $mb MiB: batch $answer seed $seed peak $(mib "$p") MiB" >&2
    done
    # The largest grid size under the budget, and the line through the sizes that bracket it.
    best=0 lo=0 hi=0
    for b in "${grid[@]}"; do
        if [ "${gridPeak[$b]}" -le "$budget" ]; then best=$b; lo=$b; elif [ "$hi" -eq 0 ]; then hi=$b; fi
    done
    interp=$(python3 -c "
import sys
lo, hi, budget = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[5])
plo, phi = int(sys.argv[3] or 0), int(sys.argv[4] or 0)
if lo == 0 or hi == 0 or phi <= plo: print('n/a')
else: print('%.1f' % (lo + (budget - plo) * (hi - lo) / (phi - plo)))
" "$lo" "$hi" "${gridPeak[$lo]:-}" "${gridPeak[$hi]:-}" "$budget")
    ratio=$(python3 -c "import sys; print('n/a' if sys.argv[2] == 'n/a' else '%.0f %%' % (100 * int(sys.argv[1]) / float(sys.argv[2])))" "$answer" "$interp")
    echo "| $mb MiB | $answer ($(mib "$predicted") MiB) | ${peaks[*]} | $(mib "$worst") MiB, $(python3 -c "print('%.1f' % (100 * $worst / $budget))") % | $under of $runs | $split | $best ($( [ "$best" -gt 0 ] && mib "${gridPeak[$best]}" || echo -) MiB) | $interp | $ratio |"
done
echo
echo "grid peaks (batch: MiB): $(for b in "${grid[@]}"; do printf '%s: %s, ' "$b" "$(mib "${gridPeak[$b]}")"; done)"
echo "wall time: $((SECONDS - start)) s"
