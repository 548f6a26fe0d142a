#!/usr/bin/python3
"""ONNX conformance runner: every test of Debian's libonnx-testdata through
`onyx verify`, each in a fresh process with a timeout.

Prints a per-category table and a closing line `N passed, N failed, N skipped`.
With --expected FILE, any test listed there that does not pass is a regression
and makes the exit status 1. Tests listed in tests/conformance_skip.txt are
skipped (with the reason given there)."""
import argparse
import concurrent.futures
import os
import re
import subprocess
import sys

DATA = "/usr/share/libonnx-testdata/data"
CATEGORIES = ["node", "pytorch-converted", "pytorch-operator", "simple"]
HERE = os.path.dirname(os.path.abspath(__file__))


def read_list(path):
    """name -> reason (text after '#', may be empty)."""
    out = {}
    if not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            name, _, reason = line.partition("#")
            name = name.strip()
            if name:
                out[name] = reason.strip()
    return out


def run_one(onyx, cat, name, timeout, wrapper):
    d = os.path.join(DATA, cat, name)
    cmd = wrapper + [onyx, "verify", os.path.join(d, "model.onnx"), d]
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired:
        return cat, name, "fail", "TIMEOUT after %ds" % timeout
    err = p.stderr.decode(errors="replace").strip()
    out = p.stdout.decode(errors="replace")
    if p.returncode == 0:
        return cat, name, "pass", ""
    if p.returncode < 0 or p.returncode > 2:
        return cat, name, "fail", "CRASH (exit %d) %s" % (p.returncode, err.splitlines()[-1] if err else "")
    if p.returncode == 1:
        bad = [l.strip() for l in out.splitlines() if "MISMATCH" in l]
        return cat, name, "fail", "mismatch: " + (bad[0] if bad else "outputs differ")
    msg = err.splitlines()[0] if err else "error"
    msg = re.sub(r"^onyx: \S+: ", "", msg)
    return cat, name, "fail", msg


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--onyx", default="build/onyx")
    ap.add_argument("--filter", default="", help="regex on test names")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--timeout", type=int, default=120)
    ap.add_argument("--expected", help="list of tests that must pass")
    ap.add_argument("--write-passing", help="write the names of passing tests here")
    ap.add_argument("--report", help="write a markdown list of failures and skips")
    ap.add_argument("--wrapper", default="", help="command prefix, e.g. valgrind")
    ap.add_argument("-v", action="store_true", help="print each failure's message")
    a = ap.parse_args()

    if not os.path.isdir(DATA):
        sys.exit("conformance: %s is missing (run tests/deps.sh)" % DATA)
    skips = read_list(os.path.join(HERE, "conformance_skip.txt"))
    rx = re.compile(a.filter) if a.filter else None
    jobs, results = [], []
    for cat in CATEGORIES:
        for name in sorted(os.listdir(os.path.join(DATA, cat))):
            if rx and not rx.search(name):
                continue
            key = "%s/%s" % (cat, name)
            if key in skips:
                results.append((cat, name, "skip", skips[key]))
            else:
                jobs.append((cat, name))
    wrapper = a.wrapper.split()
    with concurrent.futures.ThreadPoolExecutor(a.jobs) as ex:
        futs = [ex.submit(run_one, a.onyx, c, n, a.timeout, wrapper) for c, n in jobs]
        for f in futs:
            results.append(f.result())

    print("%-20s %6s %6s %6s %6s %7s" % ("category", "total", "pass", "fail", "skip", "pass%"))
    tp = tf = ts = 0
    for cat in CATEGORIES:
        rs = [r for r in results if r[0] == cat]
        if not rs:
            continue
        p = sum(r[2] == "pass" for r in rs)
        f = sum(r[2] == "fail" for r in rs)
        s = sum(r[2] == "skip" for r in rs)
        tp, tf, ts = tp + p, tf + f, ts + s
        print("%-20s %6d %6d %6d %6d %6.1f%%" % (cat, len(rs), p, f, s, 100.0 * p / len(rs)))
    if a.v:
        for c, n, st, msg in sorted(results):
            if st != "pass":
                print("  %s %s/%s: %s" % (st.upper(), c, n, msg))
    if a.write_passing:
        with open(a.write_passing, "w") as f:
            for c, n, st, _ in sorted(results):
                if st == "pass":
                    f.write("%s/%s\n" % (c, n))
    if a.report:
        with open(a.report, "w") as f:
            for c, n, st, msg in sorted(results):
                if st != "pass":
                    f.write("| %s/%s | %s | %s |\n" % (c, n, st, msg.replace("|", "\\|")))
    rc = 0
    crashed = [r for r in results if r[3].startswith(("CRASH", "TIMEOUT"))]
    for c, n, _, msg in crashed:
        print("NEVER ALLOWED %s/%s: %s" % (c, n, msg))
    if crashed:
        rc = 1
    if a.expected:
        expected = read_list(a.expected)
        status = {"%s/%s" % (c, n): st for c, n, st, _ in results}
        regressed = sorted(k for k in expected if k in status and status[k] != "pass")
        newly = sorted(k for k, st in status.items() if st == "pass" and k not in expected)
        for k in regressed:
            msg = [r[3] for r in results if "%s/%s" % (r[0], r[1]) == k][0]
            print("REGRESSION %s: %s" % (k, msg))
        if newly:
            print("%d tests pass that %s does not list yet" % (len(newly), os.path.basename(a.expected)))
        if regressed:
            rc = 1
    print("%d passed, %d failed, %d skipped" % (tp, tf, ts))
    return rc


if __name__ == "__main__":
    sys.exit(main())
