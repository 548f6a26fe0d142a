// tensor_pb.js - what the ONNX Runtime scripts share: finding onnxruntime-node
// (NODE_PATH, or ONYX_NPM_DIR, default ~/.cache/onyx/npm where models/build_zoo.sh
// installs it) and reading/writing ONNX TensorProto files (the test-data layout's
// input_K.pb / output_K.pb) with a minimal protobuf wire-format codec.
'use strict';
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

module.exports = { loadOrt, Reader, DTYPES, TYPE_CODE, decodeTensor, encodeTensor };
