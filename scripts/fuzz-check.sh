#!/bin/sh
# fuzz-check.sh: a short run of every libFuzzer harness over its committed corpus (fuzz/README.md).
# Usage: FUZZ_BUILDDIR=DIR sh scripts/fuzz-check.sh, where DIR was configured with
# --enable-fuzzing CC=clang and built with make fuzz (or: make fuzz-check in DIR, which does both).
# FUZZ_SECONDS (default 10) is the fuzzing time per harness after the corpus has been replayed.
# New inputs and crash reproducers go to a temporary directory; the source tree is only read.
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
builddir=${FUZZ_BUILDDIR:-$top/build-fuzz}
seconds=${FUZZ_SECONDS:-10}
work=$(mktemp -d "${TMPDIR:-/tmp}/aec-fuzz.XXXXXX")
trap 'rm -rf "$work"' 0
trap 'exit 1' 1 2 15

status=0
for h in fuzz_decode fuzz_model fuzz_image fuzz_roundtrip; do
    bin=$builddir/fuzz/$h
    if [ ! -x "$bin" ]; then
        echo "$h: not built ($bin); run make fuzz in a build configured with --enable-fuzzing" >&2
        exit 1
    fi
    mkdir "$work/$h"
    # The first directory receives new inputs; the committed corpus is only read.
    if "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$work/$h/" "$work/$h" "$top/fuzz/corpus/$h" >"$work/$h.log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$h.log")
        corpus=$(ls "$top/fuzz/corpus/$h" | wc -l | tr -d ' ')
        echo "$h: ok, $runs runs in ${seconds} s (corpus of $corpus files replayed first)"
    else
        echo "$h: FAILED" >&2
        tail -n 60 "$work/$h.log" >&2
        status=1
    fi
done
exit $status
