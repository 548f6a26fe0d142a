#!/usr/bin/python3
"""Smoke test of `onyx profile` on the conformance suite's models: MAC counts that can
be worked out by hand, every output format, the Chrome trace, the SVG and a sweep.

  bench/test_profile.py [--onyx build/onyx]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import xml.dom.minidom

DATA = "/usr/share/libonnx-testdata/data"

# model -> MACs worked out by hand
MACS = {
    # N*Cout*Hout*Wout * Cin/g*kh*kw = 2*6*4*4 * 2*3*2
    "pytorch-converted/test_Conv2d_groups": 2 * 6 * 4 * 4 * 2 * 3 * 2,
    # every input element meets Cout/g*kh*kw weights: 1*3*7*6 * 4*3*3
    "pytorch-converted/test_ConvTranspose2d": 3 * 7 * 6 * 4 * 3 * 3,
    # Y 4x8, K 10
    "pytorch-converted/test_Linear": 4 * 8 * 10,
    # transA: A 6x3 is [K, M]; Y 3x4, K 6
    "node/test_gemm_transposeA": 3 * 4 * 6,
    # batch 2 of 3x4 . 4x3
    "node/test_matmul_3d": 2 * 3 * 3 * 4,
}


def profile(onyx, model, *extra):
    p = subprocess.run([onyx, "profile", model, "--no-peak", "--quiet", *extra], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=300)
    if p.returncode != 0:
        raise AssertionError("%s %s: exit %d: %s" % (model, extra, p.returncode, p.stderr))
    return p.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--onyx", default="build/onyx")
    args = ap.parse_args()
    failed = 0

    def check(ok, what):
        nonlocal failed
        print("%s %s" % ("ok  " if ok else "FAIL", what))
        failed += not ok

    for name, macs in MACS.items():
        model = os.path.join(DATA, name, "model.onnx")
        d = json.loads(profile(args.onyx, model, "--format", "json", "--runs", "3"))
        check(d["macs"] == macs, "%s: %g MACs, expected %d" % (name, d["macs"], macs))
        for k in ("load_ms", "first_run_ms", "median_ms", "p90_ms", "peak_rss_mb", "load_rss_mb", "arena_mb"):
            check(k in d and (d[k] is None or d[k] >= 0), "%s: %s = %s" % (name, k, d.get(k)))
        check(d["runs"] == 3 and d["min_ms"] <= d["median_ms"] <= d["p90_ms"], "%s: runs and order" % name)

    model = os.path.join(DATA, "pytorch-converted/test_Conv2d_groups/model.onnx")
    with tempfile.TemporaryDirectory() as tmp:
        trace, svg = os.path.join(tmp, "t.json"), os.path.join(tmp, "t.svg")
        md = profile(args.onyx, model, "--trace", trace, "--svg", svg)
        check("| median" in md or "| latency |" in md, "markdown summary")
        check("## Time by operator type" in md and "| Conv |" in md, "markdown op table")
        t = json.load(open(trace))
        ev = [e for e in t["traceEvents"] if e.get("ph") == "X"]
        check(len(ev) == 1 and ev[0]["cat"] == "Conv" and ev[0]["dur"] >= 0, "chrome trace")
        xml.dom.minidom.parse(svg)
        check(True, "svg parses")
        csv = profile(args.onyx, model, "--format", "csv").split("\n\n")
        check(csv[0].startswith("model,") and csv[1].startswith("op,") and "\nConv," in csv[1], "csv")
        # a sweep needs a model with a free dim: --shape on a fixed model must fail cleanly
        p = subprocess.run([args.onyx, "profile", model, "--no-peak", "--quiet", "--shape", "0=1x4x6x5"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        check(p.returncode == 2 and "dimension" in p.stderr, "--shape that does not fit: exit 2 with a reason")
        sweep_model = os.path.join(DATA, "node/test_relu/model.onnx")
        # x is a fixed 3x4x5: 4x5 is its own size, 4x6 must come back as an error for that point only
        d = json.loads(profile(args.onyx, sweep_model, "--format", "json", "--runs", "2", "--sweep", "x=4x5,4x6"))
        sw = d["sweep"]
        check(len(sw) == 2 and sw[0]["shape"] == "3x4x5" and sw[0]["median_ms"] >= 0 and sw[0]["peak_rss_mb"] > 0,
              "sweep point runs in its own process")
        check("error" in sw[1] and "error" not in sw[0], "sweep point that does not fit reports an error")
    print("profile: %s" % ("all passed" if not failed else "%d failed" % failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
