#!/usr/bin/env bash
# Static int8 against fp32 and weight-only int8, side by side in one ONNX Runtime process and in
# one OpenCV DNN process: each model is trained briefly on a Fashion-MNIST subset (latency does not
# depend on how well it is trained; the accuracies printed are of these short runs), exported
# (fp32, int8 weights, static int8 as QDQ and as QOperator, and for resnet18 fp32 and static int8
# of a run with half its channels pruned, --structured), then timed by bench/ort-latency.js and
# build/bench/leantune-opencv-latency: batch 1 and batch 32, median and p90, 2 threads, the files
# interleaved round by round (OpenCV lists the files it does not load). Prints the ratios against
# fp32.
#
#   nice -n 10 bench/int8-speed.sh                           # resnet18 and mobilenet_v2 at 224 px
#   MODELS="resnet8:64" RUNS=20 nice -n 10 bench/int8-speed.sh
#
# Environment: BUILD (build), OUT (bench/out/int8-speed), MODELS (space-separated MODEL:SIZE,
# default "resnet18:224 mobilenet_v2:224"), TRAIN_PER_CLASS (30), TEST_PER_CLASS (50), RUNS (10),
# THREADS (2), CALIBRATION (128 images), LIMIT (200 test images verified), ORT_NODE_DIR (where onnxruntime-node is installed; see
# scripts/setup --with-ort).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
OUT=${OUT:-bench/out/int8-speed}
MODELS=${MODELS:-"resnet18:224 mobilenet_v2:224"}
TRAIN_PER_CLASS=${TRAIN_PER_CLASS:-30}
TEST_PER_CLASS=${TEST_PER_CLASS:-50}
RUNS=${RUNS:-10}
THREADS=${THREADS:-2}
CALIBRATION=${CALIBRATION:-128}
LIMIT=${LIMIT:-200}
cli="$BUILD/app/cli/leantune-cli"
[ -x "$cli" ] || { echo "int8-speed: $cli not found (run scripts/setup first)" >&2; exit 1; }
[ -x "$BUILD/bench/leantune-opencv-latency" ] \
    || { echo "int8-speed: $BUILD/bench/leantune-opencv-latency not found (build it)" >&2; exit 1; }
node bench/ort-latency.js --runs 3 /dev/null >/dev/null 2>&1 || [ $? -ne 3 ] \
    || { echo "int8-speed: onnxruntime-node not found (scripts/setup --with-ort)" >&2; exit 1; }

mapfile -t folders < <("$cli" sample | grep -E '^(train|test) ' | cut -d' ' -f2-)
. "$(dirname "$0")/subset.sh"
mkdir -p "$OUT"
train="$OUT/train-$TRAIN_PER_CLASS"
test="$OUT/test-$TEST_PER_CLASS"
subset "${folders[0]}" "$TRAIN_PER_CLASS" "$train"
subset "${folders[1]}" "$TEST_PER_CLASS" "$test"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

for spec in $MODELS; do
    model=${spec%%:*}
    size=${spec##*:}
    base="$OUT/$model-$size"
    files=()
    runs=(dense)
    [ "$model" = resnet18 ] && runs+=(channels50)
    for run in "${runs[@]}"; do
        if [ ! -f "$base-$run/model.pt" ]; then   # a failed run's log says why
            trap 'echo "int8-speed: failed; see $base-$run.train.log" >&2' ERR
            prune=()
            [ "$run" = channels50 ] && prune=(--prune constant:0.5:1:-1:1 --prune-granularity channel)
            echo "train $model $size px ($run)"
            "$cli" train --data "$train" --test "$test" --out "$base-$run" --force --epochs 1 \
                --model "$model" --input-size "$size" --batch-size 16 --progress none \
                --no-history "${prune[@]}" >"$base-$run.train.log" 2>&1
        fi
        quants=(none int8 int8-static int8-static:qoperator)
        structured=()
        [ "$run" = channels50 ] && { quants=(none int8-static int8-static:qoperator); structured=(--structured); }
        for spec_q in "${quants[@]}"; do
            q=${spec_q%%:*}
            layout=()
            [ "$spec_q" != "$q" ] && layout=(--int8-format "${spec_q##*:}")
            f="$base-$run-${spec_q/:/-}.onnx"
            echo "export $model $run $spec_q"
            "$cli" export "$base-$run" --quantize "$q" "${layout[@]}" "${structured[@]}" \
                --calibration-images "$CALIBRATION" --limit "$LIMIT" --batch-size 16 \
                --latency-runs 0 --out "$f" --json >"$f.json" 2>"$f.log"
            python3 -c "import json,sys; r=json.load(open(sys.argv[1])); v=r['verification']; \
print('  %s: %d bytes, accuracy %.2f %% (trained %.2f %%) on %d test images' % (sys.argv[1], \
r['size']['file_bytes'], 100*v['accuracy_after'], 100*v['accuracy_before'], v['images']))" "$f.json"
            files+=("$f")
        done
    done
    echo "time $model $size px in ONNX Runtime: ${files[*]}"
    node bench/ort-latency.js --threads "$THREADS" --runs "$RUNS" "${files[@]}"
    echo "time $model $size px in OpenCV DNN"
    "$BUILD/bench/leantune-opencv-latency" --threads "$THREADS" --runs "$RUNS" --size "$size" \
        "${files[@]}"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
