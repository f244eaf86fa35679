#!/usr/bin/env node
// Times ONNX files in ONNX Runtime (onnxruntime-node) on the CPU: median and p90 of batch 1 and
// batch 32, with 2 intra-op threads by default, the files interleaved round by round so machine
// load hits them alike. Optionally compares every file's logits with the first file's on the same
// random input, and writes ONNX Runtime's profile of each file.
//
//   node bench/ort-latency.js [--threads N] [--runs N] [--batches 1,32] [--json] [--compare]
//                             [--fusion] FILE.onnx...
//
// onnxruntime-node is looked up in ORT_NODE_DIR, build/ort/node_modules and ~/.cache/leantune/ort
// (scripts/setup --with-ort installs it into build/ort).
'use strict';
const { loadOrt } = require('./ort-node.js');
const fs = require('fs');
const path = require('path');
const os = require('os');

function percentile(sorted, p) {
    return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

// --fusion: which QDQ node groups ONNX Runtime fused into integer kernels, read from its verbose
// session log ("Matched Conv", ...) in a child process; onnxruntime-node 1.20 has no profiler
// (its startProfiling/endProfiling are stubs) and does not write the optimized model.
function fusionOf(file) {
    const { spawnSync } = require('child_process');
    const r = spawnSync(process.execPath, [__filename, '--fusion-child', file], { encoding: 'utf8' });
    const counts = {};
    for (const m of (r.stderr + r.stdout).matchAll(/Matched (\w+)/g))
        counts[m[1]] = (counts[m[1]] || 0) + 1;
    const nodes = ((r.stderr + r.stdout).match(/Number of nodes: (\d+)/) || [])[1];
    return { matched: counts, nodes: nodes ? parseInt(nodes, 10) : null };
}

async function main() {
    const args = process.argv.slice(2);
    if (args[0] === '--fusion-child') {
        const ort = loadOrt('ort-latency');
        await ort.InferenceSession.create(args[1], { logSeverityLevel: 0, intraOpNumThreads: 1 });
        return;
    }
    let threads = 2, runs = 20, batches = [1, 32], profileDir = '', json = false, compare = false,
        optimizedDir = '', fusion = false;
    const files = [];
    for (let i = 0; i < args.length; ++i) {
        if (args[i] === '--threads') threads = parseInt(args[++i], 10);
        else if (args[i] === '--runs') runs = parseInt(args[++i], 10);
        else if (args[i] === '--batches') batches = args[++i].split(',').map(Number);
        else if (args[i] === '--profile') profileDir = args[++i];
        else if (args[i] === '--optimized') optimizedDir = args[++i];
        else if (args[i] === '--json') json = true;
        else if (args[i] === '--compare') compare = true;
        else if (args[i] === '--fusion') fusion = true;
        else files.push(args[i]);
    }
    if (files.length === 0 || !(threads >= 1) || !(runs >= 3)) {
        console.error('usage: ort-latency.js [--threads N] [--runs N>=3] [--batches 1,32] '
            + '[--profile DIR] [--optimized DIR] [--json] [--compare] FILE.onnx...');
        process.exit(2);
    }
    const ort = loadOrt('ort-latency');
    const models = [];
    for (const file of files) {
        const options = { intraOpNumThreads: threads, interOpNumThreads: 1,
            executionMode: 'sequential', graphOptimizationLevel: 'all' };
        if (profileDir) {
            options.enableProfiling = true;
            options.profileFilePrefix = path.join(profileDir, path.basename(file, '.onnx'));
        }
        if (optimizedDir)
            options.optimizedModelFilePath = path.join(optimizedDir, path.basename(file));
        const session = await ort.InferenceSession.create(file, options);
        const meta = fs.readFileSync(file).toString('latin1');
        // LeanTune's metadata_props: the key, then the value's protobuf tag and length bytes.
        const size = parseInt((meta.match(/input_size[^0-9]{1,3}(\d+)/) || [])[1] || '28', 10);
        const channels = parseInt((meta.match(/input_channels[^0-9]{1,3}(\d+)/) || [])[1] || '1', 10);
        models.push({ file, session, size, channels, times: {} });
    }
    const inputs = {};
    for (const b of batches) {
        const m = models[0];
        const data = new Float32Array(b * m.channels * m.size * m.size);
        let seed = 1;
        for (let i = 0; i < data.length; ++i) {
            seed = (seed * 1103515245 + 12345) & 0x7fffffff;
            data[i] = seed / 0x7fffffff;
        }
        inputs[b] = new ort.Tensor('float32', data, [b, m.channels, m.size, m.size]);
    }
    const logits = [];
    for (const m of models) { // warm-up, and the logits to compare
        for (const b of batches) {
            for (let i = 0; i < 3; ++i) {
                const out = await m.session.run({ input: inputs[b] });
                if (b === batches[batches.length - 1] && i === 0)
                    m.logits = out.logits.data;
            }
            m.times[b] = [];
        }
    }
    for (let r = 0; r < runs; ++r) {
        for (const b of batches) {
            for (const m of models) {
                const t0 = process.hrtime.bigint();
                await m.session.run({ input: inputs[b] });
                m.times[b].push(Number(process.hrtime.bigint() - t0) / 1e6);
            }
        }
    }
    const result = { runtime: 'onnxruntime-node ' + (ort.env.versions ? ort.env.versions.common : ''),
        threads, runs, load: os.loadavg()[0], models: [] };
    for (const m of models) {
        const entry = { file: m.file, bytes: fs.statSync(m.file).size };
        for (const b of batches) {
            const sorted = m.times[b].slice().sort((x, y) => x - y);
            entry['batch' + b] = { median_ms: percentile(sorted, 0.5), p90_ms: percentile(sorted, 0.9) };
        }
        if (compare && m !== models[0]) {
            let maxDiff = 0, agree = 0;
            const classes = m.logits.length / batches[batches.length - 1];
            for (let i = 0; i < m.logits.length; ++i)
                maxDiff = Math.max(maxDiff, Math.abs(m.logits[i] - models[0].logits[i]));
            for (let n = 0; n < m.logits.length / classes; ++n) {
                const arg = (d) => { let k = 0; for (let c = 1; c < classes; ++c) if (d[n * classes + c] > d[n * classes + k]) k = c; return k; };
                agree += arg(m.logits) === arg(models[0].logits) ? 1 : 0;
            }
            entry.max_abs_logit_diff_vs_first = maxDiff;
            entry.top1_agreement_vs_first = agree / (m.logits.length / classes);
        }
        if (fusion)
            entry.fusion = fusionOf(m.file);
        if (profileDir)
            entry.profile = m.session.endProfiling ? await m.session.endProfiling() : '';
        result.models.push(entry);
    }
    if (json) {
        console.log(JSON.stringify(result));
        return;
    }
    console.log(`${result.runtime}, CPU, ${threads} intra-op threads, ${runs} runs per batch `
        + `(interleaved), load average ${result.load.toFixed(2)}`);
    for (const e of result.models) {
        let line = `${path.basename(e.file).padEnd(36)} ${String(e.bytes).padStart(10)} bytes`;
        for (const b of batches) {
            const r = e['batch' + b];
            line += `  b${b} median ${r.median_ms.toFixed(2)} p90 ${r.p90_ms.toFixed(2)} ms`;
            if (e !== result.models[0])
                line += ` (${(result.models[0]['batch' + b].median_ms / r.median_ms).toFixed(2)}x)`;
        }
        if (e.max_abs_logit_diff_vs_first !== undefined)
            line += `  vs first: max|dlogit| ${e.max_abs_logit_diff_vs_first.toFixed(4)}, top-1 `
                + `${(100 * e.top1_agreement_vs_first).toFixed(1)} %`;
        if (e.fusion)
            line += `  fused: ${JSON.stringify(e.fusion.matched)}, ${e.fusion.nodes} nodes after `
                + 'optimization';
        console.log(line);
    }
}

main().catch((e) => {
    console.error('ort-latency: ' + (e && e.message ? e.message : e));
    process.exit(1);
});
