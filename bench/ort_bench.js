#!/usr/bin/env node
// ONNX Runtime side of `make bench`: the same measurement `onyx profile` makes.
//
//   node bench/ort_bench.js MODEL.onnx DATA_DIR [--threads N] [--runs N] [--warmup N] [--max-time SEC]
//                           [--no-spin] [--profile PREFIX]
//
// Loads DATA_DIR/input_K.pb (ONNX TensorProto), creates a session (CPU,
// graphOptimizationLevel all, intraOpNumThreads N, interOpNumThreads 1,
// sequential execution), runs once (first run), warms up, then times runs
// (stopping after --max-time seconds once 3 are done) and prints one JSON line
// with load_ms, load_rss_mb, first_run_ms, runs, min_ms, median_ms, p90_ms,
// peak_rss_mb (VmHWM of this process, from /proc/self/status). --profile
// turns on ORT's own per-node profiler, written to PREFIX_<date>.json
// (bench/nodes.py reads it); it costs a little time.
//
// onnxruntime-node is found through NODE_PATH or ONYX_NPM_DIR
// (default ~/.cache/onyx/npm, where models/build_zoo.sh installs it).
'use strict';
const fs = require('fs');
const path = require('path');

const { loadOrt, DTYPES, decodeTensor } = require('../models/tensor_pb.js');

function statusMB(key) {
  try {
    const m = fs.readFileSync('/proc/self/status', 'utf8').match(new RegExp('^' + key + ':\\s+(\\d+)', 'm'));
    return m ? Number(m[1]) / 1024 : null;
  } catch (e) {
    return null;
  }
}

function quantile(sorted, q) {
  if (!sorted.length) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

function median(sorted) {
  const n = sorted.length;
  if (!n) return 0;
  return n % 2 ? sorted[(n - 1) / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
}

async function main() {
  const args = process.argv.slice(2);
  let threads = 1, runs = 10, warmup = 1, maxTime = 10, spin = true, profile = null;
  const pos = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--threads') threads = Number(args[++i]);
    else if (args[i] === '--runs') runs = Number(args[++i]);
    else if (args[i] === '--warmup') warmup = Number(args[++i]);
    else if (args[i] === '--max-time') maxTime = Number(args[++i]);
    else if (args[i] === '--no-spin') spin = false;
    else if (args[i] === '--profile') profile = args[++i];
    else pos.push(args[i]);
  }
  if (pos.length !== 2) {
    console.error('usage: node bench/ort_bench.js MODEL.onnx DATA_DIR [--threads N] [--runs N] [--warmup N] [--max-time SEC] [--no-spin] [--profile PREFIX]');
    process.exit(2);
  }
  const [modelPath, dir] = pos;
  const ort = loadOrt();
  const feeds0 = [];
  for (let k = 0; fs.existsSync(path.join(dir, `input_${k}.pb`)); k++)
    feeds0.push(decodeTensor(fs.readFileSync(path.join(dir, `input_${k}.pb`))));
  const rssBefore = statusMB('VmRSS');
  const t0 = process.hrtime.bigint();
  const sess = await ort.InferenceSession.create(modelPath, {
    executionProviders: ['cpu'], graphOptimizationLevel: 'all',
    intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential',
    // ORT's pool spin-waits between ops by default; onyx's threads sleep
    extra: spin ? {} : { session: { intra_op: { allow_spinning: '0' } } },
    ...(profile ? { enableProfiling: true, profileFilePrefix: profile } : {}),
  });
  const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const rssAfter = statusMB('VmRSS');
  const feeds = {};
  feeds0.forEach((t, k) => {
    const name = sess.inputNames.includes(t.name) ? t.name : sess.inputNames[k];
    feeds[name] = new ort.Tensor(DTYPES[t.dataType][0], t.data, t.dims);
  });
  const once = async () => {
    const s = process.hrtime.bigint();
    await sess.run(feeds);
    return Number(process.hrtime.bigint() - s) / 1e6;
  };
  const first = await once();
  for (let i = 0; i < warmup; i++) await once();
  const times = [];
  const start = Date.now();
  for (let i = 0; i < runs; i++) {
    if (i >= 3 && maxTime > 0 && (Date.now() - start) / 1e3 > maxTime) break;
    times.push(await once());
  }
  times.sort((a, b) => a - b);
  const out = {
    runtime: 'onnxruntime-node', version: ort.env && ort.env.versions ? ort.env.versions.common : null,
    model: modelPath, threads, spinning: spin, load_ms: loadMs,
    load_rss_mb: rssBefore != null && rssAfter != null ? rssAfter - rssBefore : null,
    first_run_ms: first, runs: times.length, min_ms: times[0], median_ms: median(times),
    p90_ms: quantile(times, 0.9), peak_rss_mb: statusMB('VmHWM'),
    max_rss_mb: process.resourceUsage().maxRSS / 1024,
  };
  if (profile) sess.endProfiling();
  console.log(JSON.stringify(out));
}

main().catch((e) => { console.error('ort_bench.js: ' + (e && e.stack || e)); process.exit(1); });
