#!/usr/bin/env bash
# bench/audit-duplicates.sh: `leantune-cli audit --duplicates-only` on the whole Fashion-MNIST
# (60,000 training + 10,000 test images) against one `bench-loader` epoch over the same images
# (input 28, 1 channel, the training configuration), side by side, and the groups and leaks found.
#
#   bench/audit-duplicates.sh            knobs: BUILD (build), OUT (bench/out/audit-duplicates),
#                                        WORKERS (nproc), REPEAT (2), SHEET=1 (contact sheet)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
OUT=${OUT:-bench/out/audit-duplicates}
WORKERS=${WORKERS:-$(nproc)}
REPEAT=${REPEAT:-2}
cli=$PWD/$BUILD/app/cli/leantune-cli
data=${BENCH_DATA:-/tmp/leantune-bench}/fashion-mnist
idx=/usr/share/datasets/fashion-mnist
mkdir -p "$OUT"
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

if [ ! -f "$data/.complete" ]; then
    log "importing Fashion-MNIST into $data"
    rm -rf "$data"
    "$cli" import-idx "$idx/train-images-idx3-ubyte.gz" "$idx/train-labels-idx1-ubyte.gz" "$data/train" >/dev/null
    "$cli" import-idx "$idx/t10k-images-idx3-ubyte.gz" "$idx/t10k-labels-idx1-ubyte.gz" "$data/test" >/dev/null
    touch "$data/.complete"
fi
find "$data" -name "*.png" -print0 | xargs -0 cat >/dev/null   # warm the page cache for both sides

now() { date +%s.%N; }
best_audit=""; best_loader=""
for r in $(seq "$REPEAT"); do
    t0=$(now)
    "$cli" audit --data "$data/train" --test "$data/test" --out "$OUT/audit" --duplicates-only >"$OUT/audit.txt"
    t1=$(now)
    audit=$(echo "$t1 - $t0" | bc -l)
    loader=0
    for split in train test; do
        s=$("$cli" bench-loader --data "$data/$split" --input-size 28 --channels 1 --workers "$WORKERS" \
            --epochs 1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["seconds"])')
        loader=$(echo "$loader + $s" | bc -l)
    done
    log "run $r: audit --duplicates-only $(printf %.2f "$audit") s (scan included), bench-loader epoch $(printf %.2f "$loader") s (scan not timed)"
    if [ -z "$best_audit" ] || (( $(echo "$audit < $best_audit" | bc -l) )); then best_audit=$audit; fi
    if [ -z "$best_loader" ] || (( $(echo "$loader < $best_loader" | bc -l) )); then best_loader=$loader; fi
done
cat "$OUT/audit.txt"
python3 - "$OUT/audit/audit.json" "$best_audit" "$best_loader" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
audit, loader = float(sys.argv[2]), float(sys.argv[3])
groups = doc["duplicates"]
kinds = {k: sum(g["kind"] == k for g in groups) for k in ("exact", "near")}
print(f"images {doc['images']}: {len(groups)} groups ({kinds['exact']} exact, {kinds['near']} near), "
      f"{sum(len(g['images']) for g in groups)} images, {sum(g['leak'] for g in groups)} leaks, "
      f"{sum(g['conflict'] for g in groups)} conflicts")
print(f"audit --duplicates-only {audit:.2f} s, bench-loader epoch {loader:.2f} s, ratio {audit / loader:.2f} (target <= 1.5)")
PY

# A contact sheet of the first groups (leaks first): one row per group, its images side by side.
if [ "${SHEET:-1}" = 1 ] && command -v montage >/dev/null; then
    python3 - "$OUT/audit/audit.json" "$OUT/sheet-list.txt" <<'PY'
import json, sys
groups = json.load(open(sys.argv[1]))["duplicates"][:60]
with open(sys.argv[2], "w") as f:
    for g in groups:
        paths = [i["path"] for i in g["images"]][:4]
        paths += ["null:"] * (4 - len(paths))
        f.write("\n".join(paths) + "\n")
PY
    montage $(cat "$OUT/sheet-list.txt") -tile 4x -geometry 56x56+2+2 -filter point -background gray50 "$OUT/sheet.png"
    log "contact sheet: $OUT/sheet.png (one group a row, leaks first)"
fi
