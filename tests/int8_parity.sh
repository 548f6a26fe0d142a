#!/bin/sh
# INT8 parity: zoo models quantized by onyx, then run by onyx's integer kernels
# (the qdq_fuse pass) and by ONNX Runtime on the same QDQ file and the same
# inputs (the zoo's test sets). The two implement the same QDQ semantics with
# different rounding of intermediate values, so they must agree closely
# (cosine >= 0.995, max abs error <= 0.2 x max|ref|), and the quantized model
# must stay close to its float parent (onyx verify --parent, cosine >= 0.98).
set -u
ONYX=${1:-build/onyx}
ZOO=${ZOO:-models/zoo}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pass=0 fail=0
check() { # name, zoo model, quantize arguments...
    name=$1 model=$2
    shift 2
    dir="$ZOO/$model"
    [ -f "$dir/model.onnx" ] || return 0
    q="$TMP/$name.onnx"
    if ! $ONYX quantize "$dir/model.onnx" -o "$q" "$@" > "$TMP/$name.log" 2>&1; then
        fail=$((fail + 1)); echo "$name: quantize FAILED"; tail -3 "$TMP/$name.log"; return
    fi
    # ONNX Runtime on the QDQ file, the zoo's inputs
    ort="$TMP/$name.ort"
    for set in "$dir"/test_data_set_*; do
        mkdir -p "$ort/$(basename "$set")"
        cp "$set"/input_*.pb "$ort/$(basename "$set")/"
    done
    if ! node models/ort_run.js "$q" "$ort" > "$TMP/$name.ortlog" 2>&1; then
        fail=$((fail + 1)); echo "$name: ONNX Runtime FAILED"; tail -3 "$TMP/$name.ortlog"; return
    fi
    if out=$($ONYX verify "$q" "$ort" --cosine 0.995 --abs-scaled 0.2 2>&1); then
        pass=$((pass + 1)); echo "$name: onyx INT8 vs ORT on the QDQ file ok ($(echo "$out" | grep -o 'cosine=[0-9.]*' | sort | head -1))"
    else
        fail=$((fail + 1)); echo "$name: onyx INT8 vs ORT on the QDQ file FAILED"; echo "$out" | grep -E 'MISMATCH|onyx:' | head -3
    fi
    if out=$($ONYX verify "$q" "$dir" --parent "$dir/model.onnx" --cosine 0.98 2>&1); then
        pass=$((pass + 1)); echo "$name: onyx INT8 vs float ok ($(echo "$out" | grep -o 'cosine=[0-9.]*' | sort | head -1))"
    else
        fail=$((fail + 1)); echo "$name: onyx INT8 vs float FAILED"; echo "$out" | grep -E 'MISMATCH|onyx:' | head -3
    fi
}
check mobilenet_v2 mobilenet_v2 --calib-random 8 \
    --exclude /features/features.0/features.0.0/Conv,/features/features.2/conv/conv.0/conv.0.0/Conv
check mobilenetv4_conv_small mobilenetv4_conv_small --calib-random 8 --exclude /conv_stem/Conv
check resnet50 resnet50 --calib-random 8
check dinov2_vits14_dynamic dinov2_vits14 --dynamic --no-bias-correction
echo "int8 parity: $pass passed, $fail failed"
[ $fail = 0 ] && [ $pass -gt 0 ]
