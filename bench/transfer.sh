#!/usr/bin/env bash
# Transfer with --init (issue 12): pretrain smallcnn on Fashion-MNIST classes 0-4 (all 30 000
# training images), then fine-tune on classes 5-9 with 20 training images per class, testing on
# all 5 000 test images of 5-9. Compares fine-tuning from the pretrained run with the same run from
# random weights, with and without 80 % pruning during fine-tuning. Not a timed test.
# Usage: bench/transfer.sh [WORKDIR]   (default bench/out/transfer; needs build/app/cli/leantune-cli)
set -euo pipefail
cd "$(dirname "$0")/.."
cli=build/app/cli/leantune-cli
work=${1:-bench/out/transfer}
fm=/usr/share/datasets/fashion-mnist
mkdir -p "$work"
if [ ! -d "$work/train-all" ]; then
    "$cli" import-idx $fm/train-images-idx3-ubyte.gz $fm/train-labels-idx1-ubyte.gz "$work/train-all" >/dev/null
    "$cli" import-idx $fm/t10k-images-idx3-ubyte.gz $fm/t10k-labels-idx1-ubyte.gz "$work/test-all" >/dev/null
fi
classes=($(ls "$work/train-all" | sort))
rm -rf "$work/a" "$work/b-train" "$work/b-test"
mkdir -p "$work/a" "$work/b-train" "$work/b-test"
for k in 0 1 2 3 4; do ln -s "$(realpath "$work/train-all/${classes[$k]}")" "$work/a/${classes[$k]}"; done
for k in 5 6 7 8 9; do
    c=${classes[$k]}
    mkdir -p "$work/b-train/$c"
    for f in $(ls "$work/train-all/$c" | sort | head -n 20); do ln -s "$(realpath "$work/train-all/$c/$f")" "$work/b-train/$c/$f"; done
    ln -s "$(realpath "$work/test-all/$c")" "$work/b-test/$c"
done
common=(--model smallcnn --optimizer adam --lr 0.001 --no-history --force)
[ -f "$work/pretrain/model.pt" ] || "$cli" train --data "$work/a" --out "$work/pretrain" "${common[@]}" --epochs 3 >/dev/null
test_acc() { python3 -c "import json,sys; print('%.1f' % (100*json.load(open(sys.argv[1]))['test_accuracy']))" "$1/summary.json"; }
printf '%-34s %s\n' "fine-tune on 5x20 images of 5-9" "test accuracy (5 000 images of 5-9)"
for prune in none polynomial:0:0.8:0:100; do
    for start in random pretrained; do
        out="$work/ft-$start-$prune"
        init=(); [ $start = pretrained ] && init=(--init "$work/pretrain")
        "$cli" train --data "$work/b-train" --test "$work/b-test" --val-split 0.2 --out "$out" "${common[@]}" \
            --epochs 30 --batch-size 16 --prune "$prune" "${init[@]}" >/dev/null
        printf "%-34s %s %%\n" "$start, prune ${prune%%:0:100}" "$(test_acc "$out")"
    done
done
