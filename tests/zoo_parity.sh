#!/bin/sh
# Zoo parity: every model in models/zoo through `onyx verify` against ONNX
# Runtime's outputs, with the zoo's whole-tensor rule (cosine >= 0.99999 and
# max abs error <= 3e-4 x max|ref|, per output and per test set).
set -u
ONYX=${1:-build/onyx}
ZOO=${ZOO:-models/zoo}
[ -d "$ZOO" ] || { echo "zoo parity: $ZOO is missing (make zoo)"; exit 1; }
pass=0 fail=0
printf '%-26s %-6s %8s  %s\n' model result seconds detail
for dir in "$ZOO"/*/; do
    name=$(basename "$dir")
    [ -f "$dir/model.onnx" ] || continue
    start=$(date +%s.%N)
    out=$($ONYX verify "$dir/model.onnx" "$dir" --cosine 0.99999 --abs-scaled 3e-4 2>&1)
    rc=$?
    secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
    worst=$(echo "$out" | grep -o 'cosine=[0-9.]*' | sort | head -1)
    if [ $rc = 0 ]; then
        pass=$((pass + 1)); printf '%-26s %-6s %8.1f  %s\n' "$name" ok "$secs" "worst $worst"
    else
        fail=$((fail + 1)); printf '%-26s %-6s %8.1f\n' "$name" FAIL "$secs"
        echo "$out" | grep -E 'MISMATCH|onyx:' | head -5 | sed 's/^/    /'
    fi
done
echo "zoo parity: $pass passed, $fail failed"
[ $pass -gt 0 ] || { echo "zoo parity: no model found in $ZOO"; exit 1; }
[ $fail = 0 ]
