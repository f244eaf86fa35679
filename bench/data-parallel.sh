#!/usr/bin/env bash
# Data parallel, not a timed test. On the CPU: `--nproc 2 --threads 1` (two ranks over
# Gloo on 127.0.0.1) against `--nproc 1 --threads 2` on the same data, and what the gradient
# allreduce costs per step (rank 0's "data parallel: ... waited X ms per step" line). With
# DEVICE=cuda (the GPU machine, a CUDA LibTorch with NCCL): a world size of 1 over NCCL against the
# plain run on the same GPU.
#
#   bash bench/data-parallel.sh                         # CPU, Fashion-MNIST subset (leantune-cli sample)
#   DEVICE=cuda BUILD=/tmp/b bash bench/data-parallel.sh   # after bench/gpu-check.sh built in /tmp/b
#
# Knobs: PER_CLASS (images per class, default 1000), EPOCHS (2), MODEL (smallcnn), BATCH (128).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
DEVICE=${DEVICE:-cpu}
PER_CLASS=${PER_CLASS:-1000}
EPOCHS=${EPOCHS:-2}
MODEL=${MODEL:-smallcnn}
BATCH=${BATCH:-128}
OUT=${OUT:-bench/out/data-parallel}
cli=$BUILD/app/cli/leantune-cli
mkdir -p "$OUT"

# A subset of Fashion-MNIST (Debian's dataset-fashion-mnist, imported by `leantune-cli sample`):
# PER_CLASS symlinked images per class, so both runs read the same files.
train=$("$cli" sample | head -1 | awk '{print $NF}')
data=$OUT/data
if [ ! -d "$data" ]; then
    for c in "$train"/*/; do
        name=$(basename "$c")
        mkdir -p "$data/$name"
        { ls "$c" || true; } | head -n "$PER_CLASS" | while read -r f; do ln -s "$c$f" "$data/$name/$f"; done || true
    done
fi

common=(--data "$data" --model "$MODEL" --input-size 28 --channels 1 --batch-size "$BATCH"
    --epochs "$EPOCHS" --workers 1 --no-history --progress none --force)

run() { # NAME ARGS... : one run, its summary's throughput and wall time, and rank 0's allreduce line
    local name=$1; shift
    /usr/bin/time -f "%e" -o "$OUT/$name.time" "$@" --out "$OUT/$name" 2>"$OUT/$name.err" || {
        cat "$OUT/$name.err"; exit 1; }
    python3 - "$OUT/$name/summary.json" "$name" "$OUT/$name.time" "$OUT/$name.err" <<'PY'
import json, sys, re
s = json.load(open(sys.argv[1]))
wall = open(sys.argv[3]).read().split()[-1]
cost = [l.strip() for l in open(sys.argv[4]) if "waited" in l]
print(f"{sys.argv[2]:<28} {s['images_per_sec']:>9.0f} img/s (median)  {float(wall):>6.1f} s wall  "
      f"{s['steps']} steps  val acc {s['val_accuracy']:.3f}")
for l in cost:
    print("    " + re.sub(r"^.*data parallel: ", "", l))
PY
}

{
    echo "# $(date -Is) $(nproc) cores, $MODEL, batch $BATCH, $EPOCHS epochs, $((PER_CLASS * 10)) images, device $DEVICE"
    if [ "$DEVICE" = cpu ]; then
        run "nproc1-threads2" "$cli" train "${common[@]}" --device cpu --nproc 1 --threads 2
        run "nproc2-threads1" "$cli" train "${common[@]}" --device cpu --nproc 2 --threads 1
        run "nproc1-threads2-again" "$cli" train "${common[@]}" --device cpu --nproc 1 --threads 2
    else
        run "cuda-plain" "$cli" train "${common[@]}" --device cuda:0
        run "cuda-nccl-world1" env WORLD_SIZE=1 RANK=0 LOCAL_RANK=0 MASTER_ADDR=127.0.0.1 \
            MASTER_PORT=${MASTER_PORT:-29512} "$cli" train "${common[@]}" --device cuda --dist-backend nccl
        run "cuda-plain-again" "$cli" train "${common[@]}" --device cuda:0
    fi
} | tee "$OUT/table.txt"
