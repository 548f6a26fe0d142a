#!/bin/sh
# Runs every stage of `make test`, each printing its own results, then one
# closing line that adds them up. Any failing stage fails the run.
set -u
MAKE=${MAKE:-make}
log=$(mktemp)
status=0
rc=$(mktemp)
trap 'rm -f "$log" "$rc"' EXIT
for stage in unit conformance robustness portability parity optimized cross asan fuzz; do
    echo "==== $stage"
    # a pipeline's status is tee's: the stage's own goes through a file
    { $MAKE --no-print-directory "$stage" 2>&1; echo $? > "$rc"; } | tee -a "$log"
    if [ "$(cat "$rc")" != 0 ]; then
        echo "==== $stage FAILED"
        echo "stage $stage: 0 passed, 1 failed" >> "$log"
        status=1
    fi
done
# every stage prints "N passed, N failed[, N skipped]" lines; the fuzzer counts runs
awk '/[0-9]+ passed, [0-9]+ failed/ {
        for (i = 1; i <= NF; i++) {
            if ($(i+1) ~ /^passed/) p += $i
            if ($(i+1) ~ /^failed/) f += $i
            if ($(i+1) ~ /^skipped/) s += $i
        }
     }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit $status
