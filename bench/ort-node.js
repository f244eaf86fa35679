// Loads onnxruntime-node for the bench scripts: from ORT_NODE_DIR, build/ort/node_modules (where
// scripts/setup --with-ort installs it) or ~/.cache/leantune/ort, else Node's own search path.
// Exits with status 3 and a line naming CALLER when it is not installed.
'use strict';
const fs = require('fs');
const path = require('path');
const os = require('os');

function loadOrt(caller) {
    const roots = [process.env.ORT_NODE_DIR, path.join(__dirname, '..', 'build', 'ort', 'node_modules'),
        path.join(os.homedir(), '.cache', 'leantune', 'ort', 'node_modules')].filter(Boolean);
    for (const root of roots) {
        const dir = path.join(root, 'onnxruntime-node');
        if (fs.existsSync(dir))
            return require(dir);
    }
    try {
        return require('onnxruntime-node');
    } catch (e) {
        console.error(caller + ': onnxruntime-node not found (looked in ' + roots.join(', ')
            + '); install it with scripts/setup --with-ort');
        process.exit(3);
    }
}

module.exports = { loadOrt };
