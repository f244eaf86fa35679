#!/usr/bin/env bash
# bench/audit-labels.sh: label issues found by `leantune-cli audit` (defaults) against the plain
# PyTorch baseline (bench/audit-baseline.py), on Fashion-MNIST with 5,000 training images (500 a
# class) of which NOISE are moved to a random wrong class folder (bench/audit-make-noisy.py).
# One JSON line per method, noise and seed in $OUT/results.jsonl; a table on stdout.
#
#   bench/audit-labels.sh                 knobs: NOISES ("0.02 0.05 0.10"), SEEDS ("1 2 3"),
#                                         METHODS ("baseline audit"), AUDIT_ARGS, BUILD, OUT,
#                                         THREADS (1: two benches share 2 cores better that way),
#                                         RANKINGS ("": other --label-ranking values scored on
#                                         the same folds, as method audit/RANKING),
#                                         VARIANTS ("": NAME=ARGS... scored on the same folds, as
#                                         method audit/NAME; ARGS comma-separated, e.g.
#                                         "no-vote=--label-neighbours,0"), REUSE (0; 1: score
#                                         the folds a finished audit left, no time recorded)
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
BUILD=${BUILD:-build}
OUT=${OUT:-bench/out/audit-labels}
NOISES=${NOISES:-"0.02 0.05 0.10"}
SEEDS=${SEEDS:-"1 2 3"}
METHODS=${METHODS:-"baseline audit"}
THREADS=${THREADS:-1}
RANKINGS=${RANKINGS:-}
VARIANTS=${VARIANTS:-}
REUSE=${REUSE:-0}
AUDIT_ARGS=${AUDIT_ARGS:-}
PY=/usr/bin/python3                       # Debian's python3-torch
cli=$root/$BUILD/app/cli/leantune-cli
work=${BENCH_DATA:-/tmp/leantune-bench/audit-labels}
mkdir -p "$OUT" "$work"
results=$OUT/results.jsonl
for noise in $NOISES; do
    for seed in $SEEDS; do
        d=$work/noise-$noise-seed-$seed
        [ -f "$d/moved.txt" ] || $PY bench/audit-make-noisy.py --out "$d" --noise "$noise" --seed "$seed" >&2
        for method in $METHODS; do
            if [ "$method" = baseline ]; then
                line=$(OMP_NUM_THREADS=$THREADS $PY bench/audit-baseline.py --data "$d/data" \
                    --moved "$d/moved.txt" --seed "$seed")
            else
                [ "$REUSE" = 1 ] || rm -rf "$d/audit"
                start=$(date +%s.%N)
                # shellcheck disable=SC2086
                "$cli" audit --data "$d/data" --out "$d/audit" --seed "$seed" --threads "$THREADS" \
                    $AUDIT_ARGS >"$d/audit.log" 2>&1 || { echo "audit failed: $d/audit.log" >&2; continue; }
                end=$(date +%s.%N)
                seconds=(--seconds "$(echo "$end - $start" | bc)")
                [ "$REUSE" = 1 ] && seconds=()
                line=$($PY bench/audit-score.py "$d/audit/audit.json" "$d/moved.txt" "${seconds[@]}")
                cp "$d/audit/audit.json" "$d/audit/audit-default.json"
                for r in $RANKINGS; do   # the finished folds are reused: only the ranking changes
                    # shellcheck disable=SC2086
                    "$cli" audit --data "$d/data" --out "$d/audit" --seed "$seed" --threads "$THREADS" \
                        $AUDIT_ARGS --label-ranking "$r" >>"$d/audit.log" 2>&1 || continue
                    alt=$($PY bench/audit-score.py "$d/audit/audit.json" "$d/moved.txt" | $PY -c \
                        "import json,sys; r=json.load(sys.stdin); r.update(method='audit/$r', noise=$noise, seed=$seed); print(json.dumps(r))")
                    echo "$alt" >>"$results"
                    echo "$alt"
                    cp "$d/audit/audit.json" "$d/audit/audit-$r.json"
                done
                for v in $VARIANTS; do   # the same, with other post-processing options
                    name=${v%%=*}
                    args=${v#*=}
                    # shellcheck disable=SC2086
                    "$cli" audit --data "$d/data" --out "$d/audit" --seed "$seed" --threads "$THREADS" \
                        $AUDIT_ARGS ${args//,/ } >>"$d/audit.log" 2>&1 || continue
                    alt=$($PY bench/audit-score.py "$d/audit/audit.json" "$d/moved.txt" | $PY -c \
                        "import json,sys; r=json.load(sys.stdin); r.update(method='audit/$name', noise=$noise, seed=$seed); print(json.dumps(r))")
                    echo "$alt" >>"$results"
                    echo "$alt"
                    cp "$d/audit/audit.json" "$d/audit/audit-$name.json"
                done
                [ -z "$RANKINGS$VARIANTS" ] || cp "$d/audit/audit-default.json" "$d/audit/audit.json"
            fi
            line=$(echo "$line" | $PY -c "import json,sys; r=json.load(sys.stdin); r.update(noise=$noise, seed=$seed); print(json.dumps(r))")
            echo "$line" >>"$results"
            echo "$line"
        done
    done
done
$PY - "$results" <<'EOF'
import collections, json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = collections.defaultdict(list)
for r in rows:
    by[(r["noise"], r["method"])].append(r)
print("| noise | method | runs | precision@N | recall | reported / N | seconds |")
print("|---|---|---|---|---|---|---|")
for (noise, method), rs in sorted(by.items()):
    mean = lambda k: sum(r[k] for r in rs) / len(rs)
    print("| %d %% | %s | %d | %.3f | %.3f | %.2f | %.0f |" % (
        round(noise * 100), method, len(rs), mean("precision_at_n"), mean("recall"),
        sum(r["reported"] / r["moved"] for r in rs) / len(rs),
        mean("seconds") if all("seconds" in r for r in rs) else float("nan")))
EOF
