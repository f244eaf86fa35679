#!/usr/bin/env bash
# Transfer with --init: pretrain smallcnn (28 px, 1 channel) on Fashion-MNIST classes 0-4
# (its 30 000 training images: 27 000 train, 3 000 validate), then fine-tune on classes 5-9 with 20
# training images per class, testing on all 5 000 test images of 5-9. Compares fine-tuning from the
# pretrained run with the same run from random weights, with and without 80 % pruning during
# fine-tuning, and with --freeze-epochs / --backbone-lr-scale. Each fine-tuning row runs once per
# seed in SEEDS (the seed sets a random start's weights, and the batch order and dropout of both; a
# pretrained start keeps the 0-4 run's 5-way classifier as its starting classifier, the class count
# being the same).
# Validation uses 10 other training images per class of 5-9, never the test images; nothing is
# selected by it (the last epoch's model is tested). Not a timed test.
# Usage: bench/transfer.sh [WORKDIR]   (default bench/out/transfer; needs build/app/cli/leantune-cli)
# Knobs (environment): SEEDS (default "1 2"), CLI (default build/app/cli/leantune-cli),
# PRETRAIN_EPOCHS (3), EPOCHS (fine-tuning, 30), THREADS (torch threads, 0 = all cores), PER_CLASS
# (fine-tuning images per class, 20; the pretrained run in WORKDIR is reused), ROWS (all | start:
# only the two rows without pruning | ceiling: train on all training images of 5-9 instead,
# CEILING_EPOCHS, default 5), MODEL (smallcnn; resnet8 too), PRETRAIN_PER_CLASS (pretraining
# images per class of 0-4, default all 6 000; the first N of each class in sorted order), INIT (the
# pretrained rows' --init, default WORKDIR/pretrain; e.g. a .safetensors of it with a 6-row
# classifier, which --init replaces with a fresh random one).
set -euo pipefail
cd "$(dirname "$0")/.."
cli=${CLI:-build/app/cli/leantune-cli}
work=${1:-bench/out/transfer}
seeds=(${SEEDS:-1 2})
epochs=${EPOCHS:-30}
per=${PER_CLASS:-20}
fm=/usr/share/datasets/fashion-mnist
mkdir -p "$work"
if [ ! -d "$work/test-all" ]; then
    "$cli" import-idx $fm/train-images-idx3-ubyte.gz $fm/train-labels-idx1-ubyte.gz "$work/train-all" >/dev/null
    "$cli" import-idx $fm/t10k-images-idx3-ubyte.gz $fm/t10k-labels-idx1-ubyte.gz "$work/test-all" >/dev/null
fi
# Fashion-MNIST's label order (import-idx names the folders): 0-4 are tops, trousers, dresses and
# coats; 5-9 are sandals, shirts, sneakers, bags and ankle boots.
classes=(T-shirt_top Trouser Pullover Dress Coat Sandal Shirt Sneaker Bag Ankle_boot)
for c in "${classes[@]}"; do [ -d "$work/train-all/$c" ] || { echo "no class folder $work/train-all/$c" >&2; exit 1; }; done
rm -rf "$work/a" "$work/b-train" "$work/b-val" "$work/b-test"
mkdir -p "$work/a" "$work/b-train" "$work/b-val" "$work/b-test"
for k in 0 1 2 3 4; do
    c=${classes[$k]}
    if [ -n "${PRETRAIN_PER_CLASS:-}" ]; then
        mkdir -p "$work/a/$c"
        mapfile -t files < <(ls "$work/train-all/$c" | sort)
        for f in "${files[@]:0:PRETRAIN_PER_CLASS}"; do ln -s "$(realpath "$work/train-all/$c/$f")" "$work/a/$c/$f"; done
    else
        ln -s "$(realpath "$work/train-all/$c")" "$work/a/$c"
    fi
done
for k in 5 6 7 8 9; do
    c=${classes[$k]}
    mkdir -p "$work/b-train/$c" "$work/b-val/$c"
    mapfile -t files < <(ls "$work/train-all/$c" | sort)
    for f in "${files[@]:0:per}"; do ln -s "$(realpath "$work/train-all/$c/$f")" "$work/b-train/$c/$f"; done
    for f in "${files[@]:per:10}"; do ln -s "$(realpath "$work/train-all/$c/$f")" "$work/b-val/$c/$f"; done
    ln -s "$(realpath "$work/test-all/$c")" "$work/b-test/$c"
done
common=(--model "${MODEL:-smallcnn}" --input-size 28 --channels 1 --optimizer adam --lr 0.001 --no-history --force
    --threads "${THREADS:-0}")
if [ "${ROWS:-all}" != ceiling ] && [ ! -f "$work/pretrain/model.pt" ]; then
    start=$SECONDS
    "$cli" train --data "$work/a" --out "$work/pretrain" "${common[@]}" --epochs "${PRETRAIN_EPOCHS:-3}" \
        --batch-size 64 --seed 1 >/dev/null
    echo "pretrain: $((SECONDS - start)) s" >&2
fi
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1/summary.json" "$2"; }
mean() { python3 -c "import sys; v=[float(x) for x in sys.argv[1:]]; print('%.1f' % (sum(v)/len(v)))" "$@"; }

# ROWS=ceiling: what the same network reaches on 5-9 with all of their training images (27 000
# train, 3 000 validate), tested on the same test images: a practical ceiling for the rows above.
if [ "${ROWS:-all}" = ceiling ]; then
    rm -rf "$work/b-all"
    mkdir -p "$work/b-all"
    for k in 5 6 7 8 9; do ln -s "$(realpath "$work/train-all/${classes[$k]}")" "$work/b-all/${classes[$k]}"; done
    "$cli" train --data "$work/b-all" --val-split 0.1 --test "$work/b-test" --out "$work/ceiling" \
        "${common[@]}" --epochs "${CEILING_EPOCHS:-5}" --batch-size 64 --seed 1 --prune none >/dev/null
    echo "ceiling (all 30 000 training images of 5-9, ${CEILING_EPOCHS:-5} epochs): test accuracy $(python3 -c "print('%.2f' % (100*$(field "$work/ceiling" test_accuracy)))") %"
    exit 0
fi

echo "pretrain (classes 0-4): test accuracy on 0-4 not measured; validation accuracy $(python3 -c "print('%.1f' % (100*$(field "$work/pretrain" val_accuracy)))") %"
echo
echo "| start | options during fine-tuning | test accuracy, seeds ${seeds[*]} (%) | mean (%) | sparsity |"
echo "|---|---|---|---|---|"
# Rows: START (random | pretrained), a label, then the options.
prune=polynomial:0:0.8:0:100
prune_after=polynomial:0:0.8:70:170 # 10 frozen epochs of 7 steps, then the same 100-step ramp
row() {
    local start=$1 label=$2
    shift 2
    local accs=() sparsity=0 t0=$SECONDS
    for seed in "${seeds[@]}"; do
        local out="$work/ft-$start-${label//[^a-z0-9]/_}-$seed"
        local init=()
        [ "$start" = pretrained ] && init=(--init "${INIT:-$work/pretrain}")
        "$cli" train --data "$work/b-train" --val "$work/b-val" --test "$work/b-test" --out "$out" \
            "${common[@]}" --epochs "$epochs" --batch-size 16 --seed "$seed" "${init[@]}" "$@" >/dev/null
        accs+=("$(python3 -c "print('%.1f' % (100*$(field "$out" test_accuracy)))")")
        sparsity=$(python3 -c "print('%.2f' % $(field "$out" final_sparsity))")
    done
    echo "| $start | $label | ${accs[*]} | $(mean "${accs[@]}") | $sparsity |"
    echo "$start/$label: $((SECONDS - t0)) s" >&2
}
row random "none" --prune none
row pretrained "none" --prune none
[ "${ROWS:-all}" = all ] || exit 0
row random "80 % pruning" --prune $prune
row pretrained "80 % pruning" --prune $prune
row pretrained "--freeze-epochs 10" --prune none --freeze-epochs 10
row pretrained "--freeze-epochs 10, 80 % pruning after them" --prune $prune_after --freeze-epochs 10
row pretrained "--backbone-lr-scale 0.1" --prune none --backbone-lr-scale 0.1
