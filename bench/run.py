#!/usr/bin/python3
"""make bench: every zoo model in onyx and in ONNX Runtime, side by side.

For each models/zoo/NAME/ (fastest first, by the ORT latency in its meta.json) and each thread count, runs
`onyx profile --format json` and `node bench/ort_bench.js` on the same inputs
(test_data_set_0; EXTRA_SETS adds rows for other sets, such as UDnet at 512x512), each in its
own process so peak RSS does not mix,
alternating the two runtimes (onyx, ORT, onyx, ORT, ... for `rounds` rounds).
Each process loads the model, runs once (first run), warms up, then times runs.
A runtime's median is the median of its per-round medians; the ratio is
onyx/ORT (above 1: onyx is slower). Writes bench/results/latest.json and .md.

  bench/run.py [--onyx build/onyx] [--models a,b] [--threads 1,2] [--rounds N] [--budget SEC]
               [--ort-no-spin]

Rounds: 12 for models under 200 ms of ORT latency, 2 above (--rounds sets one count for all).

Models whose ONNX Runtime latency (meta.json) is above a second get two
timed runs, no warm-up and one round, so a full run stays around a quarter of an hour; when the
--budget is spent, the remaining models are listed as skipped.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# Rounds per model and thread count. A round of a model of a few ms is over in
# a fraction of a second, so one burst of the shared machine's noise can make
# a whole round: such models get more rounds (they cost little). The host
# also drifts between a fast and a slow state for seconds at a time (MobileNetV4
# at 1 thread: per-round medians of 2.2 or 2.8 ms in onyx, 2.4 or 3.1 in ORT,
# in one run), so with 6 rounds the state of two or three rounds decided a
# ratio by +-15%; 12 rounds narrow that by about a third (1 / sqrt 2).
DEFAULT_ROUNDS = 2
SMALL_ROUNDS = 12
SMALL_MS = 200

# Further test sets benchmarked as rows of their own, "NAME@SET" (the issue's
# list names UDnet at 256 and at 512: one dynamic-size file, set 1 is 512x512).
EXTRA_SETS = {"udnet": [1]}


def run_json(cmd, timeout):
    t0 = time.time()
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, text=True)
    except subprocess.TimeoutExpired:
        return {"error": "timeout after %ds" % timeout}
    if p.returncode != 0:
        return {"error": (p.stderr.strip().splitlines() or ["exit %d" % p.returncode])[-1][:300]}
    try:
        out = json.loads(p.stdout.strip().splitlines()[-1] if cmd[0] == "node" else p.stdout)
    except (ValueError, IndexError) as e:
        return {"error": "bad JSON: %s" % e}
    out["wall_s"] = time.time() - t0
    return out


def ort_latency(d, index=0):
    """ORT's latency on test_data_set_<index> as the zoo recorded it (meta.json), or None."""
    try:
        with open(os.path.join(d, "meta.json")) as f:
            return json.load(f)["sets"][index].get("ort_ms")
    except (OSError, ValueError, KeyError, IndexError):
        return None


def med(rs, key):
    vals = [r[key] for r in rs if r.get(key) is not None and "error" not in r]
    return statistics.median(vals) if vals else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--onyx", default=os.path.join(ROOT, "build", "onyx"))
    ap.add_argument("--zoo", default=os.path.join(ROOT, "models", "zoo"))
    ap.add_argument("--models", default=os.environ.get("BENCH_MODELS", ""))
    ap.add_argument("--threads", default=os.environ.get("BENCH_THREADS", "1,2"))
    env_rounds = os.environ.get("BENCH_ROUNDS")
    ap.add_argument("--rounds", type=int, default=int(env_rounds) if env_rounds else None,
                    help="rounds per model and thread count (default: %d below %d ms of ORT latency, else %d)"
                    % (SMALL_ROUNDS, SMALL_MS, DEFAULT_ROUNDS))
    ap.add_argument("--budget", type=float, default=float(os.environ.get("BENCH_BUDGET", "900")))
    ap.add_argument("--ort-no-spin", action="store_true", help="turn off ORT's intra-op spin-waiting")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results"))
    args = ap.parse_args()

    names = sorted(n for n in os.listdir(args.zoo) if os.path.isfile(os.path.join(args.zoo, n, "model.onnx")))
    if args.models:
        want = args.models.split(",")
        names = [n for n in names if n in want]
    jobs = [(n, 0) for n in names] + [(n, i) for n in names for i in EXTRA_SETS.get(n, [])
                                      if os.path.isdir(os.path.join(args.zoo, n, "test_data_set_%d" % i))]
    jobs.sort(key=lambda j: (ort_latency(os.path.join(args.zoo, j[0]), j[1]) or 1e9,
                             os.path.getsize(os.path.join(args.zoo, j[0], "model.onnx"))))
    threads = [int(t) for t in args.threads.split(",")]
    os.makedirs(args.out, exist_ok=True)

    t_start = time.time()
    peak = None
    rows = []
    for base, index in jobs:
        d = os.path.join(args.zoo, base)
        model = os.path.join(d, "model.onnx")
        data = os.path.join(d, "test_data_set_%d" % index)
        ort_ms = ort_latency(d, index)
        name, inputs = base, []
        if index:
            # onyx reads set 0 unless told: each input by name, from this set
            with open(os.path.join(d, "meta.json")) as f:
                for i, inp in enumerate(json.load(f)["inputs"]):
                    inputs += ["-i", "%s=%s" % (inp, os.path.join(data, "input_%d.pb" % i))]
            name = "%s@%d" % (base, index)
        big = ort_ms is not None and ort_ms > 1000
        rounds = args.rounds or (SMALL_ROUNDS if ort_ms is not None and ort_ms < SMALL_MS else DEFAULT_ROUNDS)
        runs, warmup, max_time, rounds = (2, 0, 5, 1) if big else (10, 1, 4, rounds)
        for th in threads:
            if time.time() - t_start > args.budget:
                rows.append({"model": name, "threads": th, "skipped": "budget of %ds spent" % args.budget})
                continue
            onyx_rs, ort_rs = [], []
            for rnd in range(rounds):
                cmd = [args.onyx, "profile", model, "--format", "json", "--threads", str(th), "--runs", str(runs),
                       "--warmup", str(warmup), "--max-time", str(max_time), "--quiet"] + inputs
                if peak is not None:
                    cmd.append("--no-peak")
                o = run_json(cmd, 1800)
                if peak is None and o.get("peak_gflops_1thread"):
                    peak = {"gflops_1thread": o["peak_gflops_1thread"], "isa": o.get("peak_isa")}
                onyx_rs.append(o)
                r = run_json(["node", os.path.join(ROOT, "bench", "ort_bench.js"), model, data, "--threads", str(th),
                              "--runs", str(runs), "--warmup", str(warmup), "--max-time", str(max_time)]
                             + (["--no-spin"] if args.ort_no_spin else []), 1800)
                ort_rs.append(r)
                if "error" in o or "error" in r:
                    break
            row = {"model": name, "threads": th, "rounds": len(onyx_rs), "onyx": onyx_rs, "ort": ort_rs}
            for side, rs in (("onyx", onyx_rs), ("ort", ort_rs)):
                for k in ("median_ms", "first_run_ms", "load_ms", "peak_rss_mb", "load_rss_mb"):
                    row["%s_%s" % (side, k)] = med(rs, k)
                errs = [r["error"] for r in rs if "error" in r]
                if errs:
                    row["%s_error" % side] = errs[0]
            if row["onyx_median_ms"] and row["ort_median_ms"]:
                row["ratio"] = row["onyx_median_ms"] / row["ort_median_ms"]
            if onyx_rs and "gflops" in onyx_rs[0]:
                row["onyx_gflops"] = statistics.median(r["gflops"] for r in onyx_rs if "gflops" in r)
            rows.append(row)
            print(line(row), flush=True)

    res = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "host_cpus": os.cpu_count(), "peak": peak,
           "ort_spinning": not args.ort_no_spin, "load_average": os.getloadavg(),
           "seconds": time.time() - t_start, "rows": rows}
    with open(os.path.join(args.out, "latest.json"), "w") as f:
        json.dump(res, f, indent=1)
    md = table(res)
    with open(os.path.join(args.out, "latest.md"), "w") as f:
        f.write(md)
    print()
    print(md)


def fmt(v, digits=1):
    return "-" if v is None else ("%.*f" % (digits, v))


def line(r):
    if "skipped" in r:
        return "%-24s %dT skipped (%s)" % (r["model"], r["threads"], r["skipped"])
    return "%-24s %dT onyx %10s ms  ort %10s ms  ratio %6s  rss %s/%s MB%s" % (
        r["model"], r["threads"], fmt(r["onyx_median_ms"]), fmt(r["ort_median_ms"]), fmt(r.get("ratio"), 2),
        fmt(r["onyx_peak_rss_mb"], 0), fmt(r["ort_peak_rss_mb"], 0),
        "  " + (r.get("onyx_error") or r.get("ort_error") or "") if ("onyx_error" in r or "ort_error" in r) else "")


def table(res):
    out = ["# onyx vs ONNX Runtime (%s)" % res["date"], ""]
    if res["peak"]:
        out.append("Machine: %d CPUs; FMA peak %.1f GFLOP/s per thread (%s loop). Full run: %.0f s." % (
            res["host_cpus"], res["peak"]["gflops_1thread"], res["peak"]["isa"], res["seconds"]))
    out.append("Same inputs (test_data_set_0; NAME@K: test_data_set_K), same thread count, separate processes, alternating runtimes; "
               "medians of per-round medians. ratio = onyx / ORT (above 1: onyx slower). ORT spin-waiting: %s. "
               "Load average at the end: %s." % ("on (default)" if res.get("ort_spinning", True) else "off",
                                                  ", ".join("%.1f" % x for x in res.get("load_average", ()))))
    out.append("")
    out.append("| model | threads | onyx ms | ORT ms | ratio | onyx GFLOP/s | onyx first ms | ORT first ms | "
               "onyx peak RSS MB | ORT peak RSS MB | onyx load ms | ORT load ms | note |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in res["rows"]:
        if "skipped" in r:
            out.append("| %s | %d | | | | | | | | | | | %s |" % (r["model"], r["threads"], r["skipped"]))
            continue
        note = "; ".join("%s: %s" % (s, r["%s_error" % s]) for s in ("onyx", "ort") if "%s_error" % s in r)
        out.append("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["model"], r["threads"], fmt(r["onyx_median_ms"]), fmt(r["ort_median_ms"]), fmt(r.get("ratio"), 2),
            fmt(r.get("onyx_gflops")), fmt(r["onyx_first_run_ms"]), fmt(r["ort_first_run_ms"]),
            fmt(r["onyx_peak_rss_mb"]), fmt(r["ort_peak_rss_mb"]), fmt(r["onyx_load_ms"]), fmt(r["ort_load_ms"]),
            note.replace("|", "/")))
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.exit(main())
