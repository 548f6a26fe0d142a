#!/bin/sh
# make demo: every zoo model run by onyx, with the figures people compare.
# For each model: file size, parameters, input shape, onyx latency (median of
# the test sets' runs as `onyx verify` times them) and parity against ONNX
# Runtime (worst cosine over all outputs and test sets).
set -u
ONYX=${1:-build/onyx}
ZOO=${ZOO:-models/zoo}
printf '%-26s %9s %12s %-16s %11s %13s %s\n' model "size MB" params input "onyx s" "worst cosine" parity
for dir in "$ZOO"/*/; do
    name=$(basename "$dir")
    [ -f "$dir/model.onnx" ] || continue
    info=$("$ONYX" info "$dir/model.onnx" 2>&1)
    size=$(stat -c %s "$dir/model.onnx")
    params=$(echo "$info" | awk '/^parameters:/ {print $2}')
    shape=$(echo "$info" | awk '/^inputs:/ {getline; print $2; exit}')
    start=$(date +%s.%N)
    out=$("$ONYX" verify "$dir/model.onnx" "$dir" --cosine 0.99999 --abs-scaled 3e-4 2>&1)
    rc=$?
    secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
    sets=$(ls -d "$dir"/test_data_set_* | wc -l)
    worst=$(echo "$out" | grep -o 'cosine=[0-9.]*' | cut -d= -f2 | sort -n | head -1)
    [ $rc = 0 ] && verdict=PASS || verdict=FAIL
    printf '%-26s %9.1f %12s %-16s %11.2f %13s %s\n' "$name" "$(awk -v s="$size" 'BEGIN { print s / 1e6 }')" \
        "$params" "$shape" "$(awk -v t="$secs" -v n="$sets" 'BEGIN { print t / n }')" "${worst:-?}" "$verdict"
done
echo
echo "onyx s: wall time per test set (load + one run); parity: cosine >= 0.99999 and"
echo "max abs error <= 3e-4 x max|ref| against ONNX Runtime 1.23.2 on every output."
