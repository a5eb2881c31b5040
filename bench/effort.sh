#!/bin/sh
# effort.sh: the encoder-effort ladder measured with aec-bench, one run per level.
#
#   sh bench/effort.sh BUILD_DIR MODEL OUT_DIR "LEVELS" IMAGE...
#
# For each level E in LEVELS, aec-bench codes the images with `aec --effort E` and JPEG and WebP
# (anchors) at qualities 0, 25, 50, 75 and 100 into OUT_DIR/eE/; OUT_DIR/summary.md then has one row
# per level: refinement iterations, mean encode time per image and per megapixel, BD-rate against
# JPEG and WebP.  Times are the library's encode at the thread count given by $THREADS (default 2).
# SUMMARY_ONLY=1 rewrites the summary from the levels' existing results.
set -e
build=$1 model=$2 out=$3 levels=$4
shift 4
threads=${THREADS:-2}
mkdir -p "$out"
for e in $levels; do
    [ -z "$SUMMARY_ONLY" ] || break
    mkdir -p "$out/e$e"
    "$build/tools/aec-bench" --model "$model" --runs 1 -j "$threads" --effort "$e" --codecs aec,jpeg,webp \
        -q 0,25,50,75,100 --out-dir "$out/e$e" "$@" >"$out/e$e/results.txt"
done
{
    echo "| effort | refinement iterations | encode s per image | s per MP | BD-rate vs JPEG | vs WebP |"
    echo "|---:|---:|---:|---:|---:|---:|"
    for e in $levels; do
        r=$out/e$e
        iterations=$(sed -n 's/^  aec .*latent refinement: \([0-9]*\) iterations.*/\1/p' "$r/results.txt")
        awk -F, -v e="$e" -v it="$iterations" '$1 == "image" && $3 == "aec" { px += $6 * $7; ms += $12; n++ }
            END { printf "| %s | %s | %.2f | %.2f | ", e, it, ms / 1000 / n, (ms / 1000) / (px / 1e6) }' "$r/results.csv"
        awk '$1 == "aec" && $2 == "jpeg" { j = $3 } $1 == "aec" && $2 == "webp" { w = $3 }
             END { printf "%s | %s |\n", j, w }' "$r/results.txt"
    done
} >"$out/summary.md"
cat "$out/summary.md"
