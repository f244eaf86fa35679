#!/usr/bin/env bash
# bench/audit-whole.sh: the full `leantune-cli audit` (defaults: K folds of E epochs) on the whole
# Fashion-MNIST (60,000 training + 10,000 test images) against a training run of the same
# configuration on the same training folder, side by side: the audit's wall time over
# (K × E + 1) training epochs' time, and the audit's peak RSS over the training run's
# (/usr/bin/time -v). Prints what the audit found and writes a contact sheet of its first 40
# label issues (given -> suggested) to $OUT/label-issues.png.
#
#   bench/audit-whole.sh        knobs: BUILD (build), OUT (bench/out/audit-whole), THREADS (1),
#                               TRAIN_EPOCHS (2: the training run's epochs, timed per epoch),
#                               STEPS ("audit train"), AUDIT_ARGS, RESUME=1 (go on from the
#                               finished folds of an earlier, stopped audit: its time then
#                               does not count)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
OUT=${OUT:-bench/out/audit-whole}
THREADS=${THREADS:-1}
TRAIN_EPOCHS=${TRAIN_EPOCHS:-2}
STEPS=${STEPS:-"audit train"}
AUDIT_ARGS=${AUDIT_ARGS:-}
RESUME=${RESUME:-}
PY=/usr/bin/python3
cli=$PWD/$BUILD/app/cli/leantune-cli
data=${BENCH_DATA:-/tmp/leantune-bench}/fashion-mnist
idx=/usr/share/datasets/fashion-mnist
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

if [ ! -f "$data/.complete" ]; then
    log "importing Fashion-MNIST into $data"
    rm -rf "$data"
    "$cli" import-idx "$idx/train-images-idx3-ubyte.gz" "$idx/train-labels-idx1-ubyte.gz" "$data/train" >/dev/null
    "$cli" import-idx "$idx/t10k-images-idx3-ubyte.gz" "$idx/t10k-labels-idx1-ubyte.gz" "$data/test" >/dev/null
    touch "$data/.complete"
fi

# /usr/bin/time -v's wall seconds and peak RSS (KiB) of one command; its output in $OUT/NAME.*.
# $OUT/NAME.hwm: the command's peak RSS so far (VmHWM) every 30 s, for a run stopped before its end.
timed() {
    local name=$1
    shift
    log "$name: $*"
    /usr/bin/time -v -o "$OUT/$name.time" "$@" >"$OUT/$name.log" 2>&1 &
    local timer=$!
    : >"$OUT/$name.hwm"
    local tick=0 child
    while kill -0 "$timer" 2>/dev/null; do
        sleep 5
        tick=$((tick + 1))
        [ $((tick % 6)) = 0 ] || continue
        child=$(pgrep -P "$timer" | head -1 || true)
        [ -n "$child" ] && echo "$(date +%H:%M:%S) $(grep VmHWM /proc/"$child"/status 2>/dev/null | tr -s ' \t' ' ') load $(cut -d' ' -f1 /proc/loadavg) $(tail -c 200 "$OUT/$name.log" | tr '\r' '\n' | grep -v '^$' | tail -1)" >>"$OUT/$name.hwm"
    done
    wait "$timer"
    log "$name: done, load $(cut -d' ' -f1-3 /proc/loadavg)"
}

for step in $STEPS; do
    case $step in
    audit)
        restart=--restart
        [ -n "$RESUME" ] && restart=
        # shellcheck disable=SC2086
        timed audit "$cli" audit --data "$data/train" --test "$data/test" --out "$OUT/audit" \
            --threads "$THREADS" $restart $AUDIT_ARGS
        ;;
    train)
        rm -rf "$OUT/train"
        # The fold models' configuration (the audit's defaults: smallcnn, 28 px, --augment) on all
        # the training images, split 10 % for validation as train does by default.
        timed train "$cli" train --data "$data/train" --out "$OUT/train" --epochs "$TRAIN_EPOCHS" \
            --augment --threads "$THREADS" --no-history
        ;;
    esac
done

# The summary once both sides have run (STEPS=train alone completes an earlier STEPS=audit).
grep -qs "Maximum resident" "$OUT/audit.time" && grep -qs "Maximum resident" "$OUT/train.time" &&
    $PY - "$OUT" <<'EOF'
import csv, json, os, re, sys
out = sys.argv[1]
def timing(name):
    text = open(os.path.join(out, name + ".time")).read()
    h, m, s = (["0"] + re.search(r"Elapsed \(wall clock\) time.*: (\S+)", text).group(1).split(":"))[-3:]
    wall = int(h) * 3600 + int(m) * 60 + float(s)
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
    return wall, rss
audit_s, audit_rss = timing("audit")
train_s, train_rss = timing("train")
# Seconds per training epoch from the run's own clock (epoch_end rows), so start-up is not counted.
ends = [float(r["elapsed_sec"]) for r in csv.DictReader(open(os.path.join(out, "train", "metrics.csv")))
        if r["event"] == "epoch_end"]
epoch_s = (ends[-1] - 0.0) / len(ends)
doc = json.load(open(os.path.join(out, "audit", "audit.json")))
folds = doc["folds"]
cfg = json.load(open(os.path.join(out, "audit", "folds", "0", "run", "config.json")))
epochs = cfg.get("epochs")
budget = (folds * epochs + 1) * epoch_s
dups = doc["duplicates"]
print(json.dumps({
    "images": doc["images"], "folds": folds, "epochs": epochs,
    "duplicate_groups": len(dups), "exact_groups": sum(d["kind"] == "exact" for d in dups),
    "near_groups": sum(d["kind"] == "near" for d in dups), "leaks": sum(d["leak"] for d in dups),
    "conflicts": sum(d["conflict"] for d in dups), "label_issues": len(doc["label_issues"]),
    "outliers": len(doc["outliers"]), "overlapping_classes": doc["overlapping_classes"][:6],
    "audit_seconds": round(audit_s, 1), "train_seconds": round(train_s, 1),
    "train_epoch_seconds": round(epoch_s, 1), "budget_seconds": round(budget, 1),
    "time_ratio": round(audit_s / budget, 3),
    "audit_peak_rss_mib": round(audit_rss / 1024, 1), "train_peak_rss_mib": round(train_rss / 1024, 1),
    "rss_ratio": round(audit_rss / train_rss, 3)}, indent=1))
EOF

# Contact sheet of the first 40 label issues: given -> suggested under each image.
if command -v montage >/dev/null && [ -f "$OUT/audit/audit.json" ]; then
    args=()
    while IFS=$'\t' read -r path given suggested score; do
        args+=(-label "$given->$suggested $score" "$path")
    done < <($PY -c '
import json, sys
for i in json.load(open(sys.argv[1]))["label_issues"][:40]:
    print("%s\t%s\t%s\t%.3f" % (i["path"], i["given"], i["suggested"], i["score"]))
' "$OUT/audit/audit.json")
    montage "${args[@]}" -tile 8x -geometry 112x112+4+4 -filter point -pointsize 10 \
        "$OUT/label-issues.png"
    log "contact sheet: $OUT/label-issues.png"
fi
