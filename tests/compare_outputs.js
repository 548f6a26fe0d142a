#!/usr/bin/env node
// Compares the outputs one run wrote (GOT/test_data_set_*/output_K.pb) with
// the references (REF/test_data_set_*/output_K.pb), with the zoo's
// whole-tensor rule: per output and per test set, same dims and type, cosine
// similarity >= --cosine and max |got - ref| <= --abs-scaled x max |ref|
// (float outputs); integer and bool outputs must be equal.
//
//   node tests/compare_outputs.js GOT REF [--cosine 0.99999] [--abs-scaled 3e-4]
//
// Prints one line per output and exits 0 when every one is within the rule,
// 1 when one is not, 2 on an error (a missing or unreadable file).
'use strict';
const fs = require('fs');
const path = require('path');

const { decodeTensor } = require('../models/tensor_pb.js');

function sets(dir) {
  return fs.readdirSync(dir).filter((d) => /^test_data_set_\d+$/.test(d))
    .sort((a, b) => Number(a.split('_').pop()) - Number(b.split('_').pop()));
}

function compare(got, ref, minCos, absScaled) {
  if (got.dataType !== ref.dataType) return { ok: false, why: `type ${got.dataType}, expected ${ref.dataType}` };
  if (got.dims.join('x') !== ref.dims.join('x'))
    return { ok: false, why: `dims [${got.dims}], expected [${ref.dims}]` };
  const isFloat = [1, 10, 11].includes(ref.dataType);
  if (!isFloat || ref.dataType === 10) {
    // float16 is compared as its bits like the integers: the zoo has none
    for (let i = 0; i < ref.data.length; i++)
      if (got.data[i] !== ref.data[i]) return { ok: false, why: `element ${i} differs` };
    return { ok: true, why: 'equal' };
  }
  let dot = 0, ng = 0, nr = 0, maxAbs = 0, maxRef = 0;
  for (let i = 0; i < ref.data.length; i++) {
    const a = got.data[i], b = ref.data[i];
    if (!Number.isFinite(a) && a !== b) return { ok: false, why: `element ${i} is ${a}, expected ${b}` };
    dot += a * b;
    ng += a * a;
    nr += b * b;
    maxAbs = Math.max(maxAbs, Math.abs(a - b));
    maxRef = Math.max(maxRef, Math.abs(b));
  }
  const cos = ng === 0 && nr === 0 ? 1 : dot / Math.sqrt(ng * nr);
  const ok = cos >= minCos && maxAbs <= absScaled * maxRef;
  return { ok, why: `max_abs=${maxAbs.toExponential(2)} max|ref|=${maxRef.toPrecision(3)} cosine=${cos.toFixed(9)}` };
}

function main() {
  const args = process.argv.slice(2);
  let minCos = 0.99999, absScaled = 3e-4;
  const pos = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--cosine') minCos = Number(args[++i]);
    else if (args[i] === '--abs-scaled') absScaled = Number(args[++i]);
    else pos.push(args[i]);
  }
  if (pos.length !== 2) {
    console.error('usage: node tests/compare_outputs.js GOT REF [--cosine C] [--abs-scaled A]');
    process.exit(2);
  }
  const [gotDir, refDir] = pos;
  let bad = 0, n = 0;
  for (const set of sets(refDir)) {
    const outs = fs.readdirSync(path.join(refDir, set)).filter((f) => /^output_\d+\.pb$/.test(f)).sort();
    for (const f of outs) {
      const ref = decodeTensor(fs.readFileSync(path.join(refDir, set, f)));
      const gotPath = path.join(gotDir, set, f);
      if (!fs.existsSync(gotPath)) throw new Error(`${gotPath} is missing`);
      const r = compare(decodeTensor(fs.readFileSync(gotPath)), ref, minCos, absScaled);
      console.log(`  ${set}/${f} ${ref.name} ${r.why} ${r.ok ? 'ok' : 'MISMATCH'}`);
      n++;
      if (!r.ok) bad++;
    }
  }
  if (!n) throw new Error(`no test_data_set_*/output_*.pb in ${refDir}`);
  process.exit(bad ? 1 : 0);
}

try {
  main();
} catch (e) {
  console.error('compare_outputs.js: ' + (e && e.message || e));
  process.exit(2);
}
