#!/usr/bin/env bash
# Test accuracy of static int8 against fp32 (and weight-only int8) in OpenCV DNN and in ONNX Runtime,
# on Fashion-MNIST: each config is trained 3 epochs on a class-balanced subset, dense and with 80 % of
# its channels pruned (channel granularity, so --structured removes them), then exported fp32
# (none), int8 and int8-static, the pruned run each also with --structured. Every file's accuracy on
# the test subset is measured in each runtime: OpenCV DNN through the export report's verification
# (which runs every test image when --limit covers them; a file OpenCV does not load is verified on a
# float twin, recorded here as "does not load"), ONNX Runtime by bench/ort-accuracy.js on the same
# images decoded by bench/int8-accuracy-images.py. resnet18 and mobilenet_v2 start from --init:
# torchvision's own random initialization saved as a state_dict (no pretrained weights here).
#
#   nice -n 10 bench/int8-accuracy.sh                  # train what is missing, export, measure
#   STAGE=export nice -n 10 bench/int8-accuracy.sh     # re-export and re-measure existing runs
#   CONFIGS="smallcnn:28:2000:200" VARIANTS=dense nice -n 10 bench/int8-accuracy.sh
#
# INIT_FROM_64=1: resnet18 and mobilenet_v2 at other sizes start from the same model's dense 64 px
# run instead (runs named MODEL-SIZE-VARIANT-from64).
#
# Environment: BUILD (build), OUT (bench/out/int8-accuracy), CONFIGS (space-separated
# MODEL:SIZE:TRAIN_PER_CLASS:TEST_PER_CLASS), VARIANTS ("dense pruned80"), STAGE (all | train |
# export | table: only print what the runs measured), EPOCHS (3), BATCH (32), QUANTS ("none int8
# int8-static int8-static-qoperator", the last static int8 written as QOperator nodes,
# --int8-format qoperator; a subset re-exports only those files), CALIBRATION (images, 512),
# CALIBRATION_METHOD (minmax), THREADS (1: Torch threads of train and export, and ONNX Runtime's
# intra-op threads; on a machine shared with other jobs one thread trains several times faster than
# two, whose OpenMP barriers wait for a descheduled thread), ORT_NODE_DIR. Writes
# OUT/results.tsv (one line per file) and prints it as bench/README.md's table
# (bench/int8-accuracy-table.py).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
OUT=${OUT:-bench/out/int8-accuracy}
CONFIGS=${CONFIGS:-"smallcnn:28:2000:200 resnet8:64:500:200 resnet18:64:300:200 mobilenet_v2:64:300:200 resnet18:224:60:50 mobilenet_v2:224:60:50"}
VARIANTS=${VARIANTS:-"dense pruned80"}
STAGE=${STAGE:-all}
EPOCHS=${EPOCHS:-3}
BATCH=${BATCH:-32}
QUANTS=${QUANTS:-"none int8 int8-static int8-static-qoperator"}
CALIBRATION=${CALIBRATION:-512}
CALIBRATION_METHOD=${CALIBRATION_METHOD:-minmax}
THREADS=${THREADS:-1}
PY=${PY:-/usr/bin/python3}   # the system python3 has python3-torch and torchvision
cli="$BUILD/app/cli/leantune-cli"
[ -x "$cli" ] || { echo "int8-accuracy: $cli not found (run scripts/setup first)" >&2; exit 1; }
node bench/ort-latency.js --runs 3 /dev/null >/dev/null 2>&1 || [ $? -ne 3 ] \
    || { echo "int8-accuracy: onnxruntime-node not found (scripts/setup --with-ort)" >&2; exit 1; }

mapfile -t folders < <("$cli" sample | grep -E '^(train|test) ' | cut -d' ' -f2-)
. "$(dirname "$0")/subset.sh"
mkdir -p "$OUT"
for m in resnet18 mobilenet_v2; do   # torchvision's initialization, not ImageNet weights
    [ -f "$OUT/$m-torchvision-init.pth" ] || "$PY" -c "import sys, torch, torchvision; \
torch.manual_seed(0); torch.save(getattr(torchvision.models, sys.argv[1])().state_dict(), sys.argv[2])" \
        "$m" "$OUT/$m-torchvision-init.pth"
done
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

for spec in $CONFIGS; do
    IFS=: read -r model size train_n test_n <<<"$spec"
    train="$OUT/train-$train_n"
    test="$OUT/test-$test_n"
    subset "${folders[0]}" "$train_n" "$train"
    subset "${folders[1]}" "$test_n" "$test"
    channels=1
    init=()
    if [ "$model" = resnet18 ] || [ "$model" = mobilenet_v2 ]; then
        channels=3
        init=(--init "$OUT/$model-torchvision-init.pth")
    fi
    suffix=""
    if [ -n "${INIT_FROM_64:-}" ] && [ "$size" != 64 ] && [ ${#init[@]} -gt 0 ]; then
        # The same model's dense 64 px run as the starting weights (a trained start where no
        # pretrained weights exist); its runs are named *-from64.
        init=(--init "$OUT/$model-64-dense")
        suffix=-from64
    fi
    images="$OUT/test-$test_n-$size-$channels"
    for variant in $VARIANTS; do
        run="$OUT/$model-$size-$variant$suffix"
        if { [ "$STAGE" = all ] || [ "$STAGE" = train ]; } && [ ! -f "$run/model.pt" ]; then
            prune=()
            if [ "$variant" = pruned80 ]; then
                # 80 % of each layer's output channels, ramped over the first two thirds of the
                # steps, masks updated about 30 times (steps: 90 % of the images train, 10 % validate).
                steps=$(( (train_n * 10 * 9 / 10 + BATCH - 1) / BATCH * EPOCHS ))
                end=$(( steps * 2 / 3 ))
                freq=$(( end / 30 > 0 ? end / 30 : 1 ))
                prune=(--prune "polynomial:0:0.8:0:$end:3:$freq" --prune-granularity channel
                    --prune-scope layer)
            fi
            echo "train $model $size px $variant ($train_n a class, $test_n a class test) $(date +%T), load $(cut -d' ' -f1 /proc/loadavg)"
            "$cli" train --data "$train" --test "$test" --out "$run" --force --epochs "$EPOCHS" \
                --model "$model" --input-size "$size" --channels "$channels" "${init[@]}" \
                --batch-size "$BATCH" --threads "$THREADS" --progress none --no-history "${prune[@]}" \
                >"$run.train.log" 2>&1 || { echo "int8-accuracy: training failed; see $run.train.log" >&2; continue; }
            grep -E "test accuracy|sparsity|throughput" "$run.train.log" | sed 's/^/  /'
        fi
        [ "$STAGE" = train ] || [ "$STAGE" = table ] && continue
        [ -f "$run/model.pt" ] || { echo "int8-accuracy: $run has no model.pt (train it first)" >&2; continue; }
        [ -f "$images.u8" ] || "$PY" bench/int8-accuracy-images.py "$test" "$size" "$channels" "$images"
        structs=(plain)
        [ "$variant" = pruned80 ] && structs+=(structured)
        results="$run.results.tsv"   # one line per file; a rerun replaces the lines of its files
        touch "$results"
        files=()
        for st in "${structs[@]}"; do
            for q in $QUANTS; do
                f="$run-$q"
                flags=(--quantize "${q%-qoperator}")
                [ "$q" = "${q%-qoperator}" ] || flags+=(--int8-format qoperator)
                [ "$st" = structured ] && { f="$f-structured"; flags+=(--structured); }
                [ "${q%-qoperator}" = int8-static ] && flags+=(--calibration-images "$CALIBRATION" --calibration-method "$CALIBRATION_METHOD")
                f="$f.onnx"
                echo "export $model $size px $variant $q $st $(date +%T)"
                rm -f "$f" "$f.json"
                grep -v -F "	$f	" "$results" >"$results.new" || true
                mv "$results.new" "$results"
                if ! "$cli" export "$run" "${flags[@]}" --data "$test" --limit $((test_n * 10)) \
                    --batch-size "$BATCH" --threads "$THREADS" --latency-runs 0 --progress none --out "$f" --json \
                    >"$f.json" 2>"$f.log"; then
                    echo "  export failed: $(tail -n 1 "$f.log")"
                    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\t\t\texport failed: %s\t\t\t\t\t\n' "$run" "$model" "$size" "$variant" \
                        "$((train_n * 10))" "$((test_n * 10))" "$f" "$q" "$st" "$(tail -n 1 "$f.log" | tr '\t' ' ')" >>"$results"
                    continue
                fi
                files+=("$f")
            done
        done
        [ ${#files[@]} -gt 0 ] || continue
        reference=()   # the run's fp32 file comes first: agreement is counted against it
        [ "${files[0]}" = "$run-none.onnx" ] || [ ! -f "$run-none.onnx" ] || reference=("$run-none.onnx")
        node bench/ort-accuracy.js --images "$images" --threads "$THREADS" --json "${reference[@]}" "${files[@]}" >"$run.ort.jsonl"
        "$PY" - "$run" "$model" "$size" "$variant" "$((train_n * 10))" "$((test_n * 10))" "$run.ort.jsonl" "${files[@]}" >>"$results" <<'EOF'
import json, sys
run, model, size, variant, train_n, test_n, ort_file = sys.argv[1:8]
ort = {}
for line in open(ort_file):
    e = json.loads(line)
    ort[e['file']] = e
for f in sys.argv[8:]:
    r = json.load(open(f + '.json'))
    v = r['verification']
    loads = v['runtime'].startswith('OpenCV DNN') and 'twin' not in v['runtime']
    opencv = '%.2f' % (100 * v['accuracy_after']) if loads else ''
    opencv_note = '' if loads else 'does not load (twin %.2f)' % (100 * v['accuracy_after'])
    if v['images'] != int(test_n):
        opencv_note += ' only %d images verified' % v['images']
    e = ort.get(f, {})
    agreement = ''
    if e.get('loads') and 'accuracy' in e:
        o, note = '%.2f' % (100 * e['accuracy']), ''
        agreement = '%.2f' % (100 * e.get('agreement_vs_first', 1.0))
    else:
        o, note = '', 'does not load: ' + e.get('error', 'no result') if not e.get('loads') else e.get('error', '')
    quantize = r['quantize'] + ('-qoperator' if r.get('int8_format') == 'qoperator' else '')
    print('\t'.join([run, model, size, variant, train_n, test_n, f, quantize,
                     'structured' if r['structured'] else 'plain', str(r['size']['file_bytes']),
                     '%.2f' % (100 * v['accuracy_before']), opencv, opencv_note.strip(), o, note, agreement,
                     '%.2f' % (100 * v['accuracy_after']), v['runtime']]))
EOF
        tail -n ${#files[@]} "$results" | cut -f7,10-16 | sed 's/^/  /'
    done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
[ "$STAGE" = train ] && exit 0
# OUT/results.tsv: every run of CONFIGS x VARIANTS measured so far (each run's RUN.results.tsv).
printf 'run\tmodel\tsize\tvariant\ttrain_images\ttest_images\tfile\tquantize\tstructured\tbytes\tlibtorch\topencv\topencv_note\tort\tort_note\tort_agreement\tverified\tverified_in\n' >"$OUT/results.tsv"
for spec in $CONFIGS; do
    IFS=: read -r model size _ _ <<<"$spec"
    for variant in $VARIANTS; do
        for f in "$OUT/$model-$size-$variant.results.tsv" "$OUT/$model-$size-$variant-from64.results.tsv"; do
            [ ! -f "$f" ] || cat "$f" >>"$OUT/results.tsv"
        done
    done
done
"$PY" bench/int8-accuracy-table.py "$OUT/results.tsv"
