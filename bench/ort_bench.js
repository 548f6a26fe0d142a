#!/usr/bin/env node
// ONNX Runtime side of `make bench`: the same measurement `onyx profile` makes.
//
//   node bench/ort_bench.js MODEL.onnx DATA_DIR [--threads N] [--runs N] [--warmup N] [--max-time SEC]
//                           [--no-spin]
//
// Loads DATA_DIR/input_K.pb (ONNX TensorProto), creates a session (CPU,
// graphOptimizationLevel all, intraOpNumThreads N, interOpNumThreads 1,
// sequential execution), runs once (first run), warms up, then times runs
// (stopping after --max-time seconds once 3 are done) and prints one JSON line
// with load_ms, load_rss_mb, first_run_ms, runs, min_ms, median_ms, p90_ms,
// peak_rss_mb (VmHWM of this process, from /proc/self/status).
//
// onnxruntime-node is found through NODE_PATH or ONYX_NPM_DIR
// (default ~/.cache/onyx/npm, where models/build_zoo.sh installs it).
'use strict';
const fs = require('fs');
const path = require('path');
const os = require('os');

function loadOrt() {
  try {
    return require('onnxruntime-node');
  } catch (e) {
    const dir = process.env.ONYX_NPM_DIR || path.join(os.homedir(), '.cache', 'onyx', 'npm');
    return require(path.join(dir, 'node_modules', 'onnxruntime-node'));
  }
}

// The TensorProto decoder below is a copy of models/ort_run.js's.
// ---- minimal protobuf wire format ------------------------------------------

class Reader {
  constructor(buf) { this.buf = buf; this.pos = 0; }
  eof() { return this.pos >= this.buf.length; }
  varint() {
    // up to 64 bits; exact for values below 2^53, which covers dims and types
    let result = 0, mul = 1, b;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) throw new Error('truncated varint');
      b = this.buf[this.pos++];
      result += (b & 0x7f) * mul;
      if (!(b & 0x80)) return result;
      mul *= 128;
    }
    throw new Error('varint longer than 10 bytes');
  }
  bytes() {
    const n = this.varint();
    if (this.pos + n > this.buf.length) throw new Error('truncated length-delimited field');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  skip(wire) {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.pos += 4;
    else throw new Error('unsupported wire type ' + wire);
  }
}

// ONNX TensorProto.DataType -> [ort type name, TypedArray, bytes per element]
const DTYPES = {
  1: ['float32', Float32Array, 4], 2: ['uint8', Uint8Array, 1], 3: ['int8', Int8Array, 1],
  4: ['uint16', Uint16Array, 2], 5: ['int16', Int16Array, 2], 6: ['int32', Int32Array, 4],
  7: ['int64', BigInt64Array, 8], 9: ['bool', Uint8Array, 1], 10: ['float16', Uint16Array, 2],
  11: ['float64', Float64Array, 8], 12: ['uint32', Uint32Array, 4], 13: ['uint64', BigUint64Array, 8],
};
const TYPE_CODE = {};
for (const [code, [name]] of Object.entries(DTYPES)) TYPE_CODE[name] = Number(code);

// Returns {name, dims, dataType, data: TypedArray}
function decodeTensor(buf) {
  const r = new Reader(buf);
  const t = { name: '', dims: [], dataType: 0, raw: null, floats: [], int32s: [], int64s: [], doubles: [] };
  while (!r.eof()) {
    const key = r.varint();
    const field = Math.floor(key / 8), wire = key & 7;
    if (field === 1 && wire === 0) t.dims.push(r.varint());
    else if (field === 1 && wire === 2) {
      const sub = new Reader(r.bytes());
      while (!sub.eof()) t.dims.push(sub.varint());
    } else if (field === 2 && wire === 0) t.dataType = r.varint();
    else if (field === 4 && wire === 2) {       // float_data, packed
      const b = r.bytes();
      for (let i = 0; i + 4 <= b.length; i += 4) t.floats.push(b.readFloatLE(i));
    } else if (field === 4 && wire === 5) {     // float_data, not packed
      t.floats.push(r.buf.readFloatLE(r.pos)); r.pos += 4;
    } else if (field === 5 && wire === 2) {     // int32_data, packed
      const sub = new Reader(r.bytes());
      while (!sub.eof()) t.int32s.push(sub.varint() | 0);
    } else if (field === 5 && wire === 0) t.int32s.push(r.varint() | 0);
    else if (field === 7 && wire === 2) {       // int64_data, packed (non-negative only)
      const sub = new Reader(r.bytes());
      while (!sub.eof()) t.int64s.push(sub.varint());
    } else if (field === 7 && wire === 0) t.int64s.push(r.varint());
    else if (field === 8 && wire === 2) t.name = r.bytes().toString('utf8');
    else if (field === 9 && wire === 2) t.raw = r.bytes();
    else if (field === 10 && wire === 2) {      // double_data, packed
      const b = r.bytes();
      for (let i = 0; i + 8 <= b.length; i += 8) t.doubles.push(b.readDoubleLE(i));
    } else r.skip(wire);
  }
  const spec = DTYPES[t.dataType];
  if (!spec) throw new Error('unsupported TensorProto data_type ' + t.dataType);
  const [, Arr, size] = spec;
  const count = t.dims.reduce((a, b) => a * b, 1);
  let data;
  if (t.raw) {
    if (t.raw.length !== count * size)
      throw new Error(`raw_data has ${t.raw.length} bytes, expected ${count * size}`);
    const copy = new Uint8Array(t.raw.length);   // aligned copy
    copy.set(t.raw);
    data = new Arr(copy.buffer);
  } else if (t.dataType === 1) data = Float32Array.from(t.floats);
  else if (t.dataType === 11) data = Float64Array.from(t.doubles);
  else if (t.dataType === 7) data = BigInt64Array.from(t.int64s.map(BigInt));
  else if ([2, 3, 4, 5, 6, 9, 10].includes(t.dataType)) data = Arr.from(t.int32s);
  else throw new Error('no data for TensorProto ' + t.name);
  if (data.length !== count) throw new Error(`tensor ${t.name}: ${data.length} values for dims [${t.dims}]`);
  return { name: t.name, dims: t.dims, dataType: t.dataType, data };
}

// ---- measurement ----------------------------------------------------------------

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
  let threads = 1, runs = 10, warmup = 1, maxTime = 10, spin = true;
  const pos = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--threads') threads = Number(args[++i]);
    else if (args[i] === '--runs') runs = Number(args[++i]);
    else if (args[i] === '--warmup') warmup = Number(args[++i]);
    else if (args[i] === '--max-time') maxTime = Number(args[++i]);
    else if (args[i] === '--no-spin') spin = false;
    else pos.push(args[i]);
  }
  if (pos.length !== 2) {
    console.error('usage: node bench/ort_bench.js MODEL.onnx DATA_DIR [--threads N] [--runs N] [--warmup N] [--max-time SEC]');
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
  console.log(JSON.stringify(out));
}

main().catch((e) => { console.error('ort_bench.js: ' + (e && e.stack || e)); process.exit(1); });
