#!/bin/sh
# The graph optimizer's files on the zoo: for every model,
#   1. `onyx optimize --standard-ops` writes a file of standard ONNX ops that
#      ONNX Runtime runs, reproducing the zoo's reference outputs within the
#      zoo's rule (cosine >= 0.99999, max abs error <= 3e-4 x max|ref|), and
#   2. `onyx optimize` (fused ai.onyx ops, what `onyx verify` runs) writes a
#      file that onyx, reading it back without optimizing again, runs within
#      the same rule.
# Prints the seconds each model took (ONNX Runtime's session creation is most
# of it on the big models).
set -u
ONYX=${1:-build/onyx}
ZOO=${ZOO:-models/zoo}
[ -d "$ZOO" ] || { echo "optimized files: $ZOO is missing (make zoo)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rule="--cosine 0.99999 --abs-scaled 3e-4"
pass=0 fail=0
printf '%-26s %-6s %8s\n' model result seconds
for dir in "$ZOO"/*/; do
    name=$(basename "$dir")
    [ -f "$dir/model.onnx" ] || continue
    start=$(date +%s.%N)
    ok=1 why=""
    std="$tmp/$name/std" fused="$tmp/$name/fused"
    mkdir -p "$std" "$fused"
    for set in "$dir"/test_data_set_*; do
        mkdir -p "$std/$(basename "$set")"
        cp "$set"/input_*.pb "$std/$(basename "$set")/"
    done
    if ! out=$($ONYX optimize "$dir/model.onnx" -o "$std/model.onnx" --standard-ops 2>&1); then
        ok=0 why="onyx optimize --standard-ops: $(echo "$out" | tail -1)"
    elif ! out=$(node models/ort_run.js --threads 2 "$std/model.onnx" "$std" 2>&1); then
        ok=0 why="ONNX Runtime cannot run the standard-op file: $(echo "$out" | tail -1)"
    elif ! out=$(node tests/compare_outputs.js "$std" "$dir" $rule 2>&1); then
        ok=0 why="ONNX Runtime on the standard-op file:
$(echo "$out" | grep -E 'MISMATCH|compare_outputs' | head -5)"
    elif ! out=$($ONYX optimize "$dir/model.onnx" -o "$fused/model.onnx" 2>&1); then
        ok=0 why="onyx optimize: $(echo "$out" | tail -1)"
    elif ! out=$($ONYX verify "$fused/model.onnx" "$dir" --no-optimize $rule 2>&1); then
        ok=0 why="onyx on the fused-op file:
$(echo "$out" | grep -E 'MISMATCH|onyx:|FAIL' | head -5)"
    fi
    secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
    if [ $ok = 1 ]; then
        pass=$((pass + 1)); printf '%-26s %-6s %8.1f\n' "$name" ok "$secs"
    else
        fail=$((fail + 1)); printf '%-26s %-6s %8.1f\n' "$name" FAIL "$secs"
        echo "$why" | sed 's/^/    /'
    fi
    rm -rf "${tmp:?}/$name"
done
echo "optimized files: $pass passed, $fail failed"
[ $pass -gt 0 ] && [ $fail = 0 ]
