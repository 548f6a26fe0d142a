#!/bin/sh
# The ONNX writer on the zoo: every model is loaded and written back by onyx,
# the rewrite must reload identically, and ONNX Runtime must run the written
# file with outputs identical to those it gave for the original.
set -u
BUILD=${1:-build}
ZOO=${ZOO:-models/zoo}
tool=$BUILD/tests/rewrite_model
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
for dir in "$ZOO"/*/; do
    name=$(basename "$dir")
    [ -f "$dir/model.onnx" ] || continue
    mkdir -p "$tmp/$name"
    if ! "$tool" "$dir/model.onnx" "$tmp/$name/model.onnx" >/dev/null; then
        fail=$((fail + 1)); echo "FAIL $name: rewrite"; continue
    fi
    for set in "$dir"/test_data_set_*; do
        mkdir -p "$tmp/$name/$(basename "$set")"
        cp "$set"/input_*.pb "$tmp/$name/$(basename "$set")/"
    done
    if ! node models/ort_run.js "$tmp/$name/model.onnx" "$tmp/$name" >/dev/null 2>&1; then
        fail=$((fail + 1)); echo "FAIL $name: ONNX Runtime could not run the written file"; continue
    fi
    same=1
    for out in "$dir"/test_data_set_*/output_*.pb; do
        rel=${out#"$dir"}
        cmp -s "$out" "$tmp/$name/$rel" || { same=0; echo "  $name: $rel differs"; }
    done
    if [ $same = 1 ]; then pass=$((pass + 1)); echo "ok   $name: written file reloads identically, ORT outputs identical"
    else fail=$((fail + 1)); echo "FAIL $name: ORT outputs differ"; fi
    rm -rf "${tmp:?}/$name"
done
echo "roundtrip: $pass passed, $fail failed"
[ $pass -gt 0 ] && [ $fail = 0 ]
