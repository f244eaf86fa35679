#!/usr/bin/env python3
"""Prints bench/int8-accuracy.sh's results.tsv as the Markdown tables of bench/README.md.

    python3 bench/int8-accuracy-table.py [bench/out/int8-accuracy/results.tsv]

The accuracy table has one row per run and --structured setting: test accuracy in % of each file in
OpenCV DNN and ONNX Runtime (ORT), an int8 file's difference against the run's fp32 file in the same
runtime in parentheses; "agreement": the share of test images whose ORT prediction for the static
int8 QDQ file equals the fp32 file's. The second table says which runtime loaded which kind of file.
"""
import csv
import sys

KINDS = [('none', 'fp32'), ('int8', 'int8 weights (QDQ)'), ('int8-static', 'static int8 QDQ'),
         ('int8-static-qoperator', 'static int8 QOperator')]


def cell(r, runtime, fp32=None):
    if r is None or r['opencv_note'].startswith('export failed'):
        return '–'
    value = r[runtime]
    if not value:
        note = r[runtime + '_note']
        return 'does not load' if 'does not load' in note else (note or 'no result')
    if fp32 is not None and fp32[runtime]:
        return '%s (%+.2f)' % (value, float(value) - float(fp32[runtime]))
    return value


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else 'bench/out/int8-accuracy/results.tsv'
    rows = list(csv.DictReader(open(path), delimiter='\t'))
    groups = {}
    for r in rows:
        groups.setdefault((r['run'], r['structured']), {})[r['quantize']] = r
    head = ['model', 'px', 'pruned', 'train / test images', 'fp32 OpenCV', 'fp32 ORT',
            'static QDQ OpenCV', 'static QDQ ORT', 'agreement', 'static QOperator OpenCV',
            'static QOperator ORT', 'int8 weights ORT', 'bytes fp32 / QDQ / QOperator']
    print('| ' + ' | '.join(head) + ' |')
    print('|' + '---|' * len(head))
    for (run, structured), g in groups.items():
        first = next(iter(g.values()))
        fp32, qdq, qop, weights = (g.get(k) for k in ('none', 'int8-static',
                                                      'int8-static-qoperator', 'int8'))
        pruned = 'no' if first['variant'] == 'dense' else '80 % channels'
        if structured == 'structured':
            pruned += ', `--structured`'
        if run.endswith('-from64'):
            pruned += ' (from the 64 px run)'
        sizes = ' / '.join(format(int(r['bytes']), ',') if r and r['bytes'] else '–'
                           for r in (fp32, qdq, qop))
        line = [first['model'], first['size'], pruned,
                '%s / %s' % (format(int(first['train_images']), ','),
                             format(int(first['test_images']), ',')),
                cell(fp32, 'opencv'), cell(fp32, 'ort'), cell(qdq, 'opencv', fp32),
                cell(qdq, 'ort', fp32),
                qdq['ort_agreement'] + ' %' if qdq and qdq.get('ort_agreement') else '',
                cell(qop, 'opencv', fp32), cell(qop, 'ort', fp32), cell(weights, 'ort', fp32),
                sizes]
        print('| ' + ' | '.join(line) + ' |')
    print()
    print('| file | OpenCV DNN 4.6 loads | ONNX Runtime loads |')
    print('|---|---|---|')
    for kind, name in KINDS:
        of = [r for r in rows if r['quantize'] == kind and (r['opencv'] or r['opencv_note'])
              and not r['opencv_note'].startswith('export failed')]
        if not of:
            continue
        def count(runtime):
            n = sum(1 for r in of if r[runtime])
            return 'yes (%d of %d files)' % (n, len(of)) if n == len(of) else \
                ('no (0 of %d)' % len(of) if n == 0 else '%d of %d files' % (n, len(of)))
        print('| %s | %s | %s |' % (name, count('opencv'), count('ort')))


if __name__ == '__main__':
    main()
