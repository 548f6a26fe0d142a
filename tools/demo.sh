#!/bin/sh
# make demo: every zoo model run by onyx, with the figures people compare:
# file size, parameters, input shape, load time, median latency and peak RSS
# (onyx profile, test set 0's input), and parity against ONNX Runtime over all
# test sets (worst cosine, verdict).
set -u
ONYX=${1:-build/onyx}
ZOO=${ZOO:-models/zoo}
printf '%-24s %8s %11s %-18s %8s %10s %8s %13s %s\n' model "size MB" params input "load ms" "median ms" "RSS MB" "worst cosine" parity
for dir in "$ZOO"/*/; do
    name=$(basename "$dir")
    [ -f "$dir/model.onnx" ] || continue
    prof=$("$ONYX" profile "$dir/model.onnx" --runs 3 --max-time 20 --format json --quiet 2>/dev/null)
    row=$(echo "$prof" | /usr/bin/python3 -c '
import json, sys
try:
    d = json.load(sys.stdin)
    shape = d["inputs"].split()[1] if " " in d["inputs"] else "?"
    print("%.1f %d %s %.0f %.1f %.0f" % (d["file_bytes"] / 1e6, d["params"], shape, d["load_ms"], d["median_ms"], d["peak_rss_mb"]))
except Exception:
    print("? ? ? ? ? ?")')
    out=$("$ONYX" verify "$dir/model.onnx" "$dir" --cosine 0.99999 --abs-scaled 3e-4 2>&1)
    rc=$?
    worst=$(echo "$out" | grep -o 'cosine=[0-9.]*' | cut -d= -f2 | sort -n | head -1)
    [ $rc = 0 ] && verdict=PASS || verdict=FAIL
    set -- $row
    printf '%-24s %8s %11s %-18s %8s %10s %8s %13s %s\n' "$name" "$1" "$2" "$3" "$4" "$5" "$6" "${worst:-?}" "$verdict"
done
echo
echo "median ms: onyx profile, 3 runs after a warm-up, all cores; parity: every output of every"
echo "test set within cosine >= 0.99999 and max abs error <= 3e-4 x max|ref| of ONNX Runtime 1.23.2."
echo "Side by side with ONNX Runtime: make bench."
