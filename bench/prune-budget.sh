#!/usr/bin/env bash
# How far can it be pruned? For each MODEL on Fashion-MNIST (all 60 000 training images, or the
# first SUBSET of each class, 10 % split off for validation; the 10 000 test images tested once per
# run):
#   dense    a 3-epoch dense run, the start of everything else (seed 1);
#   grid     brute force: fine-tune from it for 1 epoch at each final sparsity of GRID with the
#            advisor's own schedule (polynomial 0 -> S over the first 70 % of the steps) and the
#            default scope (global, LAMP); the truth is the highest S whose test accuracy is within
#            1 point of the dense run's;
#   advise   leantune-cli advise --max-accuracy-drop 1 (its scan, its trials), timed, then its
#            proposal trained as it prints it, once per seed in SEEDS;
#   scopes   at 90 % and 95 %, the same 1-epoch fine-tuning with --prune-scope sensitivity, global
#            and layer, once per seed in SEEDS (global at seed 1 is the grid's row, reused).
# GRANULARITY=channel runs grid and advise pruning whole channels (rows grid-channel-S,
# advise-channel.json, proposal-channel-SEED) and no scopes (channels are always per layer).
# Every row writes its run folder under WORK/MODEL (WORK/MODEL-subN with SUBSET=N); a row whose
# summary.json exists is not run again. Results: WORK/MODEL/results.csv (stage,name,seed,sparsity,val_accuracy,test_accuracy,
# seconds). Runs niced, one torch thread each (the machine is shared); not a timed test.
# Usage: bench/prune-budget.sh [WORK]   (default bench/out/prune-budget)
# Knobs: MODELS ("smallcnn resnet8"), STAGES ("dense grid advise scopes"), SEEDS ("1 2 3"),
#   GRID ("0.5 0.7 0.8 0.85 0.9 0.93 0.95 0.97"), CLI (build/app/cli/leantune-cli), THREADS (1),
#   NICE (the runs' niceness, 10), SUBSET (images per class, hard links to the first N files of
#   each class folder by name; empty: all), GRANULARITY (weight).
set -euo pipefail
cd "$(dirname "$0")/.."
cli=$(realpath "${CLI:-build/app/cli/leantune-cli}")
work=$(realpath -m "${1:-bench/out/prune-budget}")
threads=${THREADS:-1}
niceness=${NICE:-10}
subset=${SUBSET:-}
granularity=${GRANULARITY:-weight}
seeds=(${SEEDS:-1 2 3})
grid=(${GRID:-0.5 0.7 0.8 0.85 0.9 0.93 0.95 0.97})
stages=" ${STAGES:-dense grid advise scopes} "
fm=/usr/share/datasets/fashion-mnist
mkdir -p "$work"
if [ ! -d "$work/test-all" ]; then
    nice -n "$niceness" "$cli" import-idx $fm/train-images-idx3-ubyte.gz $fm/train-labels-idx1-ubyte.gz "$work/train-all" >/dev/null
    nice -n "$niceness" "$cli" import-idx $fm/t10k-images-idx3-ubyte.gz $fm/t10k-labels-idx1-ubyte.gz "$work/test-all" >/dev/null
fi
data=$work/train-all
test=$work/test-all
if [ -n "$subset" ]; then
    data=$work/train-sub$subset
    if [ ! -d "$data" ]; then
        for class in "$work"/train-all/*/; do
            class=$(basename "$class")
            mkdir -p "$data.tmp/$class"
            (cd "$work/train-all/$class" && ls | sort | sed -n "1,${subset}p" | xargs ln -t "$data.tmp/$class")
        done
        mv "$data.tmp" "$data"
    fi
fi
# Rows of channel granularity are named apart from the weight rows.
if [ "$granularity" = weight ]; then tag=; else tag=-$granularity; fi

field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], -1))" "$1" "$2"; }
record() { # stage name seed sparsity rundir (once)
    grep -q "^$1,$2,$3," "$results" || echo "$1,$2,$3,$4,$(field "$5/summary.json" val_accuracy),$(field "$5/summary.json" test_accuracy),$(field "$5/summary.json" wall_seconds)" >> "$results"
}
# train NAME ARGS...: one run into $dir/NAME unless it finished before.
train() {
    local name=$1; shift
    [ -f "$dir/$name/summary.json" ] && return 0
    nice -n "$niceness" "$cli" train --data "$data" --test "$test" --out "$dir/$name" --threads "$threads" \
        --no-history --force --progress none "$@" > "$dir/$name.log" 2>&1
}

for model in ${MODELS:-smallcnn resnet8}; do
    dir=$work/$model${subset:+-sub$subset}
    mkdir -p "$dir"
    results=$dir/results.csv
    [ -f "$results" ] || echo "stage,name,seed,sparsity,val_accuracy,test_accuracy,seconds" > "$results"
    dense=$dir/dense
    if [[ $stages == *" dense "* ]]; then
        train dense --model "$model" --input-size 28 --channels 1 --epochs 3 --seed 1
        record dense dense 1 0 "$dense"
    fi
    # The advisor's fine-tuning schedule for one epoch of this run.
    steps=$(field "$dense/summary.json" steps); epochs=$(field "$dense/summary.json" epochs)
    end=$(( (steps + epochs - 1) / epochs * 7 / 10 )); freq=$(( end / 10 ))
    finetune=(--init "$dense" --model "$model" --input-size 28 --channels 1 --epochs 1)
    if [[ $stages == *" grid "* ]]; then
        for s in "${grid[@]}"; do
            train "grid$tag-$s" "${finetune[@]}" --seed 1 --prune "polynomial:0:$s:0:$end:3:$freq" \
                --prune-scope global --prune-granularity "$granularity"
            record "grid$tag" "grid$tag-$s" 1 "$s" "$dir/grid$tag-$s"
        done
    fi
    if [[ $stages == *" advise "* ]]; then
        advice=$dir/advise$tag.json
        if [ ! -f "$advice" ]; then
            start=$(date +%s.%N)
            nice -n "$niceness" "$cli" advise "$dense" --data "$data" --max-accuracy-drop 1 --json \
                --granularity "$granularity" --work "$dir/advise$tag-trials" --out "$dir/proposal$tag" \
                > "$advice.part" 2> "$dir/advise$tag.log"
            echo "$(date +%s.%N) - $start" | bc > "$dir/advise$tag.seconds"
            mv "$advice.part" "$advice"
        fi
        command=$(field "$advice" command)
        for seed in "${seeds[@]}"; do
            # The proposal as printed, with a seed and a folder of its own and the test folder.
            eval "args=($command)"
            [ -f "$dir/proposal$tag-$seed/summary.json" ] || nice -n "$niceness" "${args[@]}" --seed "$seed" \
                --out "$dir/proposal$tag-$seed" --test "$test" --threads "$threads" --no-history --force \
                --progress none > "$dir/proposal$tag-$seed.log" 2>&1
            record "advise$tag" "proposal$tag-$seed" "$seed" "$(field "$advice" sparsity)" "$dir/proposal$tag-$seed"
        done
    fi
    if [[ $stages == *" scopes "* && $granularity == weight ]]; then
        [ -f "$dense/sensitivity.json" ] || nice -n "$niceness" "$cli" sensitivity "$dense" --data "$data" > "$dir/sensitivity.log" 2>&1
        for s in 0.9 0.95; do
            for seed in "${seeds[@]}"; do
                for scope in sensitivity global layer; do
                    # The grid's row at this sparsity is the same run as global at seed 1.
                    [ "$scope-$seed" = global-1 ] && [ -f "$dir/grid-$s/summary.json" ] &&
                        [ ! -e "$dir/global-$s-1" ] && ln -s "grid-$s" "$dir/global-$s-1"
                    train "$scope-$s-$seed" "${finetune[@]}" --seed "$seed" \
                        --prune "polynomial:0:$s:0:$end:3:$freq" --prune-scope "$scope"
                    record scopes "$scope-$s" "$seed" "$s" "$dir/$scope-$s-$seed"
                done
            done
        done
    fi
done
