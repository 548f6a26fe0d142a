#!/usr/bin/python3
"""Builds the onyx model zoo: seeded PyTorch models -> ONNX + test data.

    /usr/bin/python3 models/zoo.py list
    /usr/bin/python3 models/zoo.py build --out DIR [--only a,b] [--force] [--strict]
    /usr/bin/python3 models/zoo.py report DIR

`build` writes, for every model NAME that is not complete yet:

    DIR/NAME/model.onnx
    DIR/NAME/test_data_set_N/input_K.pb        inputs (TensorProto, named after the model inputs)
    DIR/NAME/test_data_set_N/output_K.pb       reference outputs from ONNX Runtime (models/ort_run.js)
    DIR/NAME/test_data_set_N/torch_output_K.pb PyTorch's own outputs for the same inputs
    DIR/NAME/meta.json                         sizes, shapes, op histogram, torch-vs-ORT metrics
    DIR/NAME/.complete                         written last: a dir without it is rebuilt

and then DIR/report.md (one table of all models). Every model is built from a
fixed seed (crc32 of its name) in eval mode; torchvision weights are never
downloaded. BatchNorm layers get non-trivial statistics and affine params
(see randomize_batchnorm) so that a wrong BN fold shows in the outputs.

Use Debian's /usr/bin/python3 (python3-torch 1.13, python3-torchvision 0.14,
python3-onnx). ONNX Runtime comes from npm (onnxruntime-node), installed by
models/build_zoo.sh; this script runs `node models/ort_run.js`.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True   # no __pycache__ next to the sources

MARKER = ".complete"


def seed_of(name):
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


# ---------------------------------------------------------------------------
# Model table
# ---------------------------------------------------------------------------
# arch:    ("torchvision", fn) | ("arch", module, build kwargs)
# inputs:  [(name, distribution)]; distributions are handled in make_inputs
# sets:    one list of input shapes per test_data_set
# bn:      "keep"  -> export with TrainingMode.PRESERVE on the eval model, so
#                     BatchNormalization stays in the graph (onyx must fold it)
#          "fold"  -> torch's default eval export (BN folded into Conv by torch)
# dynamic: axis names per input/output name

IMG224 = [[(1, 3, 224, 224)], [(2, 3, 224, 224)]]
BATCH = {0: "batch"}


def _classifier(name, arch, opset, bn):
    return dict(name=name, arch=arch, opset=opset, bn=bn, logit_std=2.0,
                inputs=[("input", "normal")], outputs=["logits"], sets=IMG224,
                dynamic={"input": BATCH, "logits": BATCH})


def _dinov2(variant, size, dynamic_hw=False, sets=None):
    name = "dinov2_%s%s" % (variant, "" if size == 224 else "_%s" % size)
    if dynamic_hw:
        name = "dinov2_%s_dynhw" % variant
    if sets is None:
        sets = [[(1, 3, size, size)], [(2, 3, size, size)]] if size == 224 else [[(1, 3, size, size)]]
    dyn_in = {0: "batch", 2: "height", 3: "width"} if dynamic_hw else BATCH
    return dict(name=name, arch=("arch", "dinov2",
                                 dict(variant=variant, return_patch_tokens=True, dynamic_hw=dynamic_hw)),
                opset=17, bn="none", inputs=[("input", "normal")], outputs=["cls", "patch_tokens"],
                sets=sets, dynamic={"input": dyn_in, "cls": BATCH, "patch_tokens": {0: "batch", 1: "tokens"}})


MODELS = [
    _classifier("resnet50", ("torchvision", "resnet50"), 17, "keep"),
    _classifier("resnet50_op13", ("torchvision", "resnet50"), 13, "fold"),
    _classifier("mobilenet_v2", ("torchvision", "mobilenet_v2"), 17, "keep"),
    _classifier("mobilenet_v2_op13", ("torchvision", "mobilenet_v2"), 13, "fold"),
    _classifier("efficientnet_b0", ("torchvision", "efficientnet_b0"), 17, "keep"),
    _classifier("mobilenetv4_conv_small", ("arch", "mobilenetv4", {}), 17, "keep"),
    dict(name="udnet", arch=("arch", "udnet", {}), opset=17, bn="none",
         inputs=[("input", "uniform")], outputs=["output"],
         sets=[[(1, 3, 256, 256)], [(1, 3, 512, 512)], [(1, 3, 192, 320)]],
         dynamic={"input": {0: "batch", 2: "height", 3: "width"},
                  "output": {0: "batch", 2: "height", 3: "width"}}),
    _dinov2("vits14", 224),
    _dinov2("vits14", 518),
    _dinov2("vitb14", 224),
    _dinov2("vitb14", 518),
    _dinov2("vits14", None, dynamic_hw=True,
            sets=[[(1, 3, 224, 224)], [(1, 3, 518, 518)], [(2, 3, 224, 308)]]),
    dict(name="unet328", arch=("arch", "unet328", {}), opset=17, bn="keep",
         inputs=[("input", "unet_image"), ("audio", "relu_normal")], outputs=["output"],
         sets=[[(1, 6, 320, 320), (1, 32, 16, 16)], [(2, 6, 320, 320), (2, 32, 16, 16)]],
         dynamic={"input": BATCH, "audio": BATCH, "output": BATCH}),
]
BY_NAME = {m["name"]: m for m in MODELS}


# ---------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------

class Skip(Exception):
    """The model cannot be built here (its architecture file is missing)."""


def build_module(spec):
    import torch
    torch.manual_seed(seed_of(spec["name"]))
    kind = spec["arch"][0]
    if kind == "torchvision":
        import torchvision
        model = getattr(torchvision.models, spec["arch"][1])(weights=None)
    else:
        import arch
        try:
            mod = arch.load(spec["arch"][1])
        except arch.MissingArch as e:
            raise Skip(str(e))
        model = mod.build(**spec["arch"][2])
    model.eval()
    randomize_batchnorm(model, spec)
    if spec.get("logit_std"):
        scale_classifier(model, spec)
    # an architecture may offer calibrate_output(model, *inputs) to keep its output
    # in a useful range (unet328: logits std 1.5 so the sigmoid is not saturated);
    # it runs after the BN statistics are final
    post = getattr(mod, "calibrate_output", None) if kind == "arch" else None
    if post is not None:
        calib = make_inputs(spec, [(4,) + tuple(s[1:]) for s in spec["sets"][0]], seed_of(spec["name"]) + 13)
        with torch.no_grad():
            post(model, *[torch.from_numpy(a) for a in calib])
    return model.eval()


def _bn_is_default(m):
    import torch
    return (torch.all(m.running_mean == 0) and torch.all(m.running_var == 1)
            and torch.all(m.weight == 1) and torch.all(m.bias == 0))


def randomize_batchnorm(model, spec):
    """Non-trivial BN statistics that keep activations in a sane range.

    Purely random statistics (mean N(0,0.1), var U(0.5,1.5)) on a randomly
    initialised network are not enough: ResNet50's logits reach ~1e3 and
    MobileNetV2's become independent of the input. So: gamma ~ U(0.5,1.5),
    beta ~ N(0,0.1), running stats measured on a random calibration batch
    (BN layers in train mode, everything else in eval), then perturbed:
    mean += 0.1*sigma*N(0,1), var *= exp(U(-0.3,0.3)). Layers a builder has
    already randomised (anything but mean 0, var 1, gamma 1, beta 0) are kept.
    """
    import torch
    bns = [m for m in model.modules()
           if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.affine
           and m.track_running_stats and _bn_is_default(m)]
    if not bns:
        return
    g = torch.Generator().manual_seed(seed_of(spec["name"]) + 7)
    with torch.no_grad():
        for m in bns:
            c = m.num_features
            m.weight.copy_(torch.rand(c, generator=g) + 0.5)
            m.bias.copy_(torch.randn(c, generator=g) * 0.1)
            m.reset_running_stats()
            m.momentum = None            # cumulative average over the calibration batch
            m.train()
        calib = make_inputs(spec, [_calib_shape(s) for s in spec["sets"][0]], seed_of(spec["name"]) + 11)
        model(*[torch.from_numpy(a) for a in calib])
        for m in bns:
            c = m.num_features
            m.running_mean.add_(torch.randn(c, generator=g) * 0.1 * m.running_var.sqrt())
            m.running_var.mul_(torch.exp((torch.rand(c, generator=g) - 0.5) * 0.6))
            m.momentum = 0.1
            m.eval()
    model.eval()


def scale_classifier(model, spec):
    """Rescale the last Linear so the logits have std spec["logit_std"] on a
    calibration batch. With random weights the logit scale is arbitrary
    (EfficientNet-B0 reached std 18, max 60, so fp32 noise alone was 3e-4 and
    an atol of 1e-4 failed on ORT vs torch); a common scale makes one tolerance
    meaningful for every classifier."""
    import torch
    lin = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
    calib = make_inputs(spec, [_calib_shape(s) for s in spec["sets"][0]], seed_of(spec["name"]) + 17)
    with torch.no_grad():
        y = model(*[torch.from_numpy(a) for a in calib])
        k = spec["logit_std"] / float(y.std())
        lin.weight.mul_(k)
        lin.bias.mul_(k)


def _calib_shape(shape):
    return (8,) + tuple(shape[1:])


def make_inputs(spec, shapes, seed):
    import numpy as np
    rng = np.random.default_rng(seed)
    out = []
    for (name, dist), shape in zip(spec["inputs"], shapes):
        if dist == "normal":            # normalised image
            a = rng.standard_normal(shape, dtype=np.float32)
        elif dist == "uniform":         # [0,1) image
            a = rng.random(shape, dtype=np.float32)
        elif dist == "unet_image":      # [0,1) ref + masked current crop (UNet328.md §1)
            a = rng.random(shape, dtype=np.float32)
            a[:, 3:6, 5:310, 5:315] = 0.0
        elif dist == "relu_normal":     # 'ave' audio features: about half exact zeros
            a = np.maximum(rng.standard_normal(shape, dtype=np.float32), 0)
        else:
            raise ValueError(dist)
        out.append(np.ascontiguousarray(a, dtype=np.float32))
    return out


def export(spec, model, path):
    import torch
    args = tuple(torch.from_numpy(a) for a in make_inputs(spec, spec["sets"][0], 0))
    training = (torch.onnx.TrainingMode.PRESERVE if spec["bn"] == "keep"
                else torch.onnx.TrainingMode.EVAL)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, args, path, input_names=[n for n, _ in spec["inputs"]],
                          output_names=spec["outputs"], opset_version=spec["opset"],
                          dynamic_axes=spec["dynamic"], do_constant_folding=True,
                          training=training, export_params=True)


def op_histogram(graph):
    hist = {}

    def walk(g):
        for n in g.node:
            hist[n.op_type] = hist.get(n.op_type, 0) + 1
            for a in n.attribute:
                if a.g is not None and a.HasField("g"):
                    walk(a.g)
                for sg in a.graphs:
                    walk(sg)
    walk(graph)
    return dict(sorted(hist.items()))


def to_numpy_outputs(y):
    import torch
    if isinstance(y, torch.Tensor):
        y = (y,)
    return [t.detach().contiguous().numpy() for t in y]


def compare(ref, got):
    import numpy as np
    r = ref.astype(np.float64).ravel()
    t = got.astype(np.float64).ravel()
    nr, nt = np.linalg.norm(r), np.linalg.norm(t)
    cos = float(r @ t / (nr * nt)) if nr > 0 and nt > 0 else (1.0 if nr == nt else 0.0)
    return dict(max_abs_diff=float(np.max(np.abs(r - t))) if r.size else 0.0,
                mean_abs_diff=float(np.mean(np.abs(r - t))) if r.size else 0.0,
                max_abs_ref=float(np.max(np.abs(r))) if r.size else 0.0,
                std_ref=float(np.std(r)) if r.size else 0.0,
                cosine=cos)


def sanity(name, outs):
    """Reject outputs that would hide bugs: NaN/inf, constant or exploding."""
    import numpy as np
    for k, o in enumerate(outs):
        if not np.all(np.isfinite(o)):
            raise RuntimeError("%s: output %d has NaN/inf" % (name, k))
        s = float(np.std(o))
        if not (1e-3 < s < 1e4):
            raise RuntimeError("%s: output %d std %.3g is outside (1e-3, 1e4)" % (name, k, s))


def run_ort(model_path, out_dir):
    node = os.environ.get("NODE", "node")
    cmd = [node, os.path.join(HERE, "ort_run.js"), model_path, out_dir]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise RuntimeError("ort_run.js failed (%d):\n%s" % (p.returncode, p.stderr.strip()[-4000:]))
    return json.loads(p.stdout.strip().splitlines()[-1])


def build_one(spec, root):
    import numpy as np
    import onnx
    import torch
    from onnx import numpy_helper
    name = spec["name"]
    d = os.path.join(root, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    t0 = time.time()
    model = build_module(spec)
    t_build = time.time() - t0

    model_path = os.path.join(d, "model.onnx")
    t0 = time.time()
    export(spec, model, model_path)
    t_export = time.time() - t0
    m = onnx.load(model_path)
    onnx.checker.check_model(m)
    in_names = [i.name for i in m.graph.input]
    init_names = {i.name for i in m.graph.initializer}
    in_names = [n for n in in_names if n not in init_names]
    out_names = [o.name for o in m.graph.output]
    want_in = [n for n, _ in spec["inputs"]]
    if in_names != want_in or out_names != spec["outputs"]:
        raise RuntimeError("%s: graph inputs %s / outputs %s, expected %s / %s"
                           % (name, in_names, out_names, want_in, spec["outputs"]))

    t0 = time.time()
    sets_meta = []
    for si, shapes in enumerate(spec["sets"]):
        sd = os.path.join(d, "test_data_set_%d" % si)
        os.makedirs(sd)
        xs = make_inputs(spec, shapes, seed_of(name) * 31 + si + 1)
        for k, (x, n) in enumerate(zip(xs, want_in)):
            with open(os.path.join(sd, "input_%d.pb" % k), "wb") as f:
                f.write(numpy_helper.from_array(x, n).SerializeToString())
        with torch.no_grad():
            ys = to_numpy_outputs(model(*[torch.from_numpy(x) for x in xs]))
        sanity(name, ys)
        for k, (y, n) in enumerate(zip(ys, out_names)):
            with open(os.path.join(sd, "torch_output_%d.pb" % k), "wb") as f:
                f.write(numpy_helper.from_array(y, n).SerializeToString())
        sets_meta.append(dict(set=si, inputs={n: list(x.shape) for n, x in zip(want_in, xs)},
                              outputs={n: list(y.shape) for n, y in zip(out_names, ys)}))
    t_torch = time.time() - t0

    t0 = time.time()
    ort_info = run_ort(model_path, d)
    t_ort = time.time() - t0

    for sm in sets_meta:
        sd = os.path.join(d, "test_data_set_%d" % sm["set"])
        sm["torch_vs_ort"] = {}
        for k, n in enumerate(out_names):
            ort_t = onnx.load_tensor(os.path.join(sd, "output_%d.pb" % k))
            tor_t = onnx.load_tensor(os.path.join(sd, "torch_output_%d.pb" % k))
            if ort_t.name != n:
                raise RuntimeError("%s: output_%d.pb is named %r, expected %r" % (name, k, ort_t.name, n))
            a, b = numpy_helper.to_array(ort_t), numpy_helper.to_array(tor_t)
            if a.shape != b.shape:
                raise RuntimeError("%s set %d output %s: ORT shape %s vs torch %s"
                                   % (name, sm["set"], n, a.shape, b.shape))
            sm["torch_vs_ort"][n] = compare(a, b)
        sm["ort_ms"] = ort_info["sets"].get("test_data_set_%d" % sm["set"], {}).get("first_ms")

    params = sum(p.numel() for p in model.parameters())
    init_elems = sum(int(np.prod(i.dims)) for i in m.graph.initializer)
    meta = dict(
        name=name, opset=spec["opset"], bn=spec["bn"], seed=seed_of(name),
        logit_std=spec.get("logit_std"),
        params=params, onnx_initializer_elems=init_elems,
        file_bytes=os.path.getsize(model_path),
        inputs=want_in, outputs=out_names,
        dynamic_axes={k: {str(a): v for a, v in ax.items()} for k, ax in spec["dynamic"].items()},
        nodes=len(m.graph.node), ops=op_histogram(m.graph),
        sets=sets_meta,
        ort=dict(version=ort_info["ort"], opt=ort_info["opt"], threads=ort_info["threads"],
                 load_ms=ort_info["load_ms"]),
        torch=torch.__version__, onnx=onnx.__version__,
        seconds=dict(build=round(t_build, 2), export=round(t_export, 2),
                     torch=round(t_torch, 2), ort=round(t_ort, 2)),
    )
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    with open(os.path.join(d, MARKER), "w") as f:
        f.write("ok\n")
    return meta


def is_complete(root, name):
    return os.path.exists(os.path.join(root, name, MARKER))


def worst(meta):
    """(max abs diff, max|ref| of that output, min cosine) over sets and outputs."""
    rs = [r for s in meta["sets"] for r in s["torch_vs_ort"].values()]
    if not rs:
        return (0.0, 0.0, 1.0)
    w = max(rs, key=lambda r: r["max_abs_diff"])
    return (w["max_abs_diff"], w["max_abs_ref"], min(r["cosine"] for r in rs))


def parity_ok(meta):
    """Loose agreement check between the two references (not onyx's tolerance)."""
    for s in meta["sets"]:
        for r in s["torch_vs_ort"].values():
            if r["max_abs_diff"] > 1e-3 * max(1.0, r["max_abs_ref"]) or r["cosine"] < 0.99999:
                return False
    return True


def summary_line(meta, status):
    diff, ref, cos = worst(meta)
    return ("%-24s %-6s %6.1f MB  %d sets  torch-vs-ORT max|d| %.2e (max|ref| %.3g, cos %.8f)%s"
            % (meta["name"], status, meta["file_bytes"] / 1e6, len(meta["sets"]), diff, ref, cos,
               "" if parity_ok(meta) else "  <-- references disagree"))


def cmd_build(args):
    names = [m["name"] for m in MODELS]
    if args.only:
        want = [n.strip() for n in args.only.split(",") if n.strip()]
        bad = [n for n in want if n not in BY_NAME]
        if bad:
            sys.exit("zoo.py: unknown model(s) %s; known: %s" % (", ".join(bad), ", ".join(names)))
        names = [n for n in names if n in want]
    os.makedirs(args.out, exist_ok=True)
    if any(args.force or not is_complete(args.out, n) for n in names):
        import torch
        torch.set_num_threads(int(os.environ.get("ONYX_ZOO_THREADS", "2")))
    failed, skipped = [], []
    for n in names:
        spec = BY_NAME[n]
        if is_complete(args.out, n) and not args.force:
            with open(os.path.join(args.out, n, "meta.json")) as f:
                print(summary_line(json.load(f), "cached"), flush=True)
            continue
        t0 = time.time()
        try:
            meta = build_one(spec, args.out)
        except Skip as e:
            skipped.append(n)
            shutil.rmtree(os.path.join(args.out, n), ignore_errors=True)
            print("%-24s SKIPPED: %s" % (n, e), flush=True)
            continue
        except Exception as e:  # report and go on with the other models
            failed.append(n)
            print("%-24s FAILED: %s: %s" % (n, type(e).__name__, e), flush=True)
            continue
        print(summary_line(meta, "built") + "  [%.0f s]" % (time.time() - t0), flush=True)
    write_report(args.out)
    if failed:
        print("zoo.py: FAILED: %s" % ", ".join(failed), file=sys.stderr)
    if skipped:
        print("zoo.py: SKIPPED (architecture file missing): %s" % ", ".join(skipped), file=sys.stderr)
    return 1 if failed or (skipped and args.strict) else 0


def write_report(root):
    metas = []
    for spec in MODELS:
        p = os.path.join(root, spec["name"], "meta.json")
        if is_complete(root, spec["name"]) and os.path.exists(p):
            with open(p) as f:
                metas.append(json.load(f))
    lines = ["# onyx model zoo", "",
             "Generated by models/zoo.py. Reference outputs (`output_K.pb`) are ONNX Runtime's; "
             "`torch_output_K.pb` are PyTorch's for the same inputs. The columns compare the two "
             "references with each other (ORT taken as the reference for max|ref|).", ""]
    if metas:
        m0 = metas[0]
        lines.append("torch %s, onnx %s, onnxruntime-node %s (opt `%s`, %d threads)."
                     % (m0["torch"], m0["onnx"], m0["ort"]["version"], m0["ort"]["opt"],
                        m0["ort"]["threads"]))
        lines.append("")
    lines += ["| model | opset | BN | params | file MB | set | inputs | output | max abs diff | max abs ref | std ref | cosine | ORT ms |",
              "|---|---:|---|---:|---:|---:|---|---|---:|---:|---:|---:|---:|"]
    for m in metas:
        first = True
        for s in m["sets"]:
            shapes = " ".join("x".join(str(v) for v in sh) for sh in s["inputs"].values())
            for out, r in s["torch_vs_ort"].items():
                head = ("%s | %d | %s | %s | %.1f" % (m["name"], m["opset"], m["bn"],
                                                      "{:,}".format(m["params"]), m["file_bytes"] / 1e6)
                        if first else " | | | |")
                first = False
                lines.append("| %s | %d | %s | %s | %.2e | %.3g | %.3g | %.9f | %s |"
                             % (head, s["set"], shapes, out, r["max_abs_diff"], r["max_abs_ref"],
                                r["std_ref"], r["cosine"], s.get("ort_ms", "")))
    lines += ["", "## Operator histograms", ""]
    for m in metas:
        lines.append("- **%s** (%d nodes): %s" % (m["name"], m["nodes"],
                                                   ", ".join("%s %d" % kv for kv in m["ops"].items())))
    lines += ["", "## Build times (s)", "", "| model | build | export | torch | ORT |", "|---|---:|---:|---:|---:|"]
    for m in metas:
        s = m["seconds"]
        lines.append("| %s | %.1f | %.1f | %.1f | %.1f |" % (m["name"], s["build"], s["export"], s["torch"], s["ort"]))
    missing = [s["name"] for s in MODELS if not is_complete(root, s["name"])]
    if missing:
        lines += ["", "Not built: " + ", ".join(missing)]
    with open(os.path.join(root, "report.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="print the model names")
    b = sub.add_parser("build", help="build missing models into --out")
    b.add_argument("--out", required=True)
    b.add_argument("--only", default="", help="comma-separated model names")
    b.add_argument("--force", action="store_true", help="rebuild complete models too")
    b.add_argument("--strict", action="store_true", help="a missing architecture file is an error")
    r = sub.add_parser("report", help="rewrite DIR/report.md from the meta.json files")
    r.add_argument("dir")
    args = ap.parse_args()
    if args.cmd == "list":
        for m in MODELS:
            print(m["name"])
        return 0
    if args.cmd == "report":
        write_report(args.dir)
        print(os.path.join(args.dir, "report.md"))
        return 0
    return cmd_build(args)


if __name__ == "__main__":
    sys.exit(main())
