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
# Only a few files come back from the device: keep the table and the screenshot, pack the rest - also
# when the script is stopped part-way.
# The archive is written outside $OUT first: tar reading the folder it writes into failed with
# "file changed as we read it" on the H200 run.
pack() {
    local tgz=/tmp/leantune-gpu-logs.$$.tgz
    (cd "$OUT" && tar czf "$tgz" --exclude=table.txt --exclude='*.png' . ; mv "$tgz" logs.tgz &&
        find . -maxdepth 1 -type f ! -name logs.tgz ! -name table.txt ! -name '*.png' -delete)
}
[ -z "${SKIP_BUILD:-}" ] && trap pack EXIT
log() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$OUT/steps.log"; }

if [ -z "${SKIP_BUILD:-}" ]; then
    source .devdeps/on-device.sh .devdeps/sysroot.tar.xz
    # libjpeg-turbo headers and libjpeg.so.62 for the crop-window JPEG decoder (not in the device kit).
    [ -f .devdeps/jpeg.tar.gz ] && tar -C /tmp -xzf .devdeps/jpeg.tar.gz
    log "configure"
    cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >"$OUT/configure.log" 2>&1 || { tail -30 "$OUT/configure.log"; exit 1; }
    grep -E "LeanTune: Torch" "$OUT/configure.log" | tee -a "$OUT/steps.log"
    log "build"
    cmake --build "$BUILD" -j "$JOBS" >"$OUT/build.log" 2>&1 || { grep -E "error|FAILED" "$OUT/build.log" | head -30; exit 1; }
    log "ctest"
    (cd "$BUILD" && ctest -j 16 --output-on-failure ${CTEST_ARGS:-} && ./tests/tst_trainer -v1 cudaRunReportsDeviceMemory) >"$OUT/ctest.log" 2>&1
    tail -25 "$OUT/ctest.log"
fi
cli=$BUILD/app/cli/leantune-cli
gen=$BUILD/bench/leantune-make-jpeg-dataset
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | tee -a "$OUT/steps.log"

classes=10
per_class=${PER_CLASS:-500}
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

# --- memory checks ---
# MemoryPlanner / BatchSizeFinder / out-of-memory recovery / fp16 on the device (MEM_CHECKS=0 skips).
#  1. find-batch-size on $DEVICE for resnet18 at 224 px (real trials; prints predicted and measured
#     peak at the batch found, and the planner's predictions at 64, 128 and 256).
#  2. a full epoch at the finder's batch: must finish with no out-of-memory (oom_recoveries 0).
#  3. a forced out-of-memory: batch 256 fp32 (peak ~5.6 GiB) with the CUDA allocator capped at 3.5 GiB
#     by LEANTUNE_FORCE_DEVICE_LIMIT (a hook that exists only for this check: it caps the allocator
#     after planning, so the run hits a real c10::OutOfMemoryError); must finish with an
#     "oom_recovered" event and micro-batch 128 x 2.
#  4. fp16 autocast + dynamic loss scaling with channels-last.
# Results: $OUT/memory.txt (appended to the table below).
if [ "${MEM_CHECKS:-1}" != 0 ]; then
    mem_epochs=1
    mem_model=${MEM_MODEL:-resnet18}; mem_size=${MEM_SIZE:-224}
    [ "$DEVICE" = cpu ] && mem_model=${MEM_MODEL:-smallcnn} && mem_size=${MEM_SIZE:-64}   # CPU dry run
    log "memory: find-batch-size $mem_model $mem_size on $DEVICE"
    "$cli" find-batch-size --data "$data" --model "$mem_model" --input-size "$mem_size" --channels 3 --device "$DEVICE" \
        --threads "$threads" --max "${FINDER_MAX:-2048}" --predict 64,128,256 --json \
        >"$OUT/find-batch-size.json" 2>"$OUT/find-batch-size.err"
    echo "exit $?" >>"$OUT/find-batch-size.err"
    finder_batch=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["batch_size"])' "$OUT/find-batch-size.json" 2>/dev/null || echo 0)
    log "memory: finder batch $finder_batch"
    mem_cases=()
    [ "$finder_batch" -gt 0 ] 2>/dev/null && mem_cases+=("mem-finder-b$finder_batch $mem_model $mem_size $finder_batch fp32 -")
    mem_cases+=("mem-forced-oom $mem_model $mem_size 256 fp32 ${FORCED_LIMIT:-3.5G}")
    [ "$DEVICE" != cpu ] && mem_cases+=("mem-fp16-cl $mem_model $mem_size 256 fp16 - --channels-last")
    for spec in "${mem_cases[@]}"; do
        read -r name model size batch precision limit extra <<<"$spec"
        log "memory: train $name"
        env_limit=()
        [ "$limit" != - ] && env_limit=(LEANTUNE_FORCE_DEVICE_LIMIT="$limit")
        [ "$limit" != - ] && [ "$DEVICE" = cpu ] && env_limit=(LEANTUNE_INJECT_OOM_AT_STEP=1)   # CPU dry run
        env "${env_limit[@]}" "$cli" train --data "$data" --out "/tmp/run-$name" --force --model "$model" \
            --input-size "$size" --channels 3 --batch-size "$batch" --epochs "$mem_epochs" --device "$DEVICE" \
            --workers "$workers" --precision "$precision" --threads "$threads" --progress json $extra \
            >"$OUT/train-$name.jsonl" 2>"$OUT/train-$name.err"
        echo "exit $?" >>"$OUT/train-$name.err"
        cp "/tmp/run-$name/summary.json" "$OUT/summary-$name.json" 2>/dev/null
    done
    python3 - "$OUT" <<'PY' | tee "$OUT/memory.txt"
import json, sys, os, glob
out = sys.argv[1]
MiB = 2**20
def load(p):
    try:
        return json.load(open(p))
    except Exception:
        return None
f = load(os.path.join(out, "find-batch-size.json"))
print("memory checks")
if f:
    meas = f.get("measured_peak_bytes")
    err = f"{100*(f['predicted_peak_bytes']-meas)/meas:+.1f}%" if meas else "n/a"
    print(f"  finder: batch {f['batch_size']}{' (the cap)' if f.get('capped') else ''}; "
          f"capacity {f['capacity_bytes']/MiB:.0f} MiB, limit {f['limit_bytes']/MiB:.0f} MiB; "
          f"predicted {f['predicted_peak_bytes']/MiB:.0f} MiB"
          + (f" vs measured {meas/MiB:.0f} MiB ({err}); " if meas else " (CPU: trials are predictions); ")
          + f"{len(f.get('trials', []))} trials: " + ", ".join(f"{t['batch_size']}{' OOM' if t['out_of_memory'] else ('' if t['fits'] else ' over')}" for t in f.get('trials', [])))
    preds = {p["batch_size"]: p["predicted_peak_bytes"] for p in f.get("predictions", [])}
    s = load(os.path.join(out, "summary-resnet18-224-fp32.json"))   # the fp32 case above, same model and batch
    if s and 256 in preds and s.get("peak_device_bytes"):
        m = s["peak_device_bytes"]
        print(f"  planner vs training run (resnet18 224 fp32 b256): predicted {preds[256]/MiB:.0f} MiB, "
              f"measured {m/MiB:.0f} MiB ({100*(preds[256]-m)/m:+.1f}%)")
else:
    print("  finder: no result (see find-batch-size.err)")
for p in sorted(glob.glob(os.path.join(out, "summary-mem-*.json"))):
    name = os.path.basename(p)[8:-5]
    s = load(p)
    events = []
    for line in open(os.path.join(out, f"train-{name}.jsonl")):
        try:
            m = json.loads(line)
        except ValueError:
            continue
        if m.get("event") == "oom_recovered":
            events.append(f"step {m['step']+1}: micro-batch {m['micro_batch']} x {m['accumulation_steps']}")
    pred = s.get("predicted_peak_bytes") or (f and "finder" in name and f.get("predicted_peak_bytes"))
    print(f"  {name:28} {s['status']:>9}  batch {s.get('batch_size')} micro {s.get('micro_batch')}  "
          f"oom_recoveries {s.get('oom_recoveries')}  img/s {s['images_per_sec']:.0f}  "
          + (f"peak dev {s['peak_device_bytes']/MiB:.0f} MiB" if s.get('peak_device_bytes') else f"peak RSS {s['peak_host_rss_bytes']/MiB:.0f} MiB")
          + (f" (predicted {pred/MiB:.0f})" if pred else "")
          + ("  events: " + "; ".join(events) if events else ""))
PY
fi
# --- end of memory checks ---

# --- loader/cache checks ---
# The input pipeline on the device (LOADER_CHECKS=0 skips), on the JPEG set above, $workers decode threads:
#  1. bench-loader alone (224 px crop + flip, batch 256): threads cooperating on the batches in flight
#     (the default) vs each thread decoding whole batches (--chunk 256: the old model, where at most
#     queue-depth threads ever ran); the decoded cache (--cache: epoch 1 fills it, epoch 2 reads it);
#     and torchvision's ImageFolder + DataLoader with as many workers, when torchvision is installed.
#  2. resnet18 bf16 channels-last 224 training, 2 epochs, without and with --cache: median images/s and
#     data-wait share per epoch (epoch 2 with --cache is served from the cache).
#  3. the same with --cache in fp32 (no channels-last): epoch 2 of 2 and 3 is compute-bound, which is
#     where bf16 vs fp32 is measured (bf16 >= 1.5x fp32 images/s).
# Targets: end-to-end >= 7,000 img/s without the cache, >= 10,000 with it.
# Results: $OUT/loader.txt (appended to the table below).
if [ "${LOADER_CHECKS:-1}" != 0 ]; then
    lb=256; lmodel=resnet18; lsize=224; lprec=bf16; lcl=--channels-last
    [ "$DEVICE" = cpu ] && lb=64 && lmodel=smallcnn && lsize=64 && lprec=fp32 && lcl=-   # CPU dry run
    rm -rf /tmp/leantune-cache
    for spec in "coop 0 -" "cache 0 --cache"; do   # "whole-batch $lb -" measured the old loader
        read -r name chunk extra <<<"$spec"
        [ "$extra" = - ] && extra=
        lepochs=1; [ -n "$extra" ] && lepochs=2
        log "loader: bench-loader $name"
        "$cli" bench-loader --data "$data" --input-size "$lsize" --channels 3 --batch-size "$lb" --workers "$workers" \
            --epochs "$lepochs" --chunk "$chunk" --json $extra --cache-dir /tmp/leantune-cache/bench \
            >"$OUT/loader-$name.json" 2>"$OUT/loader-$name.err"
        echo "exit $?" >>"$OUT/loader-$name.err"
    done
    if python3 -c 'import torchvision' 2>/dev/null; then
        log "loader: torchvision baseline"
        (cd bench && timeout 300 python3 baseline_loader.py --data "$data" --input-size "$lsize" --channels 3 \
            --batch-size "$lb" --workers "$workers" --epochs 1) >"$OUT/loader-torchvision.json" 2>"$OUT/loader-torchvision.err"
    fi
    for spec in "loader-$lmodel-nocache $lprec $lcl -" "loader-$lmodel-cache $lprec $lcl --cache" \
                "loader-$lmodel-cache-fp32 fp32 - --cache"; do
        read -r name prec cl extra <<<"$spec"
        [ "$extra" = - ] && extra=
        [ "$cl" = - ] && cl=
        log "loader: train $name"
        "$cli" train --data "$data" --out "/tmp/run-$name" --force --model "$lmodel" --input-size "$lsize" --channels 3 \
            --batch-size "$lb" --epochs 2 --device "$DEVICE" --workers "$workers" --precision "$prec" --threads "$threads" \
            --progress json $cl $extra --cache-dir /tmp/leantune-cache/train >"$OUT/train-$name.jsonl" 2>"$OUT/train-$name.err"
        echo "exit $?" >>"$OUT/train-$name.err"
        cp "/tmp/run-$name/summary.json" "$OUT/summary-$name.json" 2>/dev/null
    done
    region=$(grep -ho "region decoder o[nf]*" "$OUT/configure.log" 2>/dev/null || echo "region decoder: see configure.log")
    python3 - "$OUT" "$region" <<'PY' | tee "$OUT/loader.txt"
import glob, json, os, statistics, sys
out = sys.argv[1]
def load(p):
    try:
        return json.loads(open(p).read().strip().splitlines()[-1])
    except Exception:
        return None
print(f"loader/cache checks; libjpeg-turbo {sys.argv[2]}")
for name in ("coop", "whole-batch", "cache", "torchvision"):
    r = load(os.path.join(out, f"loader-{name}.json"))
    if r:
        per = ", ".join(f"{v:.0f}" for v in r.get("epochs_images_per_sec", []))
        print(f"  bench-loader {name:12} {r['images_per_sec']:8.0f} img/s  per epoch: {per}  "
              f"({r.get('workers')} workers, batch {r.get('batch_size')}, peak RSS {r.get('peak_rss_bytes', 0)/2**20:.0f} MiB)")
    elif os.path.exists(os.path.join(out, f"loader-{name}.err")):   # run, but no result
        print(f"  bench-loader {name:12} no result (see loader-{name}.err)")
for path in sorted(glob.glob(os.path.join(out, "train-loader-*.jsonl"))):
    name = os.path.basename(path)[6:-6]
    per = {}
    for line in open(path):
        try:
            m = json.loads(line)
        except ValueError:
            continue
        if m.get("images_per_sec", 0) > 0 and "epoch" in m:
            w = m["data_wait_ms"] / max(1e-9, m["data_wait_ms"] + m["compute_ms"])
            per.setdefault(m["epoch"], []).append((m["images_per_sec"], w))
    cells = [f"epoch {e + 1}: {statistics.median(v[0] for v in vals):6.0f} img/s, data {100 * statistics.median(v[1] for v in vals):3.0f}%"
             for e, vals in sorted(per.items())]
    print(f"  train {name:28} " + ("; ".join(cells) if cells else "no samples (see train-" + name + ".err)"))
PY
fi
# --- end of loader/cache checks ---

# An offscreen screenshot of the desktop application's live charts during a GPU run.
if [ -x "$BUILD/app/gui/leantune" ]; then
    log "gui: live charts on $DEVICE"
    QT_QPA_PLATFORM=offscreen timeout 180 "$BUILD/app/gui/leantune" "$data" --start --epochs 1 --device "$DEVICE" \
        --out /tmp/run-gui --screenshot "$OUT/gpu-charts.png" --quit-when-done >"$OUT/gui.log" 2>&1
    echo "exit $?" >>"$OUT/gui.log"
fi

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
[ -f "$OUT/memory.txt" ] && cat "$OUT/memory.txt" >>"$OUT/table.txt"
[ -f "$OUT/loader.txt" ] && cat "$OUT/loader.txt" >>"$OUT/table.txt"