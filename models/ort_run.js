#!/usr/bin/env node
// Reference outputs with ONNX Runtime (npm onnxruntime-node, CPU).
//
//   node models/ort_run.js [--opt all|extended|basic|disabled] [--threads N]
//                          [--repeat N] MODEL.onnx DIR
//
// For every DIR/test_data_set_*/ it reads input_K.pb (ONNX TensorProto, as
// onnx.numpy_helper.from_array writes them), runs the model and writes
// output_K.pb (TensorProto: name = the model's K-th output name, dims,
// data_type, raw_data). Inputs are fed by the TensorProto's name when it names
// a model input, else by position. With --repeat N each set is run N more
// times and the median latency is printed (the first run is not counted).
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

function varintBytes(v) {
  const out = [];
  if (v < 0) throw new Error('negative varint');
  while (v >= 128) { out.push((v % 128) | 0x80); v = Math.floor(v / 128); }
  out.push(v);
  return Buffer.from(out);
}

function lenField(field, bytes) {
  return Buffer.concat([varintBytes(field * 8 + 2), varintBytes(bytes.length), bytes]);
}

// TensorProto with dims (field 1, unpacked like onnx's proto2 writer),
// data_type (2), name (8), raw_data (9)
function encodeTensor(name, dims, dataType, data) {
  const parts = [];
  for (const d of dims) parts.push(varintBytes(1 * 8 + 0), varintBytes(d));
  parts.push(varintBytes(2 * 8 + 0), varintBytes(dataType));
  parts.push(lenField(8, Buffer.from(name, 'utf8')));
  parts.push(lenField(9, Buffer.from(data.buffer, data.byteOffset, data.byteLength)));
  return Buffer.concat(parts);
}

// ---- main --------------------------------------------------------------------

function usage() {
  console.error('usage: node ort_run.js [--opt all|extended|basic|disabled] [--threads N] [--repeat N] MODEL.onnx DIR');
  process.exit(2);
}

async function main() {
  const args = process.argv.slice(2);
  let opt = 'all', threads = 2, repeat = 0;
  const pos = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--opt') opt = args[++i];
    else if (args[i] === '--threads') threads = Number(args[++i]);
    else if (args[i] === '--repeat') repeat = Number(args[++i]);
    else if (args[i].startsWith('--')) usage();
    else pos.push(args[i]);
  }
  if (pos.length !== 2) usage();
  const [modelPath, dir] = pos;
  const ort = loadOrt();
  const t0 = Date.now();
  const sess = await ort.InferenceSession.create(modelPath, {
    executionProviders: ['cpu'], graphOptimizationLevel: opt,
    intraOpNumThreads: threads, interOpNumThreads: 1,
  });
  const loadMs = Date.now() - t0;
  const sets = fs.readdirSync(dir).filter((d) => /^test_data_set_\d+$/.test(d))
    .sort((a, b) => Number(a.split('_').pop()) - Number(b.split('_').pop()));
  if (!sets.length) throw new Error('no test_data_set_* in ' + dir);
  const report = { ort: ort.env.versions.node || ort.env.versions.common, opt, threads, load_ms: loadMs, sets: {} };
  for (const set of sets) {
    const sdir = path.join(dir, set);
    const files = fs.readdirSync(sdir).filter((f) => /^input_\d+\.pb$/.test(f))
      .sort((a, b) => Number(a.match(/\d+/)[0]) - Number(b.match(/\d+/)[0]));
    const feeds = {};
    files.forEach((f, k) => {
      const t = decodeTensor(fs.readFileSync(path.join(sdir, f)));
      const name = sess.inputNames.includes(t.name) ? t.name : sess.inputNames[k];
      if (name === undefined) throw new Error(`${sdir}/${f}: the model has only ${sess.inputNames.length} inputs`);
      feeds[name] = new ort.Tensor(DTYPES[t.dataType][0], t.data, t.dims);
    });
    let t1 = process.hrtime.bigint();
    const out = await sess.run(feeds);
    const firstMs = Number(process.hrtime.bigint() - t1) / 1e6;
    const times = [];
    for (let i = 0; i < repeat; i++) {
      t1 = process.hrtime.bigint();
      await sess.run(feeds);
      times.push(Number(process.hrtime.bigint() - t1) / 1e6);
    }
    times.sort((a, b) => a - b);
    sess.outputNames.forEach((name, k) => {
      const t = out[name];
      const code = TYPE_CODE[t.type];
      if (!code) throw new Error(`output ${name}: unsupported type ${t.type}`);
      fs.writeFileSync(path.join(sdir, `output_${k}.pb`), encodeTensor(name, t.dims, code, t.data));
    });
    report.sets[set] = { first_ms: +firstMs.toFixed(2) };
    if (times.length) report.sets[set].median_ms = +times[times.length >> 1].toFixed(2);
  }
  console.log(JSON.stringify(report));
}

main().catch((e) => { console.error('ort_run.js: ' + (e && e.stack || e)); process.exit(1); });
