#!/usr/bin/python3
"""Per-node times of one zoo model in onyx and in ONNX Runtime, side by side.

  bench/nodes.py MODEL [--threads N] [--rounds R] [--onyx build/onyx] [--all]

MODEL is a zoo name (models/zoo/MODEL/) or a path to a .onnx file with a
test_data_set_0/ beside it. Each round starts one onyx process
(`onyx profile --trace`) and one ORT process (`bench/ort_bench.js --profile`),
alternating, and each process times one run after a first run and a warm-up:
one sample per node per round and runtime. A node's figures are the minimum
and the median of its samples; the minimum says what the kernel can do, the
gap to the median how much the shared machine's noise costs it.

The two runtimes fuse differently, so nodes are paired by kind and order:
the k-th convolution of one with the k-th of the other (what a CNN's layers
are in both), then the k-th matrix product. Unpaired nodes are summed per
operator. Nothing here changes `make bench`'s figures; it says where they
come from.
"""
import argparse
import collections
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# what each runtime calls a convolution and a matrix product once fused
CONV = {"NhwcConv", "FusedConv", "Conv", "QLinearConv", "QConv", "ConvTranspose", "NhwcConvTranspose"}
MATMUL = {"MatMul", "Gemm", "FusedMatMul", "FusedGemm", "FusedLinear", "QMatMul", "MatMulNBits"}


def onyx_round(onyx, model, threads, tmp):
    trace = os.path.join(tmp, "onyx_trace.json")
    subprocess.run([onyx, "profile", model, "--threads", str(threads), "--runs", "1", "--warmup", "1",
                    "--no-peak", "--trace", trace, "--format", "json"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with open(trace) as f:
        events = json.load(f)["traceEvents"]
    return [(e["name"], e["args"]["op"].split(".")[-1], e["args"].get("shapes", ""), e["dur"])
            for e in events if e.get("ph") == "X" and "op" in e.get("args", {})]


def ort_round(model, data, threads, tmp):
    prefix = os.path.join(tmp, "ort")
    for f in glob.glob(prefix + "_*.json"):
        os.remove(f)
    env = dict(os.environ)
    env.setdefault("NODE_PATH", os.path.join(os.environ.get(
        "ONYX_NPM_DIR", os.path.expanduser("~/.cache/onyx/npm")), "node_modules"))
    subprocess.run(["node", os.path.join(ROOT, "bench", "ort_bench.js"), model, data, "--threads", str(threads),
                    "--runs", "1", "--warmup", "1", "--profile", prefix],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    with open(glob.glob(prefix + "_*.json")[0]) as f:
        events = json.load(f)
    # the first run, the warm-up, then the timed run: keep each node's third
    seen = collections.Counter()
    out = []
    for e in events:
        if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time"):
            continue
        name = e["name"][:-len("_kernel_time")]
        seen[name] += 1
        if seen[name] == 3:
            out.append((name, e["args"].get("op_name", "?"), "", e["dur"]))
    return out


def collect(rounds):
    """[(name, op, shapes, [durations])] in the first round's order."""
    order, samples, info = [], collections.defaultdict(list), {}
    for r in rounds:
        for name, op, shapes, dur in r:
            if name not in info:
                order.append(name)
                info[name] = (op, shapes)
            samples[name].append(dur)
    return [(n, info[n][0], info[n][1], samples[n]) for n in order]


def stats(v):
    return min(v), statistics.median(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--onyx", default=os.path.join(ROOT, "build", "onyx"))
    ap.add_argument("--all", action="store_true", help="every paired node, not only the 25 slowest")
    args = ap.parse_args()
    model = args.model if args.model.endswith(".onnx") else os.path.join(ROOT, "models", "zoo", args.model,
                                                                         "model.onnx")
    data = os.path.join(os.path.dirname(model), "test_data_set_0")
    if not os.path.isfile(model) or not os.path.isdir(data):
        sys.exit("nodes.py: need %s and %s" % (model, data))
    ox_rounds, ort_rounds = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.rounds):
            try:
                ox_rounds.append(onyx_round(args.onyx, model, args.threads, tmp))
                ort_rounds.append(ort_round(model, data, args.threads, tmp))
            except subprocess.CalledProcessError as e:
                sys.exit("nodes.py: %s failed: %s" % (e.cmd[0], (e.stderr or b"").decode().strip()[-300:]))
            print("\rround %d/%d" % (i + 1, args.rounds), end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    ox, ort = collect(ox_rounds), collect(ort_rounds)

    rows, paired = [], set()
    for kinds in (CONV, MATMUL):
        a = [n for n in ox if n[1] in kinds]
        b = [n for n in ort if n[1] in kinds]
        if len(a) != len(b):
            print("%d onyx and %d ORT nodes of kind %s: not paired" % (len(a), len(b), sorted(kinds)[0]))
            continue
        for x, y in zip(a, b):
            rows.append((x, y))
            paired.update([("o", x[0]), ("r", y[0])])
    print("# %s, %d thread(s), %d rounds; microseconds, min / median" % (os.path.basename(os.path.dirname(model)),
                                                                         args.threads, args.rounds))
    print()
    print("| onyx node | shapes | onyx | ORT | median ratio |")
    print("|---|---|---:|---:|---:|")
    shown = rows if args.all else sorted(rows, key=lambda r: -stats(r[0][3])[1])[:25]
    for x, y in shown:
        (a0, a1), (b0, b1) = stats(x[3]), stats(y[3])
        print("| %s | %s | %.0f / %.0f | %.0f / %.0f | %.2f |" % (x[0], x[2], a0, a1, b0, b1, a1 / b1 if b1 else 0))
    print()
    rest = collections.defaultdict(lambda: [[0.0, 0.0], [0.0, 0.0]])
    for side, nodes, tag in ((0, ox, "o"), (1, ort, "r")):
        for n in nodes:
            key = "paired" if (tag, n[0]) in paired else n[1]
            lo, med = stats(n[3])
            rest[key][side][0] += lo
            rest[key][side][1] += med
    print("| nodes | onyx min / median sum | ORT min / median sum |")
    print("|---|---:|---:|")
    for key, ((a0, a1), (b0, b1)) in sorted(rest.items(), key=lambda kv: -max(kv[1][0][1], kv[1][1][1])):
        print("| %s | %.0f / %.0f | %.0f / %.0f |" % (key, a0, a1, b0, b1))
    tot = [sum(v[s][i] for v in rest.values()) for s in (0, 1) for i in (0, 1)]
    print("| all | %.0f / %.0f | %.0f / %.0f |" % tuple(tot))


if __name__ == "__main__":
    main()
