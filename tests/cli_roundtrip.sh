#!/bin/sh
# cli_roundtrip.sh: end-to-end checks of aec-encode and aec-decode on the images in testimages/.
# Run by make check, which passes top_srcdir and top_builddir; exit 0 pass, 1 fail, 77 skip.
# Writes only under tests/tmp/ in the build tree, so it works from a read-only source tree.

. "${top_srcdir:-.}/tests/cli_lib.sh"
images=$srcdir_abs/testimages
require_tools "$enc" "$dec"
AECIMG_MODEL=${AECIMG_MODEL:-$srcdir_abs/models/default.aecm}
export AECIMG_MODEL
if [ ! -r "$AECIMG_MODEL" ]; then
    echo "SKIP: no model at $AECIMG_MODEL"
    exit 77
fi
make_tmp cli

# exits STATUS COMMAND...: runs COMMAND with its stderr in $tmp/last.err; true if it exits STATUS.
exits() {
    exits_want=$1
    shift
    "$@" 2>"$tmp/last.err"
    exits_got=$?
    [ "$exits_got" -eq "$exits_want" ] && return 0
    echo "  exit status $exits_got, expected $exits_want: $*" >&2
    sed 's/^/  | /' "$tmp/last.err" >&2
    return 1
}

in_tmp() { (cd "$tmp" && "$@"); }

# Two empty strings are not a match: they mean both commands failed.
same_nonempty() { [ -n "$1" ] && [ "$1" = "$2" ]; }

file_size() { wc -c <"$1" | tr -d ' '; }

# png_ihdr FILE: "WIDTH HEIGHT BIT_DEPTH COLOUR_TYPE" from the IHDR chunk, which starts at byte 16.
png_ihdr() {
    od -An -v -tu1 -j16 -N10 "$1" |
        awk '{ printf "%d %d %d %d\n", (($1*256+$2)*256+$3)*256+$4, (($5*256+$6)*256+$7)*256+$8, $9, $10 }'
}

is_png() { [ "$(od -An -tu1 -N8 "$1" | tr -s ' ' | sed 's/^ //')" = "137 80 78 71 13 10 26 10" ]; }

# expected_geometry FILE: "WIDTH HEIGHT CHANNELS" the round trip must keep.
expected_geometry() {
    case $1 in
    *.png) png_geometry "$1" ;;
    *) name_geometry "$1" ;;
    esac
}

png_geometry() {
    # shellcheck disable=SC2046 # splitting the IHDR fields into $2.. is the point
    set -- "$1" $(png_ihdr "$1")
    case $5 in 0) ch=1 ;; 2 | 3) ch=3 ;; 4) ch=2 ;; 6) ch=4 ;; *) ch=0 ;; esac
    # A tRNS chunk is transparency, which must come back as an alpha channel.
    if grep -q tRNS "$1"; then
        case $5 in 0) ch=2 ;; 2 | 3) ch=4 ;; esac
    fi
    echo "$2 $3 $ch"
}

# PNM and JPEG fixtures are named KIND-WxH.EXT, KIND gray or rgb.
name_geometry() {
    ng_base=${1##*/}
    ng_size=$(echo "$ng_base" | sed -n 's/.*-\([0-9][0-9]*\)x\([0-9][0-9]*\)\.[a-z]*$/\1 \2/p')
    case $ng_base in gray*) ch=1 ;; *) ch=3 ;; esac
    echo "$ng_size $ch"
}

# PNG colour type for a channel count: gray stays gray, alpha stays alpha.
colour_type() {
    case $1 in 1) echo 0 ;; 2) echo 4 ;; 3) echo 2 ;; 4) echo 6 ;; esac
}

info_field() { "$dec" --info "$1" 2>/dev/null | sed -n "s/^$2: //p"; }

info_geometry() {
    echo "$(info_field "$1" width) $(info_field "$1" height) $(info_field "$1" channels)"
}

# roundtrip FIXTURE: encode, check the header, decode to PNG, check size and colour type.
roundtrip() {
    rt_name=${1##*/}
    rt_aec=$tmp/$rt_name.aec
    rt_png=$tmp/$rt_name.png
    if [ ! -f "$1" ]; then
        fail "fixture $rt_name is missing"
        return
    fi
    rt_want=$(expected_geometry "$1")
    # shellcheck disable=SC2086 # $2 width, $3 height, $4 channels
    set -- "$1" $rt_want
    if ! exits 0 "$enc" -o "$rt_aec" "$1"; then
        fail "encode $rt_name"
        return
    fi
    pass "encode $rt_name"
    check "$rt_name: --info says ${2}x$3, $4 channels" test "$(info_geometry "$rt_aec")" = "$rt_want"
    if ! exits 0 "$dec" -o "$rt_png" "$rt_aec"; then
        fail "decode $rt_name"
        return
    fi
    pass "decode $rt_name"
    check "$rt_name: decoded PNG is ${2}x$3, 8-bit, colour type $(colour_type "$4")" \
        test "$(is_png "$rt_png" && png_ihdr "$rt_png")" = "$2 $3 8 $(colour_type "$4")"
}

have_jpeg=no
"$enc" --version 2>/dev/null | grep -q '^jpeg: yes$' && have_jpeg=yes

for f in kodim23.png kodim05-crop.png rgb-1x1.png rgb-1x37.png rgb-37x1.png rgb-31x17.png \
    gray-28x28.png ga-64x48.png rgba-61x45.png rgb16-64x40.png palette-trns-50x30.png gray1-33x20.png \
    interlaced-45x33.png icc-48x32.png rgb-40x30.ppm gray-40x30.pgm; do
    roundtrip "$images/$f"
done
for f in rgb-96x64.jpg gray-96x64.jpg; do
    if [ "$have_jpeg" = yes ]; then roundtrip "$images/$f"; else echo "SKIP: $f (built without JPEG)"; fi
done

k5=$images/kodim05-crop.png

# ---- messages
exits 0 "$enc" -o "$tmp/summary.aec" "$k5"
check "encode summary line on stderr" grep -Eq \
    ': [0-9]+x[0-9]+ -> [0-9]+ bytes \([0-9.]+ bpp\), q [0-9]+, effort [0-9], [0-9.]+ s, [0-9.]+ MP/s$' "$tmp/last.err"
exits 0 "$dec" -o "$tmp/summary.png" "$tmp/summary.aec"
check "decode summary line on stderr" grep -Eq \
    ': [0-9]+x[0-9]+, (1 channel|[2-4] channels) <- [0-9]+ bytes \([0-9.]+ bpp\), [0-9.]+ s, [0-9.]+ MP/s$' "$tmp/last.err"
exits 0 "$enc" --quiet -o "$tmp/quiet.aec" "$k5"
check "--quiet prints nothing" test ! -s "$tmp/last.err"
exits 0 "$enc" -v -o "$tmp/verbose.aec" "$k5"
check "-v adds the stage times" grep -q 'read .* encode .* write ' "$tmp/last.err"
exits 0 "$enc" -o "$tmp/rgb16.aec" "$images/rgb16-64x40.png"
check "16-bit input is reported as reduced" grep -q '16-bit input reduced to 8 bits' "$tmp/last.err"
check "--info keeps the source bit depth 16" test "$(info_field "$tmp/rgb16.aec" source_bit_depth)" = 16

# ---- determinism across thread counts
exits 0 "$enc" -j 1 -o "$tmp/j1.aec" "$k5"
exits 0 "$enc" -j 2 -o "$tmp/j2.aec" "$k5"
check "encode: same bytes with -j 1 and -j 2" cmp -s "$tmp/j1.aec" "$tmp/j2.aec"
exits 0 "$dec" -j 1 -o "$tmp/j1.png" "$tmp/j1.aec"
exits 0 "$dec" -j 2 -o "$tmp/j2.png" "$tmp/j1.aec"
check "decode: same bytes with -j 1 and -j 2" cmp -s "$tmp/j1.png" "$tmp/j2.png"

# ---- entropy stages: each is named in the header, all give the same pixels, the default is ctx
# (at effort 0: refinement weighs each stage's own rate, so refined files of the stages differ)
for stage in ctx rans zstd; do
    exits 0 "$enc" -q 50 -e 0 --entropy $stage -o "$tmp/e-$stage.aec" "$k5"
    check "--entropy $stage: --info names it" test "$(info_field "$tmp/e-$stage.aec" entropy | cut -d" " -f1)" = $stage
    exits 0 "$dec" -o "$tmp/e-$stage.png" "$tmp/e-$stage.aec"
done
check "ctx, rans and zstd decode to the same pixels" \
    sh -c 'cmp -s "$1/e-ctx.png" "$1/e-rans.png" && cmp -s "$1/e-ctx.png" "$1/e-zstd.png"' - "$tmp"
exits 0 "$enc" -q 50 -e 0 -o "$tmp/e-default.aec" "$k5"
check "the default stage on a photo is ctx" cmp -s "$tmp/e-default.aec" "$tmp/e-ctx.aec"
check "ctx is smaller than zstd on a photo" \
    test "$(file_size "$tmp/e-ctx.aec")" -lt "$(file_size "$tmp/e-zstd.aec")"

# ---- latent refinement: a smaller cost shows in the library tests; here, the option reaches it
exits 0 "$enc" -q 50 --refine 3 -o "$tmp/r3.aec" "$k5"
check "--refine 3 changes the file" sh -c '! cmp -s "$1/r3.aec" "$1/e-ctx.aec"' - "$tmp"
exits 0 "$dec" -o "$tmp/r3.png" "$tmp/r3.aec"
exits 0 "$enc" -q 50 -o "$tmp/default.aec" "$k5"
exits 0 "$enc" -q 50 --refine 0 -o "$tmp/r0.aec" "$k5"
check "--refine 0 is the default" cmp -s "$tmp/r0.aec" "$tmp/default.aec"

# ---- effort levels: --effort 1 is a level of refinement, which --refine overrides
exits 0 "$enc" -q 50 --effort 1 -o "$tmp/e1.aec" "$k5"
check "--effort 1 changes the file" sh -c '! cmp -s "$1/e1.aec" "$1/e-ctx.aec"' - "$tmp"
exits 0 "$enc" -q 50 -e 9 --refine 3 -o "$tmp/e9r3.aec" "$k5"
check "--refine overrides --effort" cmp -s "$tmp/e9r3.aec" "$tmp/r3.aec"
exits 0 "$enc" -q 50 --effort 3 -o "$tmp/e3.aec" "$k5"
check "the default level is --effort 3" cmp -s "$tmp/e3.aec" "$tmp/default.aec"
check "the default level refines" sh -c '! cmp -s "$1/default.aec" "$1/e-ctx.aec"' - "$tmp"
exits 0 "$dec" -o "$tmp/e1.png" "$tmp/e1.aec"

# ---- files of earlier releases decode with the installed model
for old in "$srcdir_abs"/tests/compat/*.aec; do
    exits 0 "$dec" -f -o "$tmp/compat.png" "$old"
    size=$("$dec" --info "$old" | sed -n 's/^width: //p; s/^height: //p' | tr '\n' ' ')
    check "$(basename "$old") decodes" test "$(png_ihdr "$tmp/compat.png" | cut -d' ' -f1-2) " = "$size"
    exits 0 "$dec" -v -f --model "$srcdir_abs/tests/vectors/tiny.aecm" -o "$tmp/compat-found.png" "$old"
    check "$(basename "$old") with another model loaded: the installed one it names decodes it" \
        sh -c 'grep -q "decoded with model [^ ]* (" "$1/last.err" && cmp -s "$1/compat.png" "$1/compat-found.png"' - "$tmp"
done

# ---- standard input and output
exits 0 "$enc" -q 50 -o "$tmp/file.aec" "$k5"
exits 0 "$enc" -q 50 -o - - <"$k5" >"$tmp/stdio.aec"
check "encode stdin to stdout gives the file's bytes" cmp -s "$tmp/file.aec" "$tmp/stdio.aec"
exits 0 "$dec" -o "$tmp/file.png" "$tmp/file.aec"
exits 0 "$dec" -o - - <"$tmp/file.aec" >"$tmp/stdio.png"
check "decode stdin to stdout gives the file's bytes" cmp -s "$tmp/file.png" "$tmp/stdio.png"
check "encode from stdin without -o is a usage error" exits 2 "$enc" - <"$k5"
check "--info reads stdin" same_nonempty "$("$dec" --info - <"$tmp/file.aec" | sed -n 's/^width: //p')" \
    "$(info_field "$tmp/file.aec" width)"

# ---- container forms: compact (version 2) by default, version 1 on request, the same pixels
exits 0 "$enc" -q 50 --format-version 1 -o "$tmp/file-v1.aec" "$k5"
exits 0 "$dec" -o "$tmp/file-v1.png" "$tmp/file-v1.aec"
check "--info names the container version: 2 by default" test "$(info_field "$tmp/file.aec" format_version)" = 2
check "--info names the container version: 1 with --format-version 1" \
    test "$(info_field "$tmp/file-v1.aec" format_version)" = 1
check "both forms decode to the same pixels" cmp -s "$tmp/file.png" "$tmp/file-v1.png"
check "both forms hold the same payload" \
    same_nonempty "$(info_field "$tmp/file.aec" payload_size)" "$(info_field "$tmp/file-v1.aec" payload_size)"
check "the compact form names the model by the first 8 bytes of its hash" \
    same_nonempty "$(info_field "$tmp/file.aec" model_hash)" "$(info_field "$tmp/file-v1.aec" model_hash | cut -c1-16)"
check "--format-version 3: usage error" exits 2 "$enc" --format-version 3 -o "$tmp/v3.aec" "$k5"
"$dec" -o "$tmp/nomodel.png" "$srcdir_abs/tests/conformance/err-compact-model-id.aec" 2>"$tmp/nomodel.err"
check "a compact file of a model installed nowhere: the message names the hash prefix it stores" \
    grep -q 'hash ffffffff[0-9a-f]\{8\}), which is not installed' "$tmp/nomodel.err"
exits 0 "$enc" -o "$tmp/gray.aec" "$srcdir_abs/testimages/gray-28x28.png"
overhead=$(($(wc -c <"$tmp/gray.aec") - $(info_field "$tmp/gray.aec" payload_size)))
check "a 28x28 gray file spends at most 48 bytes on its container ($overhead)" test "$overhead" -le 48

# ---- rate control
exits 0 "$enc" -q 10 -o "$tmp/q10.aec" "$k5"
exits 0 "$enc" -q 90 -o "$tmp/q90.aec" "$k5"
check "-q 10 is smaller than -q 90" test "$(file_size "$tmp/q10.aec")" -lt "$(file_size "$tmp/q90.aec")"

# ---- metadata
icc=$images/icc-48x32.png
exits 0 "$enc" -o "$tmp/icc-all.aec" "$icc"
check "the ICC profile is kept by default" test "$(info_field "$tmp/icc-all.aec" icc_size)" -gt 0
exits 0 "$dec" -o "$tmp/icc-all.png" "$tmp/icc-all.aec"
check "the decoded PNG carries the ICC profile" grep -q iCCP "$tmp/icc-all.png"
exits 0 "$enc" --metadata none -o "$tmp/icc-none.aec" "$icc"
check "--metadata none drops the ICC profile" test "$(info_field "$tmp/icc-none.aec" icc_size)" = 0

# ---- output formats and default names
magic() { head -c 2 "$1"; }
exits 0 "$dec" -o "$tmp/rgb.ppm" "$tmp/file.aec"
check "decode to .ppm writes P6" test "$(magic "$tmp/rgb.ppm")" = P6
exits 0 "$dec" -o "$tmp/gray.pgm" "$tmp/gray-28x28.png.aec"
check "decode gray to .pgm writes P5" test "$(magic "$tmp/gray.pgm")" = P5
exits 0 "$dec" -o "$tmp/rgba.pam" "$tmp/rgba-61x45.png.aec"
check "decode RGBA to .pam writes P7" test "$(magic "$tmp/rgba.pam")" = P7
exits 0 "$dec" --format pnm -o - "$tmp/file.aec" >"$tmp/stdout.pnm"
check "--format pnm on stdout writes P6" test "$(magic "$tmp/stdout.pnm")" = P6
mkdir "$tmp/names"
cp "$k5" "$tmp/names/pic.png"
check "encode without -o writes INPUT.aec" exits 0 "$enc" "$tmp/names/pic.png"
rm -f "$tmp/names/pic.png"
check "decode without -o writes INPUT.png" exits 0 "$dec" "$tmp/names/pic.aec"
check "the default output is a PNG" is_png "$tmp/names/pic.png"
check "--format pam without -o writes INPUT.pam" exits 0 "$dec" --format pam "$tmp/names/pic.aec"
check "INPUT.pam is a PAM" test "$(magic "$tmp/names/pic.pam")" = P7
cp "$k5" "$tmp/-dash.png"
check "-- ends the options" exits 0 in_tmp "$enc" -o dash.aec -- -dash.png

# ---- failures leave nothing behind: no output, no temporary file
fd=$tmp/fail
mkdir "$fd"
cp "$tmp/file.aec" "$fd/good.aec"
cp "$k5" "$fd/in.png"
good_size=$(file_size "$fd/good.aec")
flip_byte() { # FILE OFFSET: inverts one byte in place
    fb_old=$(od -An -tu1 -j"$2" -N1 "$1" | tr -d ' ')
    printf '%b' "\\0$(printf '%03o' $((255 - fb_old)))" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}
for at in 9 $((good_size / 2)) $((good_size - 1)); do
    cp "$fd/good.aec" "$fd/corrupt-$at.aec"
    flip_byte "$fd/corrupt-$at.aec" "$at"
done
head -c $((good_size / 2)) "$fd/good.aec" >"$fd/truncated.aec"
head -c 12 "$fd/good.aec" >"$fd/header-only.aec"
: >"$fd/empty.aec"
listing=$(ls -A "$fd")

# fails WHAT STATUS OUTPUT COMMAND...: COMMAND exits STATUS, OUTPUT does not exist and the
# directory holds only what it held before.
fails() {
    fails_what=$1 fails_status=$2 fails_out=$3
    shift 3
    if exits "$fails_status" "$@" >/dev/null && [ ! -e "$fails_out" ] &&
        [ "$(ls -A "$fd")" = "$listing" ]; then
        pass "$fails_what"
    else
        fail "$fails_what"
        ls -A "$fd" | sed 's/^/  now: /'
        # Start the next check clean: only temporary files are hidden here.
        rm -f "$fails_out" "$fd"/.[!.]*
    fi
}
out=$fd/out.aec
fails "unknown option: exit 2" 2 "$out" "$enc" --no-such-option -o "$out" "$fd/in.png"
fails "-q 101: exit 2" 2 "$out" "$enc" -q 101 -o "$out" "$fd/in.png"
fails "-q 5x: exit 2" 2 "$out" "$enc" -q 5x -o "$out" "$fd/in.png"
fails "-j -1: exit 2" 2 "$out" "$enc" -j -1 -o "$out" "$fd/in.png"
fails "--entropy foo: exit 2" 2 "$out" "$enc" --entropy foo -o "$out" "$fd/in.png"
fails "--refine 1001: exit 2" 2 "$out" "$enc" --refine 1001 -o "$out" "$fd/in.png"
fails "--effort 10: exit 2" 2 "$out" "$enc" --effort 10 -o "$out" "$fd/in.png"
fails "two inputs: exit 2" 2 "$out" "$enc" -o "$out" "$fd/in.png" "$fd/in.png"
fails "encode of a missing input: exit 1" 1 "$out" "$enc" -o "$out" "$fd/missing.png"
fails "encode of a non-image: exit 1" 1 "$out" "$enc" -o "$out" "$fd/good.aec"
fails "encode over the pixel limit: exit 1" 1 "$out" "$enc" --max-pixels 100 -o "$out" "$fd/in.png"
if [ "$have_jpeg" = yes ]; then
    fails "encode of a CMYK JPEG (refused): exit 1" 1 "$out" "$enc" -o "$out" "$images/cmyk-16x16.jpg"
fi
out=$fd/out.png
fails "decode: unknown option: exit 2" 2 "$out" "$dec" --bogus -o "$out" "$fd/good.aec"
fails "decode to an unknown extension: exit 2" 2 "$fd/out.xyz" "$dec" -o "$fd/out.xyz" "$fd/good.aec"
fails "decode --format foo: exit 2" 2 "$out" "$dec" --format foo -o "$out" "$fd/good.aec"
fails "decode of a missing input: exit 1" 1 "$out" "$dec" -o "$out" "$fd/missing.aec"
for at in 9 $((good_size / 2)) $((good_size - 1)); do
    fails "decode of a .aec with byte $at flipped: exit 1" 1 "$out" "$dec" -o "$out" "$fd/corrupt-$at.aec"
done
fails "decode of a truncated .aec: exit 1" 1 "$out" "$dec" -o "$out" "$fd/truncated.aec"
fails "decode of a header-only .aec: exit 1" 1 "$out" "$dec" -o "$out" "$fd/header-only.aec"
fails "decode of an empty file: exit 1" 1 "$out" "$dec" -o "$out" "$fd/empty.aec"
fails "decode of a PNG: exit 1" 1 "$out" "$dec" -o "$out" "$fd/in.png"
fails "decode over the pixel limit: exit 1" 1 "$out" "$dec" --max-pixels 100 -o "$out" "$fd/good.aec"
fails "--info of a truncated .aec: exit 1" 1 "$out" "$dec" --info "$fd/truncated.aec"

# ---- --latents: a NumPy .npy file (float32, C x H x W) beside the image, which does not change
# npy_header FILE: the header dict, after the 10-byte preamble whose last two bytes are its length.
npy_header_len() { od -An -tu1 -j8 -N2 "$1" | awk '{ print $1 + 256 * $2 }'; }
npy_header() { dd if="$1" bs=1 skip=10 count="$(npy_header_len "$1")" 2>/dev/null; }
lat=$tmp/latents
mkdir "$lat"
check "--latents: exit 0" exits 0 "$dec" -o "$lat/k5.png" --latents "$lat/k5.npy" "$tmp/file.aec"
check "--latents: the image is the one decoded without it" cmp -s "$lat/k5.png" "$tmp/file.png"
check "--latents: the .npy magic and version 1.0" \
    test "$(od -An -tx1 -N8 "$lat/k5.npy" | tr -d ' ')" = 934e554d50590100
# The compact form does not store the latent shape (it is the model's), version 1 does.
lc=$(info_field "$tmp/file-v1.aec" latent_channels)
lh=$(info_field "$tmp/file-v1.aec" latent_height)
lw=$(info_field "$tmp/file-v1.aec" latent_width)
check "--latents: little-endian float32, C order, shape ($lc, $lh, $lw) as --info of version 1 says" test \
    "$(npy_header "$lat/k5.npy" | tr -d '\n' | sed 's/ *$//')" = \
    "{'descr': '<f4', 'fortran_order': False, 'shape': ($lc, $lh, $lw), }"
npy_data=$((10 + $(npy_header_len "$lat/k5.npy")))
check "--latents: the data starts at a multiple of 64 bytes" test $((npy_data % 64)) -eq 0
check "--latents: 4 x C x H x W bytes of data" \
    test "$(file_size "$lat/k5.npy")" -eq $((npy_data + 4 * lc * lh * lw))
# The values: finite, not all zero, of the size a quantized latent has.
od -An -v -tf4 -j"$npy_data" "$lat/k5.npy" | tr -s ' ' '\n' | sed '/^$/d' >"$lat/values"
check "--latents: every value is finite and some are not zero" awk -v n=$((lc * lh * lw)) '
    /nan|inf/ { bad = 1 } $1 + 0 != 0 { nonzero++ } $1 + 0 > 1e4 || $1 + 0 < -1e4 { bad = 1 }
    END { exit !(NR == n && !bad && nonzero > 0) }' "$lat/values"
exits 0 "$dec" -o "$lat/gray.png" --latents "$lat/gray.npy" "$tmp/gray-28x28.png.aec"
check "--latents of a gray 28x28 image: shape ($lc, 2, 2)" test \
    "$(npy_header "$lat/gray.npy" | sed -n "s/.*'shape': (\([0-9, ]*\)).*/\1/p")" = "$lc, 2, 2"
check "--latents - writes the .npy to standard output" sh -c \
    '"$1" -o "$2/stdout.png" --latents - "$3" 2>/dev/null | cmp -s - "$2/k5.npy"' - "$dec" "$lat" "$tmp/file.aec"
check "--latents with --info: exit 2" exits 2 "$dec" --info --latents "$lat/x.npy" "$tmp/file.aec"
check "--latents - with -o -: exit 2" exits 2 "$dec" -o - --latents - "$tmp/file.aec"
check "--latents to the image's own path: exit 2" exits 2 "$dec" -o "$lat/same" --latents "$lat/same" "$tmp/file.aec"
# Either both outputs are written or neither.
listing=$(ls -A "$fd")
fails "--latents over an existing file without -f: exit 1, no image either" 1 "$fd/out.png" \
    "$dec" -o "$fd/out.png" --latents "$fd/empty.aec" "$fd/good.aec"
fails "--latents over the input, even with -f: exit 1, no image either" 1 "$fd/out.png" \
    "$dec" -f -o "$fd/out.png" --latents "$fd/good.aec" "$fd/good.aec"
fails "--latents of a truncated .aec: exit 1, neither output" 1 "$fd/out.npy" \
    "$dec" -o "$fd/out.png" --latents "$fd/out.npy" "$fd/truncated.aec"
fails "--latents with an image that cannot be written: exit 1, no .npy left" 1 "$fd/out.npy" \
    "$dec" -o "$fd/no-such-dir/out.png" --latents "$fd/out.npy" "$fd/good.aec"

# ---- overwriting
ow=$tmp/overwrite
mkdir "$ow"
cp "$k5" "$ow/in.png"
printf 'keep me\n' >"$ow/existing.aec"
cp "$ow/existing.aec" "$ow/existing.orig"
listing=$(ls -A "$ow")
unchanged_after() { # STATUS FILE ORIGINAL COMMAND...: exits STATUS, FILE unchanged, no temp file
    ua_status=$1 ua_file=$2 ua_orig=$3
    shift 3
    exits "$ua_status" "$@" && cmp -s "$ua_file" "$ua_orig" && [ "$(ls -A "$ow")" = "$listing" ]
}
check "existing output without -f: exit 1, file unchanged" \
    unchanged_after 1 "$ow/existing.aec" "$ow/existing.orig" "$enc" -o "$ow/existing.aec" "$ow/in.png"
check "existing output with -f is replaced" exits 0 "$enc" -f -o "$ow/existing.aec" "$ow/in.png"
check "the replaced output is a .aec" same_nonempty "$(info_field "$ow/existing.aec" width)" \
    "$(info_field "$tmp/file.aec" width)"
cp "$ow/in.png" "$ow/in.orig"
ln "$ow/in.png" "$ow/hardlink.png"
ln -s in.png "$ow/symlink.png"
listing=$(ls -A "$ow")
check "output = input, even with -f: exit 1, input unchanged" \
    unchanged_after 1 "$ow/in.png" "$ow/in.orig" "$enc" -f -o "$ow/in.png" "$ow/in.png"
check "output = input spelt differently: exit 1, input unchanged" \
    unchanged_after 1 "$ow/in.png" "$ow/in.orig" "$enc" -f -o "$ow/../overwrite/in.png" "$ow/in.png"
check "output a hard link to the input: exit 1, input unchanged" \
    unchanged_after 1 "$ow/in.png" "$ow/in.orig" "$enc" -f -o "$ow/hardlink.png" "$ow/in.png"
check "output a symlink to the input: exit 1, input unchanged" \
    unchanged_after 1 "$ow/in.png" "$ow/in.orig" "$enc" -f -o "$ow/symlink.png" "$ow/in.png"
cp "$ow/existing.aec" "$ow/existing.orig"
check "decode output = input, even with -f: exit 1, input unchanged" \
    unchanged_after 1 "$ow/existing.aec" "$ow/existing.orig" \
    "$dec" -f --format png -o "$ow/existing.aec" "$ow/existing.aec"

# ---- help and version
help_ok() { "$1" --help >"$tmp/help" && grep -q "^Usage: $2 " "$tmp/help"; }
check "aec-encode --help: exit 0, usage on stdout" help_ok "$enc" aec-encode
check "aec-decode --help: exit 0, usage on stdout" help_ok "$dec" aec-decode
"$enc" --version >"$tmp/version" 2>&1
model=$(sed -n 's/^model: //p' "$tmp/version")
check "--version names the model the files were made with" \
    same_nonempty "$model" "$(info_field "$tmp/file-v1.aec" model_name)"
check "--version says whether JPEG is compiled in" grep -Eq '^jpeg: (yes|no)$' "$tmp/version"
check "aec-decode --version names the model" \
    same_nonempty "$model" "$("$dec" --version 2>/dev/null | sed -n 's/^model: //p')"

# ---- --model NAME: an installed model by name (here the source tree's models/, as for every
# uninstalled build); a name that is neither a file nor installed is an error naming it.
if [ -f "$srcdir_abs/models/default.aecm" ]; then
    crop=$srcdir_abs/testimages/kodim05-crop.png
    "$enc" --quiet -f -q 40 --model "$srcdir_abs/models/default.aecm" -o "$tmp/by-path.aec" "$crop"
    check "--model default: the installed default model by name" \
        sh -c '"$1" --quiet -f -q 40 --model default -o "$2/by-name.aec" "$3" && cmp -s "$2/by-path.aec" "$2/by-name.aec"' \
        - "$enc" "$tmp" "$crop"
    check "--model no-such-model: exit 1" \
        exits 1 "$enc" --quiet -f --model no-such-model -o "$tmp/none.aec" "$crop"
    check "  ... the name in the error, no file" \
        sh -c 'grep -q "no-such-model" "$1/last.err" && [ ! -e "$1/none.aec" ]' - "$tmp"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
