#!/bin/sh
# cli_score.sh: the anomaly scores: aec-encode --score and aec-decode --score print one parseable
# line per file whose sizes, bits and error match what is measured here (the PSNR and MSE from
# aec-decode's own output), also for many files side by side; aec-decode --rate-map writes a gray
# map of the image's size that is brighter where the image is noise; bad outputs and damaged files
# fail with no output left behind.  Exit 0 pass, 1 fail, 77 skip.

. "${top_srcdir:-.}/tests/cli_lib.sh"
require_tools "$enc" "$dec"
AECIMG_MODEL=${AECIMG_MODEL:-$srcdir_abs/models/default.aecm}
export AECIMG_MODEL
if [ ! -r "$AECIMG_MODEL" ]; then
    echo "SKIP: no model at $AECIMG_MODEL"
    exit 77
fi
make_tmp score

# exits WANT COMMAND...: COMMAND exits WANT; its stderr is in $tmp/err, its stdout in $tmp/out.
exits() {
    ex_want=$1
    shift
    "$@" >"$tmp/out" 2>"$tmp/err"
    ex_got=$?
    [ "$ex_got" -eq "$ex_want" ] && return 0
    echo "  exit status $ex_got, expected $ex_want: $*"
    sed 's/^/  | /' "$tmp/err"
    return 1
}
# fails DESCRIPTION STATUS COMMAND...: COMMAND exits STATUS and the listing of $tmp/o is unchanged.
fails() {
    fl_what=$1 fl_want=$2
    shift 2
    fl_before=$(ls -A "$tmp/o")
    if exits "$fl_want" "$@" && [ "$(ls -A "$tmp/o")" = "$fl_before" ] && [ -s "$tmp/err" ]; then
        pass "$fl_what"
    else
        fail "$fl_what"
        ls -A "$tmp/o" | sed 's/^/  now: /'
    fi
}
file_size() { wc -c <"$1" | tr -d ' '; }
# field LINE KEY: the value of KEY= in a score line.
field() { printf '%s\n' "$1" | tr '\t' '\n' | sed -n "s/^$2=//p"; }
# near A B TOL: |A - B| <= TOL.
near() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && b != "" && d <= t) }'; }

# The test image: the top half noise, the bottom half flat gray.
w=128 h=128
{
    printf 'P6\n%d %d\n255\n' $w $h
    head -c $((w * h / 2 * 3)) /dev/urandom
    head -c $((w * h / 2 * 3)) /dev/zero | tr '\0' '\200'
} >"$tmp/half.ppm"
mkdir "$tmp/o"

# samples FILE: the last w*h*3 bytes (the RGB samples of a P6 file) as one number per line.
samples() { tail -c $((w * h * 3)) "$1" | od -An -v -tu1 | tr -s ' ' '\n' | grep -v '^$'; }
# error A B: "MSE PSNR" of two $w x $h P6 images, measured here.
error() {
    samples "$1" >"$tmp/s1"
    samples "$2" >"$tmp/s2"
    paste "$tmp/s1" "$tmp/s2" | awk '{ d = $1 - $2; se += d * d; n++ }
        END { if (se == 0) print 0, "inf"; else printf "%.6f %.4f\n", se / n, 10 * log(255 * 255 * n / se) / log(10) }'
}

# ---- aec-encode --score: one line, the documented fields in order (at effort 0, so that the rANS
# file below holds the same symbols: refinement weighs each stage's own rate)
check "aec-encode --score: exit 0" exits 0 "$enc" -e 0 --score -o "$tmp/half.aec" "$tmp/half.ppm"
line=$(cat "$tmp/out")
check "  ... one line on standard output" test "$(wc -l <"$tmp/out")" -eq 1
check "  ... keys in order: score file width height bytes bpp payload_bits ideal_bits mse psnr" test \
    "$(printf '%s\n' "$line" | tr '\t' '\n' | sed 's/=.*//' | tr '\n' ' ')" = \
    "score file width height bytes bpp payload_bits ideal_bits mse psnr "
size=$(file_size "$tmp/half.aec")
check "  ... file, width, height as given" test "$(field "$line" file) $(field "$line" width) $(field "$line" height)" = "$tmp/half.ppm $w $h"
check "  ... bytes: the file's size ($size)" test "$(field "$line" bytes)" = "$size"
check "  ... bpp: 8 x bytes / pixels" near "$(field "$line" bpp)" "$(awk -v s="$size" "BEGIN { printf \"%.6f\", 8 * s / ($w * $h) }")" 0.000001
payload=$("$dec" --info "$tmp/half.aec" | sed -n 's/^payload_size: //p')
check "  ... payload_bits: 8 x --info's payload_size" test "$(field "$line" payload_bits)" = $((8 * payload))
# The ctx stage adapts its tables (on this image it spends some 7% less than the static ideal).
check "  ... ideal_bits within 15% of the ctx payload's" near "$(field "$line" ideal_bits)" $((8 * payload)) $((8 * payload * 15 / 100))
"$enc" --quiet -e 0 --entropy rans --score -o "$tmp/rans.aec" "$tmp/half.ppm" >"$tmp/rans.score" || fail "--entropy rans --score"
rline=$(cat "$tmp/rans.score")
check "  ... the same ideal_bits with --entropy rans" test "$(field "$rline" ideal_bits)" = "$(field "$line" ideal_bits)"
check "  ... which rans spends but for its states: ideal <= payload <= ideal + 1% + 512" awk \
    -v i="$(field "$rline" ideal_bits)" -v p="$(field "$rline" payload_bits)" 'BEGIN { exit !(p >= i && p <= i * 1.01 + 512) }'

"$dec" --quiet -o "$tmp/half-dec.ppm" "$tmp/half.aec" || fail "aec-decode of the file"
set -- $(error "$tmp/half.ppm" "$tmp/half-dec.ppm")
check "  ... mse as measured from aec-decode's output ($1)" near "$(field "$line" mse)" "$1" 0.00001
check "  ... psnr as measured from aec-decode's output ($2 dB)" near "$(field "$line" psnr)" "$2" 0.0002

# ---- aec-decode --score: the bits side, the same numbers
check "aec-decode --score: exit 0" exits 0 "$dec" --score -o "$tmp/o/half.png" "$tmp/half.aec"
dline=$(cat "$tmp/out")
check "  ... one line: score file width height bytes bpp payload_bits ideal_bits" test \
    "$(printf '%s\n' "$dline" | tr '\t' '\n' | sed 's/=.*//' | tr '\n' ' ')" = \
    "score file width height bytes bpp payload_bits ideal_bits "
check "  ... the encoder's sizes and bits" test "$(printf '%s\n' "$dline" | cut -f3-8)" = "$(printf '%s\n' "$line" | cut -f3-8)"
rm -f "$tmp/o/half.png"

# ---- many inputs side by side: whole lines, one per file
mkdir "$tmp/many"
for i in 1 2 3 4 5 6; do cp "$tmp/half.ppm" "$tmp/many/in$i.ppm"; done
check "--score --jobs 3 of 6 files: exit 0" exits 0 "$enc" -e 0 --score --jobs 3 -j 1 "$tmp/many"
check "  ... 6 lines of 10 fields, one per file" test "$(awk -F'\t' 'NF == 10 && $1 == "score"' "$tmp/out" |
    sed 's/.*file=\([^\t]*\).*/\1/' | sort -u | wc -l)" -eq 6
check "  ... every line as the single file's (noise is the same)" test \
    "$(cut -f3-10 "$tmp/out" | sort -u)" = "$(printf '%s\n' "$line" | cut -f3-10)"
printf 'P6\n1 1\n255\nabc' >"$tmp/tab	name.ppm"
check 'a tab in a file name is escaped as \t' sh -c '"$1" --score -o "$2/tab.aec" "$2/tab	name.ppm" 2>/dev/null |
    cut -f2 | grep -qx "file=$2/tab\\\\tname.ppm"' - "$enc" "$tmp"

# ---- --rate-map: gray, the image's size, brighter over the noise
check "--rate-map FILE.png: exit 0" exits 0 "$dec" -o "$tmp/o/map-dec.ppm" --rate-map "$tmp/o/map.png" "$tmp/half.aec"
check "  ... the image is the one decoded without it" cmp -s "$tmp/o/map-dec.ppm" "$tmp/half-dec.ppm"
check "  ... a PNG, ${w}x$h, 8-bit gray" test "$(od -An -v -tu1 -j16 -N10 "$tmp/o/map.png" |
    awk '{ printf "%d %d %d %d", (($1*256+$2)*256+$3)*256+$4, (($5*256+$6)*256+$7)*256+$8, $9, $10 }')" = "$w $h 8 0"
check "  ... the summary names the map's mean and max" grep -q "rate map: .* ideal bits, mean .* bpp, max .* bpp at block" "$tmp/err"
check "--rate-map FILE.pgm: exit 0" exits 0 "$dec" -o "$tmp/o/pgm.png" --rate-map "$tmp/o/map.pgm" "$tmp/half.aec"
check "  ... a PGM of ${w}x$h" test "$(head -c 15 "$tmp/o/map.pgm" | tr '\n' ' ')" = "P5 $w $h 255 "
# Mean gray of the top (noise) and the bottom (flat) half.
halves=$(tail -c $((w * h)) "$tmp/o/map.pgm" | od -An -v -tu1 | tr -s ' ' '\n' | grep -v '^$' |
    awk -v half=$((w * h / 2)) '{ if (NR <= half) t += $1; else b += $1 } END { printf "%.2f %.2f", t / half, b / half }')
set -- $halves
check "  ... the noisy half is brighter than the flat half (mean $1 > 2 x $2)" awk -v t="$1" -v b="$2" 'BEGIN { exit !(t > 2 * b && t > 0) }'
check "--rate-map-scale 0: the costliest block is white" sh -c \
    '"$1" -f -o "$2/o/pgm.png" --rate-map-scale 0 --rate-map "$2/o/map.pgm" "$2/half.aec" 2>/dev/null &&
     tail -c '$((w * h))' "$2/o/map.pgm" | od -An -v -tu1 | tr -s " " "\n" | grep -qx 255' - "$dec" "$tmp"
check "--rate-map - writes the PNG to standard output" sh -c \
    '"$1" -f -o "$2/o/pgm.png" --rate-map - "$2/half.aec" 2>/dev/null | cmp -s - "$2/o/map.png"' - "$dec" "$tmp"
rm -f "$tmp/o/"*

# ---- errors: usage, bad outputs, a damaged file; nothing left behind
check "--rate-map with two inputs: exit 2" exits 2 "$dec" --rate-map "$tmp/o/m.png" "$tmp/half.aec" "$tmp/half.aec"
check "--rate-map to the image's own path: exit 2" exits 2 "$dec" -o "$tmp/o/same.png" --rate-map "$tmp/o/same.png" "$tmp/half.aec"
check "--rate-map-scale -1: exit 2" exits 2 "$dec" --rate-map-scale -1 --rate-map "$tmp/o/m.png" "$tmp/half.aec"
check "--info --rate-map: exit 2" exits 2 "$dec" --info --rate-map "$tmp/o/m.png" "$tmp/half.aec"
check "aec-decode --score -o -: exit 2" exits 2 "$dec" --score -o - "$tmp/half.aec"
check "aec-decode --score --rate-map -: exit 2" exits 2 "$dec" --score --rate-map - -o "$tmp/o/x.png" "$tmp/half.aec"
check "aec-encode --score -o -: exit 2" exits 2 "$enc" --score -o - "$tmp/half.ppm"
fails "--rate-map into a missing folder: exit 1, no image either" 1 \
    "$dec" -o "$tmp/o/out.png" --rate-map "$tmp/o/missing/m.png" "$tmp/half.aec"
: >"$tmp/o/taken.png"
fails "--rate-map over an existing file without -f: exit 1, no image either" 1 \
    "$dec" -o "$tmp/o/out.png" --rate-map "$tmp/o/taken.png" "$tmp/half.aec"
fails "--rate-map over the input, even with -f: exit 1, no image either" 1 \
    "$dec" -f -o "$tmp/o/out.png" --rate-map "$tmp/half.aec" "$tmp/half.aec"
head -c $(($(file_size "$tmp/half.aec") / 2)) "$tmp/half.aec" >"$tmp/trunc.aec"
fails "--rate-map of a truncated .aec: exit 1, neither output" 1 \
    "$dec" -o "$tmp/o/out.png" --rate-map "$tmp/o/m.png" "$tmp/trunc.aec"
fails "--score of a truncated .aec: exit 1, no line, no output" 1 \
    "$dec" --score -o "$tmp/o/out.png" "$tmp/trunc.aec"
check "  ... nothing on standard output" test ! -s "$tmp/out"
if [ "$(id -u)" != 0 ]; then
    mkdir "$tmp/o/ro" && chmod 555 "$tmp/o/ro"
    fails "--rate-map into a read-only folder: exit 1, no image either" 1 \
        "$dec" -o "$tmp/o/out.png" --rate-map "$tmp/o/ro/m.png" "$tmp/half.aec"
    chmod 755 "$tmp/o/ro"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
