#!/bin/sh
# valgrind-cli.sh: aec-encode and aec-decode under valgrind's memcheck, on a few small images with
# the tiny test model: both entropy stages, gray, gray+alpha, RGBA, an ICC profile, 16-bit and JPEG
# input, --latents, and damaged .aec files of the conformance corpus (the error paths).  Any memcheck
# error or definite leak fails the run.
# Usage: sh scripts/valgrind-cli.sh [BUILDDIR]   (default build/; a plain, non-sanitizer build)
set -e
LC_ALL=C
export LC_ALL
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
if ! command -v valgrind >/dev/null 2>&1; then
    echo "valgrind-cli: valgrind is not installed; skipped"
    exit 0
fi
if grep -q -- '-fsanitize' "$build/Makefile"; then
    echo "valgrind-cli: $build is a sanitizer build; valgrind needs a plain one" >&2
    exit 1
fi
AECIMG_MODEL=$top/tests/vectors/tiny.aecm
export AECIMG_MODEL
tmp=$(mktemp -d "${TMPDIR:-/tmp}/aec-valgrind.XXXXXX")
trap 'rm -rf "$tmp"' 0
trap 'exit 1' 1 2 15

# The tools are libtool wrappers in an uninstalled build: valgrind must run the real binary.
vg() {
    "$build/libtool" --mode=execute valgrind -q --error-exitcode=99 --leak-check=full \
        --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect "$@"
}

runs=0
failed=0
# expect STATUS TOOL ARGS...: one run under memcheck; 99 means memcheck found something.
expect() {
    e_want=$1
    shift
    runs=$((runs + 1))
    set +e
    vg "$@" >/dev/null 2>"$tmp/err"
    e_status=$?
    set -e
    if [ "$e_status" -ne "$e_want" ]; then
        failed=$((failed + 1))
        echo "FAIL (exit $e_status, expected $e_want): ${*##*/}"
        sed 's/^/  | /' "$tmp/err"
    fi
}

enc=$build/tools/aec-encode
dec=$build/tools/aec-decode
images=$top/testimages
for spec in "rgb-31x17.png zstd" "rgb-31x17.png rans" "gray-28x28.png auto" "ga-64x48.png rans" \
    "rgba-61x45.png zstd" "icc-48x32.png auto" "rgb16-64x40.png auto" "gray-40x30.pgm auto" \
    "rgb-96x64.jpg auto"; do
    set -- $spec
    [ -f "$images/$1" ] || continue
    expect 0 "$enc" -j 2 --quiet --entropy "$2" -o "$tmp/$1.$2.aec" "$images/$1"
    expect 0 "$dec" -j 2 --quiet -o "$tmp/$1.$2.png" "$tmp/$1.$2.aec"
done
# --latents: a second output, written beside the image, and left out when the decode fails.
expect 0 "$dec" -j 2 --quiet -o "$tmp/lat.png" --latents "$tmp/lat.npy" "$tmp/ga-64x48.png.rans.aec"
expect 1 "$dec" --quiet -o "$tmp/lat-err.png" --latents "$tmp/lat-err.npy" \
    "$top/tests/conformance/err-crc-payload.aec"
for f in err-crc-payload err-zstd-checksum err-rans-payload err-alph-not-zstd err-truncated-payload \
    err-model-hash err-65535x65535; do
    expect 1 "$dec" --quiet -o "$tmp/$f.png" "$top/tests/conformance/$f.aec"
done
expect 1 "$enc" --quiet -o "$tmp/trunc.aec" "$top/fuzz/corpus/fuzz_image/p7-ga.pam" # mode byte: not an image
# Many inputs, one of them failing; a folder into a folder; a target search (with decodes).
expect 1 "$enc" --quiet -o "$tmp/many/" "$images/rgb-31x17.png" "$top/fuzz/corpus/fuzz_image/p7-ga.pam" \
    "$images/gray-28x28.png"
expect 0 "$dec" --quiet -r -o "$tmp/many-png/" "$tmp/many"
expect 0 "$enc" --quiet --target-psnr 8 -o "$tmp/target.aec" "$images/rgb-31x17.png"
expect 1 "$enc" --quiet --target-size 10 -o "$tmp/target-no.aec" "$images/rgb-31x17.png"
echo "valgrind-cli: $runs runs under memcheck, $failed failed"
[ "$failed" -eq 0 ]
