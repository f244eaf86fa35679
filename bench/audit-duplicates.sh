#!/usr/bin/env bash
# bench/audit-duplicates.sh: the duplicate and leak finding of `leantune-cli audit --duplicates-only`.
# Part "quality": 3,000 training + 1,000 test Fashion-MNIST images with injected near copies of four
# kinds (JPEG q85, resized to 36 px, moved 1 px, brightness +6 %; PAIRS of each, half inside training,
# half across to test) and EXACT copies re-saved as BMP under another class: which pairs land in one
# group, leaks and conflicts marked, groups among the clean images (contact sheet clean-groups.png).
# Part "speed": the whole Fashion-MNIST (60,000 training + 10,000 test images) against one
# `bench-loader` epoch over the same images (one process over a folder of both splits; input 28, 1
# channel, the training configuration), side by side, and the groups and leaks found.
#
#   bench/audit-duplicates.sh            knobs: PART (all|quality|speed), BUILD (build),
#                                        OUT (bench/out/audit-duplicates), WORKERS (nproc),
#                                        REPEAT (2), PAIRS (60), EXACT (40), SHEET=1 (contact sheets)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
OUT=${OUT:-bench/out/audit-duplicates}
WORKERS=${WORKERS:-$(nproc)}
REPEAT=${REPEAT:-2}
PART=${PART:-all}
PAIRS=${PAIRS:-60}
EXACT=${EXACT:-40}
cli=$PWD/$BUILD/app/cli/leantune-cli
# The loader's epoch runs in the engine itself: through the front it would also count the front's
# start (about 0.1 CPU s a process) on the side the audit is measured against.
loader_cli=$cli-engine; [ -x "$loader_cli" ] || loader_cli=$cli
data=${BENCH_DATA:-/tmp/leantune-bench}/fashion-mnist
idx=/usr/share/datasets/fashion-mnist
mkdir -p "$OUT"
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
now() { date +%s.%N; }

# Part 1: the injected-copy fixture (issue's quality targets).
if [ "$PART" = all ] || [ "$PART" = quality ]; then
    fx=$OUT/fixture
    if [ ! -f "$fx/.complete" ]; then
        log "making the fixture: 3,000 training + 1,000 test images and the injected copies"
        rm -rf "$fx"
        "$cli" import-idx "$idx/train-images-idx3-ubyte.gz" "$idx/train-labels-idx1-ubyte.gz" "$fx/train" --limit 3000 >/dev/null
        "$cli" import-idx "$idx/t10k-images-idx3-ubyte.gz" "$idx/t10k-labels-idx1-ubyte.gz" "$fx/test" --limit 1000 >/dev/null
        classes=($(ls "$fx/train"))
        mapfile -t originals < <(find "$fx/train" -name "*.png" | sort)
        : >"$fx/injected.csv"
        next=0
        take() { orig=${originals[$(( (next * 7) % ${#originals[@]} ))]}; next=$((next + 1)); }
        shifts=("+1+0" "+0+1" "-1+0" "+0-1" "+1+1")
        # PAIRS of each near kind, the first half inside training, the rest across to test.
        for kind in jpeg85 resize36 shift1 bright6; do
            for k in $(seq 0 $((PAIRS - 1))); do
                take
                split=train; [ "$k" -ge $((PAIRS / 2)) ] && split=test
                cls=$(basename "$(dirname "$orig")")
                dir=$fx/$split/$cls; copy=$dir/copy-$kind-$k.png
                case $kind in
                    jpeg85) copy=$dir/copy-$kind-$k.jpg; convert "$orig" -quality 85 "$copy" ;;
                    resize36) convert "$orig" -resize '36x36!' -depth 8 "$copy" ;;
                    shift1) convert -size 28x28 xc:black "$orig" -geometry "${shifts[$((k % 5))]}" -composite \
                                -colorspace Gray -depth 8 "$copy" ;;
                    bright6) convert "$orig" -evaluate multiply 1.06 -depth 8 "$copy" ;;
                esac
                echo "$kind,$orig,$copy,$([ $split = test ] && echo 1 || echo 0),0" >>"$fx/injected.csv"
            done
        done
        # EXACT copies (the same pixels re-saved as BMP) filed under another class, half across.
        for k in $(seq 0 $((EXACT - 1))); do
            take
            split=train; [ "$k" -ge $((EXACT / 2)) ] && split=test
            cls=$(basename "$(dirname "$orig")")
            for i in "${!classes[@]}"; do [ "${classes[$i]}" = "$cls" ] && ci=$i; done
            other=${classes[$(( (ci + 1 + k % 9) % ${#classes[@]} ))]}
            copy=$fx/$split/$other/exact-$k.bmp
            convert "$orig" -depth 8 "$copy"
            echo "exact,$orig,$copy,$([ $split = test ] && echo 1 || echo 0),1" >>"$fx/injected.csv"
        done
        touch "$fx/.complete"
    fi
    t0=$(now)
    "$cli" audit --data "$fx/train" --test "$fx/test" --out "$OUT/fixture-audit" --duplicates-only >"$OUT/fixture-audit.txt"
    t1=$(now)
    log "fixture audit: $(printf %.2f "$(echo "$t1 - $t0" | bc -l)") s, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    python3 - "$OUT/fixture-audit/audit.json" "$fx/injected.csv" "$OUT/clean-groups.txt" <<'PY'
import csv, json, os, sys
groups = json.load(open(sys.argv[1]))["duplicates"]
pairs = list(csv.reader(open(sys.argv[2])))
where = {}
for n, g in enumerate(groups):
    for i in g["images"]:
        where[os.path.realpath(i["path"])] = n
injected = set()
stats = {}
for kind, orig, copy, cross, other in pairs:
    orig, copy = os.path.realpath(orig), os.path.realpath(copy)
    injected |= {orig, copy}
    s = stats.setdefault(kind, [0, 0, 0, 0, 0])  # pairs, together, alone (a group of 2), leak ok, conflict ok
    s[0] += 1
    g = where.get(orig)
    if g is None or where.get(copy) != g:
        print(f"not grouped: {kind} {copy}")
        continue
    s[1] += 1
    s[2] += len(groups[g]["images"]) == 2
    s[3] += groups[g]["leak"] == (cross == "1")
    s[4] += groups[g]["conflict"] == (other == "1")
total = [sum(s[k] for s in stats.values()) for k in range(5)]
print("| kind | pairs | in one group | group is just the pair | leak right | conflict right |")
print("|---|---|---|---|---|---|")
for kind, s in list(stats.items()) + [("all", total)]:
    print(f"| {kind} | {s[0]} | {s[1]} | {s[2]} | {s[3]} | {s[4]} |")
clean = [g for g in groups if not any(os.path.realpath(i["path"]) in injected for i in g["images"])]
mixed = [g for g in groups if any(os.path.realpath(i["path"]) in injected for i in g["images"])
         and len(g["images"]) > 2]
print(f"groups {len(groups)}: {len(groups) - len(clean)} hold injected copies ({len(mixed)} with other images too), "
      f"{len(clean)} among the clean images ({sum(len(g['images']) for g in clean)} images)")
print(f"grouped {total[1]}/{total[0]} = {100 * total[1] / total[0]:.1f} % (target >= 95 %); "
      f"leaks right {total[3]}/{total[1]}, conflicts right {total[4]}/{total[1]}")
with open(sys.argv[3], "w") as f:
    for g in clean + mixed:
        paths = [i["path"] for i in g["images"]][:6]
        f.write("\n".join(paths + ["null:"] * (6 - len(paths))) + "\n")
PY
    rm -f "$OUT/clean-groups.png"
    if [ -s "$OUT/clean-groups.txt" ] && command -v montage >/dev/null; then
        montage $(cat "$OUT/clean-groups.txt") -tile 6x -geometry 56x56+2+2 -filter point -background gray50 "$OUT/clean-groups.png"
        log "contact sheet of the clean-image groups (then groups of a copy with other images): $OUT/clean-groups.png"
    fi
fi

# Part 2: speed on the whole Fashion-MNIST.
if [ "$PART" = all ] || [ "$PART" = speed ]; then
if [ ! -f "$data/.complete" ]; then
    log "importing Fashion-MNIST into $data"
    rm -rf "$data"
    "$cli" import-idx "$idx/train-images-idx3-ubyte.gz" "$idx/train-labels-idx1-ubyte.gz" "$data/train" >/dev/null
    "$cli" import-idx "$idx/t10k-images-idx3-ubyte.gz" "$idx/t10k-labels-idx1-ubyte.gz" "$data/test" >/dev/null
    touch "$data/.complete"
fi
# "One bench-loader epoch over the same images": one process over a folder that holds both splits
# (hard links, test-/train- before each name, as the names repeat across the splits).
if [ ! -f "$data/both/.complete" ]; then
    rm -rf "$data/both"
    for split in train test; do
        for dir in "$data/$split"/*/; do
            cls=$(basename "$dir"); mkdir -p "$data/both/$cls"
            (cd "$dir" && for f in *.png; do ln "$f" "$data/both/$cls/$split-$f"; done)
        done
    done
    touch "$data/both/.complete"
fi
find "$data/train" "$data/test" -name "*.png" -print0 | xargs -0 cat >/dev/null   # warm the page cache for both sides

best_audit=""; best_loader=""
for r in $(seq "$REPEAT"); do
    # Both programs whole (process start and scan included): wall and CPU seconds (user + sys; on a
    # loaded machine the CPU ratio is the steadier one), and peak RSS. The loader's own epoch
    # seconds (its scan not timed) too.
    t0=$(now)
    /usr/bin/time -f "%U %S %M" -o "$OUT/audit.cpu" \
        "$cli" audit --data "$data/train" --test "$data/test" --out "$OUT/audit" --duplicates-only >"$OUT/audit.txt" 2>"$OUT/audit.err"
    t1=$(now)
    audit=$(echo "$t1 - $t0" | bc -l)
    audit_cpu=$(awk '{print $1 + $2}' "$OUT/audit.cpu")
    epoch=$(/usr/bin/time -f "%U %S %M" -o "$OUT/loader.cpu" "$loader_cli" bench-loader --data "$data/both" --input-size 28 \
        --channels 1 --workers "$WORKERS" --epochs 1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["seconds"])')
    loader=$(echo "$(now) - $t1" | bc -l)
    loader_cpu=$(awk '{print $1 + $2}' "$OUT/loader.cpu")
    loader_rss=$(awk '{print $3}' "$OUT/loader.cpu")
    log "run $r: audit --duplicates-only $(printf %.2f "$audit") s against bench-loader $(printf %.2f "$loader") s (wall ratio $(printf %.2f "$(echo "$audit / $loader" | bc -l)"); the loader's epoch alone $(printf %.2f "$epoch") s, ratio $(printf %.2f "$(echo "$audit / $epoch" | bc -l)")); CPU $(printf %.2f "$audit_cpu") s against $(printf %.2f "$loader_cpu") s (ratio $(printf %.2f "$(echo "$audit_cpu / $loader_cpu" | bc -l)")); peak RSS $(awk '{print $3}' "$OUT/audit.cpu") KiB against $loader_rss KiB; load average $(cut -d' ' -f1-3 /proc/loadavg)"
    # Each stage's wall seconds in this run (the audit's own progress lines).
    log "run $r stages: $(tr '\r' '\n' <"$OUT/audit.err" | grep -E '^(scanning|hashing|indexing|comparing).* in [0-9.]+ s$' | sed 's/: [0-9]* of [0-9]* in/:/' | paste -sd, -)"
    ratios="${ratios:-} $(echo "$audit_cpu / $loader_cpu" | bc -l)"
    walls="${walls:-} $(echo "$audit / $loader" | bc -l)"
    if [ -z "$best_audit" ] || (( $(echo "$audit < $best_audit" | bc -l) )); then best_audit=$audit; fi
    if [ -z "$best_loader" ] || (( $(echo "$loader < $best_loader" | bc -l) )); then best_loader=$loader; fi
done
cat "$OUT/audit.txt"
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {printf "%.2f", NR % 2 ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
echo "CPU ratios (audit / bench-loader, per run): $(for x in $ratios; do printf '%.2f ' "$x"; done)(median $(median $ratios))"
echo "wall ratios (audit / bench-loader, per run): $(for x in $walls; do printf '%.2f ' "$x"; done)(median $(median $walls))"
python3 - "$OUT/audit/audit.json" "$best_audit" "$best_loader" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
audit, loader = float(sys.argv[2]), float(sys.argv[3])
groups = doc["duplicates"]
kinds = {k: sum(g["kind"] == k for g in groups) for k in ("exact", "near")}
print(f"images {doc['images']}: {len(groups)} groups ({kinds['exact']} exact, {kinds['near']} near), "
      f"{sum(len(g['images']) for g in groups)} images, {sum(g['leak'] for g in groups)} leaks, "
      f"{sum(g['conflict'] for g in groups)} conflicts")
print(f"best wall: audit --duplicates-only {audit:.2f} s, bench-loader {loader:.2f} s, ratio {audit / loader:.2f} (target <= 1.5)")
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
fi
