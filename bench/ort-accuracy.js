#!/usr/bin/env node
// Test accuracy of exported ONNX files in ONNX Runtime (onnxruntime-node, CPU), on images decoded
// by bench/int8-accuracy-images.py (PREFIX.u8: N x C x S x S resized pixels; PREFIX.json: labels).
// The input is pixel / 255 (an exported model normalizes inside). A file ONNX Runtime does not load
// is reported with its error, not skipped. One JSON line per file with --json.
//
//   node bench/ort-accuracy.js --images PREFIX [--threads N] [--batch N] [--json]
//                              [--optimization all|extended|basic|disabled] FILE.onnx...
//
// --optimization basic (or disabled) keeps a QDQ file's DequantizeLinear/QuantizeLinear pairs around
// float operators instead of fusing them into integer kernels: the same file computed in float.
//
// onnxruntime-node is looked up as bench/ort-latency.js does (ORT_NODE_DIR, build/ort/node_modules,
// ~/.cache/leantune/ort).
'use strict';
const { loadOrt } = require('./ort-node.js');
const fs = require('fs');
const path = require('path');

async function accuracyOf(ort, file, images, meta, threads, batch, optimization) {
    const entry = { file, bytes: fs.statSync(file).size, images: meta.labels.length };
    let session;
    try {
        session = await ort.InferenceSession.create(file, { intraOpNumThreads: threads,
            interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: optimization });
    } catch (e) {
        entry.loads = false;
        entry.error = String(e && e.message ? e.message : e).split('\n')[0].slice(0, 300);
        return entry;
    }
    entry.loads = true;
    const text = fs.readFileSync(file).toString('latin1');
    // LeanTune's metadata_props: the key, then the value's protobuf tag and length bytes.
    const size = parseInt((text.match(/input_size[^0-9]{1,3}(\d+)/) || [])[1] || '28', 10);
    const channels = parseInt((text.match(/input_channels[^0-9]{1,3}(\d+)/) || [])[1] || '1', 10);
    const [n, c, h, w] = meta.shape;
    if (h !== size || w !== size || (c !== channels && c !== 1)) {
        entry.error = `images are ${c}x${h}x${w}, the model takes ${channels}x${size}x${size}`;
        return entry;
    }
    const plane = size * size;
    let correct = 0;
    const predictions = [];
    for (let start = 0; start < n; start += batch) {
        const count = Math.min(batch, n - start);
        const data = new Float32Array(count * channels * plane);
        for (let i = 0; i < count; ++i) {
            for (let ch = 0; ch < channels; ++ch) {
                const src = ((start + i) * c + (c === 1 ? 0 : ch)) * plane;
                const dst = (i * channels + ch) * plane;
                for (let p = 0; p < plane; ++p)
                    data[dst + p] = images[src + p] / 255;
            }
        }
        const out = await session.run({ input: new ort.Tensor('float32', data,
            [count, channels, size, size]) });
        const logits = out[session.outputNames[0]].data;
        const classes = logits.length / count;
        for (let i = 0; i < count; ++i) {
            let best = 0;
            for (let k = 1; k < classes; ++k)
                if (logits[i * classes + k] > logits[i * classes + best])
                    best = k;
            predictions.push(best);
            correct += best === meta.labels[start + i] ? 1 : 0;
        }
    }
    entry.correct = correct;
    entry.accuracy = correct / n;
    entry.predictions = predictions;
    return entry;
}

async function main() {
    const args = process.argv.slice(2);
    let prefix = '', threads = 2, batch = 32, json = false, optimization = 'all';
    const files = [];
    for (let i = 0; i < args.length; ++i) {
        if (args[i] === '--images') prefix = args[++i];
        else if (args[i] === '--threads') threads = parseInt(args[++i], 10);
        else if (args[i] === '--batch') batch = parseInt(args[++i], 10);
        else if (args[i] === '--json') json = true;
        else if (args[i] === '--optimization') optimization = args[++i];
        else files.push(args[i]);
    }
    if (!prefix || files.length === 0 || !(threads >= 1) || !(batch >= 1)) {
        console.error('usage: ort-accuracy.js --images PREFIX [--threads N] [--batch N] [--json] '
            + '[--optimization all|extended|basic|disabled] FILE.onnx...');
        process.exit(2);
    }
    const ort = loadOrt('ort-accuracy');
    const meta = JSON.parse(fs.readFileSync(prefix + '.json', 'utf8'));
    const images = fs.readFileSync(prefix + '.u8');
    if (images.length !== meta.shape.reduce((a, b) => a * b, 1)) {
        console.error(`ort-accuracy: ${prefix}.u8 holds ${images.length} bytes, not ${meta.shape.join('x')}`);
        process.exit(1);
    }
    const runtime = 'onnxruntime-node ' + (ort.env.versions ? ort.env.versions.common : '');
    let reference = null;
    for (const file of files) {
        const e = await accuracyOf(ort, file, images, meta, threads, batch, optimization);
        e.runtime = runtime;
        if (e.predictions) {
            if (reference)
                e.agreement_vs_first = e.predictions.filter((p, i) => p === reference[i]).length
                    / e.predictions.length;
            else
                reference = e.predictions;
            delete e.predictions;
        }
        if (json) {
            console.log(JSON.stringify(e));
            continue;
        }
        let line = `${path.basename(file).padEnd(44)} `;
        if (!e.loads)
            line += `does not load in ${runtime}: ${e.error}`;
        else if (e.error)
            line += e.error;
        else
            line += `${(100 * e.accuracy).toFixed(2)} % (${e.correct}/${e.images})`
                + (e.agreement_vs_first !== undefined
                    ? `, top-1 agreement with the first ${(100 * e.agreement_vs_first).toFixed(2)} %` : '');
        console.log(line);
    }
}

main().catch((e) => {
    console.error('ort-accuracy: ' + (e && e.message ? e.message : e));
    process.exit(1);
});
