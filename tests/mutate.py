#!/usr/bin/python3
"""Bounded mutation test: thousands of truncated, bit-flipped and spliced
copies of the conformance suite's models, each run through `onyx verify`
against its test's inputs in a fresh process with a timeout and a memory cap.
Every run must exit 0, 1 or 2 (2 with a message); a crash, a hang or a run
over the cap fails the test. Deterministic: a seed picks every mutation."""
import argparse
import concurrent.futures
import os
import random
import resource
import subprocess
import sys
import tempfile

DATA = "/usr/share/libonnx-testdata/data"


def mutate(rng, data):
    b = bytearray(data)
    kind = rng.randrange(5)
    if kind == 0 or len(b) < 4:
        return bytes(b[: rng.randrange(len(b) + 1)]), "truncate"
    if kind == 1:
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
        return bytes(b), "bitflip"
    if kind == 2:
        i = rng.randrange(len(b))
        b[i] = rng.choice([0x00, 0x7F, 0x80, 0xFF, 0x01])
        return bytes(b), "byte"
    if kind == 3:  # a varint made huge
        i = rng.randrange(len(b))
        b[i:i + 1] = b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"
        return bytes(b), "bigvarint"
    i, j = sorted(rng.randrange(len(b)) for _ in range(2))
    k = rng.randrange(len(b))
    return bytes(b[:k] + b[i:j] + b[k:]), "splice"


def limit(cap_mb):
    def f():
        resource.setrlimit(resource.RLIMIT_AS, (cap_mb << 20, cap_mb << 20))
    return f


def run(onyx, path, testdir, timeout, cap_mb):
    try:
        p = subprocess.run([onyx, "verify", path, testdir], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, timeout=timeout, preexec_fn=limit(cap_mb))
    except subprocess.TimeoutExpired:
        return "timeout"
    if p.returncode in (0, 1):
        return None
    if p.returncode == 2:
        return None if p.stderr.strip() else "exit 2 without a message"
    return "crash (exit %d): %s" % (p.returncode, p.stderr.decode(errors="replace")[-300:])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--onyx", default="build/onyx")
    ap.add_argument("--count", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=int, default=20)
    ap.add_argument("--cap-mb", type=int, default=2048)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    a = ap.parse_args()
    tests = []
    for cat in ["node", "pytorch-converted", "pytorch-operator", "simple"]:
        for n in sorted(os.listdir(os.path.join(DATA, cat))):
            d = os.path.join(DATA, cat, n)
            if os.path.getsize(os.path.join(d, "model.onnx")) < 200000:
                tests.append(d)
    rng = random.Random(a.seed)
    failures = []
    with tempfile.TemporaryDirectory() as tmp, concurrent.futures.ThreadPoolExecutor(a.jobs) as ex:
        futs = []
        for i in range(a.count):
            d = rng.choice(tests)
            with open(os.path.join(d, "model.onnx"), "rb") as f:
                data, kind = mutate(rng, f.read())
            path = os.path.join(tmp, "m%05d.onnx" % i)
            with open(path, "wb") as f:
                f.write(data)
            futs.append((i, d, kind, path, ex.submit(run, a.onyx, path, d, a.timeout, a.cap_mb)))
        for i, d, kind, path, fut in futs:
            why = fut.result()
            if why:
                keep = "mutant_%05d.onnx" % i
                os.makedirs("build/mutants", exist_ok=True)
                os.replace(path, os.path.join("build/mutants", keep))
                failures.append("%s (%s of %s, kept as build/mutants/%s): %s" % (i, kind, d, keep, why))
    for f in failures:
        print("FAIL mutant %s" % f)
    print("mutation: %d passed, %d failed" % (a.count - len(failures), len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
