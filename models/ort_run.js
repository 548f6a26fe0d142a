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

const { loadOrt, DTYPES, TYPE_CODE, decodeTensor, encodeTensor } = require('./tensor_pb.js');

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
