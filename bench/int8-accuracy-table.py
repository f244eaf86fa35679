#!/usr/bin/env python3
"""Prints bench/int8-accuracy.sh's results.tsv as the Markdown table of bench/README.md.

    python3 bench/int8-accuracy-table.py [bench/out/int8-accuracy/results.tsv]

One row per run and --structured setting; accuracies in % on the test subset, static int8's and
weight-only int8's difference against the fp32 file in the same runtime in parentheses; "top-1 = fp32":
the share of test images whose ONNX Runtime prediction equals the run's fp32 file's; "QDQ in
LibTorch": the export's own reference run of the static int8 graph (float, with the QDQ clamps).
"""
import csv
import sys


def cell(r, runtime):
    if r is None:
        return 'not exported'
    value = r[runtime]
    if value:
        return value
    note = r[runtime + '_note']
    return 'does not load' if 'does not load' in note else (note or 'no result')


def with_delta(r, fp32, runtime):
    text = cell(r, runtime)
    if r is not None and fp32 is not None and r[runtime] and fp32[runtime]:
        text += ' (%+.2f)' % (float(r[runtime]) - float(fp32[runtime]))
    return text


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else 'bench/out/int8-accuracy/results.tsv'
    rows = list(csv.DictReader(open(path), delimiter='\t'))
    groups = {}
    for r in rows:
        groups.setdefault((r['run'], r['structured']), {})[r['quantize']] = r
    extra = sorted({q for g in groups.values() for q in g} - {'none', 'int8', 'int8-static'})
    head = ['model', 'px', 'pruned', 'train / test images', 'fp32 bytes', 'static int8 bytes',
            'fp32 LibTorch', 'fp32 OpenCV', 'fp32 ORT', 'static int8 OpenCV', 'static int8 ORT (Δ)',
            'static int8 ORT top-1 = fp32', 'static int8 QDQ in LibTorch',
            'int8 weights OpenCV', 'int8 weights ORT (Δ)'] + ['%s ORT (Δ)' % q for q in extra]
    print('| ' + ' | '.join(head) + ' |')
    print('|' + '---|' * len(head))
    for (run, structured), g in groups.items():
        any_row = next(iter(g.values()))
        fp32, static, weights = g.get('none'), g.get('int8-static'), g.get('int8')
        pruned = 'no' if any_row['variant'] == 'dense' else '80 % channels'
        if structured == 'structured':
            pruned += ', `--structured`'
        line = [any_row['model'], any_row['size'], pruned,
                '%s / %s' % (format(int(any_row['train_images']), ','),
                             format(int(any_row['test_images']), ',')),
                format(int(fp32['bytes']), ',') if fp32 and fp32['bytes'] else '',
                format(int(static['bytes']), ',') if static and static['bytes'] else '',
                fp32['libtorch'] if fp32 else '', cell(fp32, 'opencv'), cell(fp32, 'ort'),
                cell(static, 'opencv'), with_delta(static, fp32, 'ort'),
                static['ort_agreement'] + ' %' if static and static.get('ort_agreement') else '',
                static['libtorch'] if static else '',
                cell(weights, 'opencv'), with_delta(weights, fp32, 'ort')]
        line += [with_delta(g.get(q), fp32, 'ort') for q in extra]
        print('| ' + ' | '.join(line) + ' |')


if __name__ == '__main__':
    main()
