#!/usr/bin/env bash
# One script for the GPU machine (see ../shared/device/README.md): builds LeanTune against the machine's
# CUDA LibTorch, runs the test suite, trains on a generated JPEG set on `cuda`, and prints a short table.
# Logs and results go to $OUT (default bench/out/gpu-check).
#
# On the device (one `run` call, carry [".devdeps"]):  bash bench/gpu-check.sh
# Dry run on a CPU machine with an existing build:     SKIP_BUILD=1 BUILD=build DEVICE=cpu SMALL=1 bash bench/gpu-check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench/out/gpu-check}
BUILD=${BUILD:-/tmp/b}
DEVICE=${DEVICE:-cuda}
JOBS=${JOBS:-$(nproc)}
mkdir -p "$OUT"
log() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$OUT/steps.log"; }

if [ -z "${SKIP_BUILD:-}" ]; then
    source .devdeps/on-device.sh .devdeps/sysroot.tar.xz
    log "configure"
    cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >"$OUT/configure.log" 2>&1 || { tail -30 "$OUT/configure.log"; exit 1; }
    grep -E "LeanTune: Torch" "$OUT/configure.log" | tee -a "$OUT/steps.log"
    log "build"
    cmake --build "$BUILD" -j "$JOBS" >"$OUT/build.log" 2>&1 || { grep -E "error|FAILED" "$OUT/build.log" | head -30; exit 1; }
    log "ctest"
    (cd "$BUILD" && ctest -j 8 --output-on-failure) >"$OUT/ctest.log" 2>&1
    tail -25 "$OUT/ctest.log"
fi
cli=$BUILD/app/cli/leantune-cli
gen=$BUILD/bench/leantune-make-jpeg-dataset
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | tee -a "$OUT/steps.log"

classes=10
per_class=${PER_CLASS:-1000}
epochs=${EPOCHS:-2}
[ -n "${SMALL:-}" ] && per_class=40 && epochs=1
data=/tmp/leantune-jpeg
log "generating $classes x $per_class JPEGs (500x375, q90)"
rm -rf "$data"
for c in $(seq 0 $((classes - 1))); do
    "$gen" "$data" --classes $classes --per-class "$per_class" --class-index "$c" >/dev/null &
done
wait

workers=$((JOBS > 2 ? JOBS - 1 : 2))
threads=$([ "$DEVICE" = cpu ] && echo 0 || echo 2)   # torch CPU threads: idle on a GPU run
# name model size batch precision extra
cases=(
    "smallcnn-64-fp32 smallcnn 64 256 fp32"
    "resnet18-224-fp32 resnet18 224 256 fp32"
    "resnet18-224-bf16-cl resnet18 224 256 bf16 --channels-last"
)
[ "$DEVICE" = "cpu" ] && cases=("smallcnn-64-fp32 smallcnn 64 64 fp32")
for spec in "${cases[@]}"; do
    read -r name model size batch precision extra <<<"$spec"
    log "train $name"
    "$cli" train --data "$data" --out "/tmp/run-$name" --force --model "$model" --input-size "$size" --channels 3 \
        --batch-size "$batch" --epochs "$epochs" --device "$DEVICE" --workers "$workers" --precision "$precision" \
        --threads "$threads" --prune polynomial:0.3:0.7:0:200:3:50 --progress json $extra >"$OUT/train-$name.jsonl" 2>"$OUT/train-$name.err"
    echo "exit $?" >>"$OUT/train-$name.err"
    cp "/tmp/run-$name/summary.json" "$OUT/summary-$name.json" 2>/dev/null
done

log "results"
python3 - "$OUT" <<'PY' | tee "$OUT/table.txt"
import json, sys, glob, os, statistics
out = sys.argv[1]
print(f"{'case':24} {'img/s':>8} {'data%':>6} {'val acc':>8} {'sparsity':>8} {'peak dev MiB':>13} {'peak RSS MiB':>13} {'status':>9}")
for f in sorted(glob.glob(os.path.join(out, "summary-*.json"))):
    name = os.path.basename(f)[8:-5]
    s = json.load(open(f))
    waits = []
    for line in open(os.path.join(out, f"train-{name}.jsonl")):
        try:
            m = json.loads(line)
        except ValueError:
            continue
        if m.get("images_per_sec", 0) > 0:
            waits.append(m["data_wait_ms"] / max(1e-9, m["data_wait_ms"] + m["compute_ms"]))
    dev = s.get("peak_device_bytes")
    print(f"{name:24} {s['images_per_sec']:8.0f} {100*statistics.median(waits) if waits else 0:6.0f} "
          f"{(s.get('val_accuracy') or 0):8.3f} {s['final_sparsity']:8.3f} "
          f"{(dev or 0)/2**20:13.0f} {s['peak_host_rss_bytes']/2**20:13.0f} {s['status']:>9}")
PY
