#!/bin/sh
# The library and CLI may link only libc and libm (and libgomp in an OpenMP build).
set -eu
fail=0
for bin in "$@"; do
    extra=$(ldd "$bin" | awk '{print $1}' | grep -vE '^(linux-vdso\.so|libc\.so|libm\.so|libgomp\.so|/lib.*/ld-linux)' || true)
    if [ -n "$extra" ]; then
        echo "FAIL $bin links more than libc/libm: $extra"
        fail=$((fail + 1))
    else
        echo "ok   $bin links only libc/libm"
    fi
done
echo "portability: $(($# - fail)) passed, $fail failed"
[ "$fail" = 0 ]
