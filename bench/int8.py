#!/usr/bin/python3
"""make bench (INT8 part): every zoo model quantized by onyx, then measured three ways
on the same inputs (test_data_set_0): onyx on the FP32 model, onyx on the QDQ file
(integer kernels) and ONNX Runtime on the same QDQ file, at 1 and 2 threads.

For each model the recipe below is run through `onyx quantize ... --report FILE.json`
(seeded calibration and evaluation inputs; the report judges the quantized model as
onyx runs it against the float parent: cosine, top-1/top-5, PSNR). The QDQ files are
cached in bench/results/int8/ by (model file, recipe, onyx binary); --requantize
forces new ones. Latency as in bench/run.py: separate processes, runtimes alternated
for `rounds` rounds, the median of per-round medians (and the minimum), peak RSS from
each process. Writes bench/results/int8.json and int8.md.

  bench/int8.py [--onyx build/onyx] [--models a,b] [--threads 1,2] [--rounds N]
                [--eval N] [--requantize] [--budget SEC]
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import run as runmod  # noqa: E402  (run_json, med)

# name -> (zoo model, extra `onyx quantize` arguments)
RECIPES = [
    ("resnet50", "resnet50", ["--calib-random", "16"]),
    ("mobilenet_v2", "mobilenet_v2", ["--calib-random", "16", "--exclude",
                                      "/features/features.0/features.0.0/Conv,"
                                      "/features/features.2/conv/conv.0/conv.0.0/Conv"]),
    ("mobilenetv4_conv_small", "mobilenetv4_conv_small", ["--calib-random", "16", "--exclude", "/conv_stem/Conv"]),
    ("efficientnet_b0", "efficientnet_b0", ["--calib-random", "16", "--method", "percentile", "--percentile", "99.99"]),
    ("udnet", "udnet", ["--calib-random", "16", "--dist", "uniform01", "--shape", "input=1x3x128x128"]),
    ("dinov2_vits14", "dinov2_vits14", ["--calib-random", "8"]),
    ("dinov2_vits14_dynamic", "dinov2_vits14", ["--dynamic", "--no-bias-correction"]),
    ("unet328", "unet328", ["--calib-random", "5"]),
]


def sha(path, extra):
    h = hashlib.sha256()
    st = os.stat(path)
    h.update(("%s %d %d %s" % (path, st.st_size, int(st.st_mtime), " ".join(extra))).encode())
    return h.hexdigest()[:16]


def quantize(args, name, zoo_name, extra, out_dir):
    model = os.path.join(args.zoo, zoo_name, "model.onnx")
    key = sha(model, extra + ["eval=%d" % args.eval, sha(args.onyx, [])])
    # each QDQ file in its own directory beside the zoo's first test set, where
    # onyx profile looks for its inputs (shapes of symbolic dims included)
    mdir = os.path.join(out_dir, name)
    os.makedirs(mdir, exist_ok=True)
    data = os.path.join(mdir, "test_data_set_0")
    if not os.path.exists(data):
        os.symlink(os.path.abspath(os.path.join(args.zoo, zoo_name, "test_data_set_0")), data)
    qpath = os.path.join(mdir, "model.onnx")
    rpath = os.path.join(mdir, "report.json")
    kpath = os.path.join(mdir, "key")
    if not args.requantize and os.path.exists(qpath) and os.path.exists(rpath) and os.path.exists(kpath):
        with open(kpath) as f:
            if f.read().strip() == key:
                with open(rpath) as f:
                    return model, qpath, json.load(f), None
    evaln = args.eval if "udnet" not in name and "unet" not in name else max(1, args.eval // 2)
    cmd = [args.onyx, "quantize", model, "-o", qpath, "--report", rpath, "--eval-random", str(evaln)] + extra
    t0 = time.time()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=7200)
    if p.returncode != 0:
        return model, None, None, (p.stderr.strip().splitlines() or ["exit %d" % p.returncode])[-1][:300]
    with open(kpath, "w") as f:
        f.write(key)
    print("  quantized %s in %.0f s" % (name, time.time() - t0), flush=True)
    with open(rpath) as f:
        return model, qpath, json.load(f), None


def onyx_profile(args, model, th, runs, warmup, max_time):
    cmd = [args.onyx, "profile", model, "--format", "json", "--threads", str(th), "--runs", str(runs),
           "--warmup", str(warmup), "--max-time", str(max_time), "--quiet", "--no-peak"]
    return runmod.run_json(cmd, 1800)


def ort(model, data, th, runs, warmup, max_time):
    return runmod.run_json(["node", os.path.join(ROOT, "bench", "ort_bench.js"), model, data, "--threads", str(th),
                            "--runs", str(runs), "--warmup", str(warmup), "--max-time", str(max_time)], 1800)


def fmt(v, d=1):
    return "-" if v is None else "%.*f" % (d, v)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--onyx", default=os.path.join(ROOT, "build", "onyx"))
    ap.add_argument("--zoo", default=os.path.join(ROOT, "models", "zoo"))
    ap.add_argument("--models", default=os.environ.get("BENCH_MODELS", ""))
    ap.add_argument("--threads", default=os.environ.get("BENCH_THREADS", "1,2"))
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", "3")))
    ap.add_argument("--eval", type=int, default=int(os.environ.get("BENCH_EVAL", "100")))
    ap.add_argument("--budget", type=float, default=float(os.environ.get("BENCH_BUDGET", "1800")))
    ap.add_argument("--requantize", action="store_true")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results"))
    args = ap.parse_args()
    out_dir = os.path.join(args.out, "int8")
    os.makedirs(out_dir, exist_ok=True)
    want = args.models.split(",") if args.models else None
    threads = [int(t) for t in args.threads.split(",")]
    rows = []
    t_start = time.time()
    for name, zoo_name, extra in RECIPES:
        if want and name not in want and zoo_name not in want:
            continue
        if not os.path.isfile(os.path.join(args.zoo, zoo_name, "model.onnx")):
            continue
        if time.time() - t_start > args.budget:
            rows.append({"model": name, "skipped": "budget of %ds spent" % args.budget})
            continue
        model, qpath, rep, err = quantize(args, name, zoo_name, extra, out_dir)
        row = {"model": name, "recipe": " ".join(extra)}
        if err:
            row["error"] = err
            rows.append(row)
            print("%-24s quantize failed: %s" % (name, err), flush=True)
            continue
        row["fp32_mb"] = rep["fp32_bytes"] / 1e6
        row["int8_mb"] = rep["int8_bytes"] / 1e6
        row["size_ratio"] = rep["size_ratio"]
        row["eval_inputs"] = rep["eval_inputs"]
        row["outputs"] = rep["outputs"]
        data = os.path.join(args.zoo, zoo_name, "test_data_set_0")
        big = "unet" in name or "udnet" in name
        runs, warmup, max_time, rounds = (3, 0, 10, 1) if big else (10, 1, 5, args.rounds)
        for th in threads:
            res = {"onyx_fp32": [], "onyx_int8": [], "ort_int8": []}
            for _ in range(rounds):
                res["onyx_fp32"].append(onyx_profile(args, model, th, runs, warmup, max_time))
                res["onyx_int8"].append(onyx_profile(args, qpath, th, runs, warmup, max_time))
                res["ort_int8"].append(ort(qpath, data, th, runs, warmup, max_time))
            for side, rs in res.items():
                row["%s_%dt_ms" % (side, th)] = runmod.med(rs, "median_ms")
                row["%s_%dt_min_ms" % (side, th)] = min((r["min_ms"] for r in rs if "min_ms" in r), default=None)
                row["%s_%dt_rss_mb" % (side, th)] = runmod.med(rs, "peak_rss_mb")
                errs = [r["error"] for r in rs if "error" in r]
                if errs:
                    row["%s_%dt_error" % (side, th)] = errs[0]
            f, i, o = row["onyx_fp32_%dt_ms" % th], row["onyx_int8_%dt_ms" % th], row["ort_int8_%dt_ms" % th]
            row["int8_vs_fp32_%dt" % th] = i / f if i and f else None
            row["int8_vs_ort_%dt" % th] = i / o if i and o else None
            print("%-24s %dT onyx fp32 %8s ms  onyx int8 %8s ms  ORT int8 %8s ms  int8/fp32 %5s  int8/ORT %5s" % (
                name, th, fmt(f), fmt(i), fmt(o), fmt(row["int8_vs_fp32_%dt" % th], 2),
                fmt(row["int8_vs_ort_%dt" % th], 2)), flush=True)
        rows.append(row)
    res = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "host_cpus": os.cpu_count(), "load_average": os.getloadavg(),
           "threads": threads, "seconds": time.time() - t_start, "rows": rows}
    with open(os.path.join(args.out, "int8.json"), "w") as f:
        json.dump(res, f, indent=1)
    md = table(res)
    with open(os.path.join(args.out, "int8.md"), "w") as f:
        f.write(md)
    print()
    print(md)


def accuracy(row):
    parts = []
    for o in row.get("outputs", []):
        s = "%s cos %.4f (min %.4f)" % (o["name"], o["cosine"], o["min_cosine"])
        if "top1_agreement" in o:
            s += ", top-1 %.0f%% top-5 %.0f%%" % (100 * o["top1_agreement"], 100 * o["top5_agreement"])
        if "psnr_db" in o:
            s += ", PSNR %.1f dB" % o["psnr_db"]
        parts.append(s)
    return "; ".join(parts)


def table(res):
    th = res["threads"]
    out = ["# INT8: onyx FP32, onyx INT8 and ONNX Runtime on the same QDQ file (%s)" % res["date"], "",
           "Machine: %d CPUs, load average at the end %s. Latency: median of per-round medians, ms (minimum in "
           "parentheses), same inputs (test_data_set_0), separate processes. Accuracy: onyx INT8 vs the FP32 "
           "model on the report's seeded inputs." % (res["host_cpus"], ", ".join("%.1f" % x for x in res["load_average"])),
           ""]
    head = "| model | FP32 MB | INT8 MB | ratio |"
    sep = "|---|---:|---:|---:|"
    for t in th:
        head += " onyx FP32 %dT | onyx INT8 %dT | ORT INT8 %dT | INT8/FP32 | INT8/ORT |" % (t, t, t)
        sep += "---:|---:|---:|---:|---:|"
    head += " peak RSS MB (FP32 / INT8 / ORT INT8, 1T) | accuracy (inputs) |"
    sep += "---|---|"
    out += [head, sep]
    for r in res["rows"]:
        if "skipped" in r or "error" in r:
            out.append("| %s | %s |" % (r["model"], r.get("skipped") or r.get("error")))
            continue
        line = "| %s | %.2f | %.2f | %.3f |" % (r["model"], r["fp32_mb"], r["int8_mb"], r["size_ratio"])
        for t in th:
            cells = []
            for side in ("onyx_fp32", "onyx_int8", "ort_int8"):
                m, mn = r.get("%s_%dt_ms" % (side, t)), r.get("%s_%dt_min_ms" % (side, t))
                cells.append("%s (%s)" % (fmt(m), fmt(mn)) if m is not None else r.get("%s_%dt_error" % (side, t), "-"))
            line += " %s | %s | %s | %s | %s |" % (cells[0], cells[1], cells[2], fmt(r.get("int8_vs_fp32_%dt" % t), 2),
                                                  fmt(r.get("int8_vs_ort_%dt" % t), 2))
        line += " %s / %s / %s | %s (%d) |" % (fmt(r.get("onyx_fp32_%dt_rss_mb" % th[0]), 0),
                                               fmt(r.get("onyx_int8_%dt_rss_mb" % th[0]), 0),
                                               fmt(r.get("ort_int8_%dt_rss_mb" % th[0]), 0), accuracy(r),
                                               r.get("eval_inputs", 0))
        out.append(line)
    out.append("")
    out.append("Recipes (`onyx quantize` arguments): " + "; ".join("%s: `%s`" % (n, " ".join(e) or "-") for n, _, e in RECIPES))
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.exit(main())
