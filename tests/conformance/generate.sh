#!/bin/sh
# generate.sh: recreates the conformance corpus in tests/conformance/ (README.md says what it is).
# Usage: sh tests/conformance/generate.sh BUILDDIR
# BUILDDIR is a configured and built tree (make and make tests/aecmut): the files are made with its
# aec-encode and the tiny test model, damaged with tests/aecmut, and the expected hashes of the
# valid ones are taken from its aec-decode.  The expected error of each invalid file is written
# here, from doc/container.md, not taken from the decoder.  Running it again gives the same files.
set -eu
LC_ALL=C
export LC_ALL

[ $# -eq 1 ] || { echo "usage: sh $0 BUILDDIR" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=$(cd "$1" && pwd)
model=$top/tests/vectors/tiny.aecm
mut=$build/tests/aecmut
for tool in "$build/tools/aec-encode" "$build/tools/aec-decode" "$mut"; do
    [ -x "$tool" ] || { echo "$tool is not built" >&2; exit 1; }
done
AECIMG_MODEL=$model
export AECIMG_MODEL
# Files come from the float32 encoder whatever the machine, so that they do not depend on it; the
# bfloat16 level's pixels are recorded beside the float32 ones (where the machine has that level).
AECIMG_CPU_MAX=avx512
export AECIMG_CPU_MAX
have_bf16=$(AECIMG_CPU_MAX=avx512bf16 "$build/tools/aec-encode" --version | grep -c 'kernels: avx512bf16' || true)
[ "$have_bf16" = 1 ] || echo "warning: no avx512bf16 level here: PIXELS-BF16 left '-' (unchecked)" >&2

tmp=$(mktemp -d "${TMPDIR:-/tmp}/aec-conformance.XXXXXX")
trap 'rm -rf "$tmp"' 0
trap 'exit 1' 1 2 15

rm -f "$here"/*.aec
manifest=$tmp/MANIFEST
cat >"$manifest" <<'HEAD'
# The conformance corpus: one line per file (tests/conformance/README.md).
# FILE  EXPECT  WIDTH HEIGHT CHANNELS  PIXELS-SHA256  PIXELS-BF16-SHA256  ICC-SHA256  WHAT
# EXPECT is "ok" or the AECIMG_ERR_* name aecimg_decode must return.  PIXELS-SHA256 is the SHA-256
# of the decoded pixels (rows top to bottom, channels interleaved, 8 bits), identical at every float32
# CPU kernel level (c, avx2, avx512); PIXELS-BF16-SHA256 that at the bfloat16 level (avx512bf16), "-"
# for unchecked; ICC-SHA256 that of the decoded ICC profile, "-" for none.  Made by generate.sh.
HEAD

# Files are in the container form $form: version 1, which the chunk edits of aecmut need, unless said.
form=1
enc() { "$build/tools/aec-encode" --quiet -f --format-version "$form" "$@"; }

sha() { sha256sum | cut -d' ' -f1; }

info() { "$build/tools/aec-decode" --info "$1" | sed -n "s/^$2: //p"; }

# valid FILE WHAT [ICC-FROM]: a file that must decode; the expectation is what the decoder makes of
# it now.  The profile's hash is taken from the iccp chunk of FILE, or of the version-1 file ICC-FROM
# (a compact file has no chunks to take it from).
valid() {
    v_w=$(info "$here/$1" width)
    v_h=$(info "$here/$1" height)
    v_c=$(info "$here/$1" channels)
    v_pixels=$("$build/tools/aec-decode" --quiet --format pam -o - "$here/$1" |
        tail -c $((v_w * v_h * v_c)) | sha)
    v_bf16=-
    if [ "$have_bf16" = 1 ]; then
        v_bf16=$(AECIMG_CPU_MAX=avx512bf16 "$build/tools/aec-decode" --quiet --format pam -o - "$here/$1" |
            tail -c $((v_w * v_h * v_c)) | sha)
    fi
    v_icc=-
    if [ "$(info "$here/$1" icc_size)" != 0 ]; then
        v_icc=$("$mut" payload "${3:-$here/$1}" - iccp 1 | sha)
    fi
    printf '%s ok %s %s %s %s %s %s %s\n' "$1" "$v_w" "$v_h" "$v_c" "$v_pixels" "$v_bf16" "$v_icc" "$2" >>"$manifest"
}

# invalid FILE ERROR WHAT: a file that must fail with AECIMG_ERR_ERROR.
invalid() {
    printf '%s AECIMG_ERR_%s - - - - - - %s\n' "$1" "$2" "$3" >>"$manifest"
}

image() { "$mut" image "$1" "$2" "$3" "${4:-255}" "$tmp/$1x$2x$3.pam"; echo "$tmp/$1x$2x$3.pam"; }

# ---- valid files
# ok FILE WHAT ENCODER-ARGUMENTS...: encodes FILE and records it as valid.
ok() { o_name=$1 o_what=$2; shift 2; enc -o "$here/$o_name" "$@"; valid "$o_name" "$o_what"; }
ok ok-1x1-rgb-zstd.aec "1x1, the smallest image; zstd stage" --entropy zstd "$(image 1 1 3)"
ok ok-1x1-rgb-rans.aec "1x1; rANS stage" --entropy rans "$(image 1 1 3)"
ok ok-1x1-rgb-ctx.aec "1x1; ctx stage" --entropy ctx "$(image 1 1 3)"
ok ok-17x5-rgb-zstd.aec "odd size, not a multiple of the stride 16; zstd" --entropy zstd "$(image 17 5 3)"
ok ok-17x5-rgb-rans.aec "odd size; rANS" --entropy rans "$(image 17 5 3)"
ok ok-17x5-rgb-ctx.aec "odd size; ctx" --entropy ctx "$(image 17 5 3)"
ok ok-37x1-rgb-q0.aec "one row; quality 0" -q 0 "$(image 37 1 3)"
ok ok-1x37-rgb-q100.aec "one column; quality 100" -q 100 "$(image 1 37 3)"
ok ok-13x29-gray-zstd.aec "gray (1 channel), odd size; zstd" --entropy zstd "$(image 13 29 1)"
ok ok-23x9-gray-alpha-rans.aec "gray+alpha: ALPH chunk, alpha lossless; rANS" --entropy rans "$(image 23 9 2)"
ok ok-40x24-rgba-zstd.aec "RGBA: ALPH chunk; zstd" --entropy zstd "$(image 40 24 4)"
ok ok-31x17-rgb16-rans.aec "16-bit source (source_bit_depth 16, decoded to 8 bits); rANS" --entropy rans "$(image 31 17 3 65535)"
ok ok-48x32-icc.aec "iccp chunk: the ICC profile comes back byte for byte" -q 40 "$top/testimages/icc-48x32.png"
ok ok-96x64-rgb-rans.aec "several latent rows and rANS streams" --entropy rans "$(image 96 64 3)"
ok ok-96x64-rgb-ctx.aec "several latent rows; ctx classes from rows above and channels before" --entropy ctx "$(image 96 64 3)"
b=$here/ok-17x5-rgb-zstd.aec
"$mut" insert "$b" "$tmp/a.aec" ADAT teSt 0102030405
"$mut" insert "$tmp/a.aec" "$here/ok-ancillary-chunks.aec" AEND zzzz -
valid ok-ancillary-chunks.aec "unknown ancillary chunks before and after ADAT are skipped (same pixels as ok-17x5-rgb-zstd)"
"$mut" insert "$b" "$here/ok-iccp-unknown-method.aec" ADAT iccp 07aabbcc
valid ok-iccp-unknown-method.aec "iccp with an unknown method: the profile is dropped, the image decodes"

# ---- the compact form (version 2, doc/container.md section 9)
form=2
ok ok-compact-17x5-rgb-zstd.aec "compact form; zstd" --entropy zstd "$(image 17 5 3)"
ok ok-compact-13x29-gray-ctx.aec "compact form: gray; ctx" --entropy ctx "$(image 13 29 1)"
ok ok-compact-23x9-gray-alpha-rans.aec "compact form: gray+alpha, the alpha section; rANS" --entropy rans "$(image 23 9 2)"
ok ok-compact-96x64-rgb-rans.aec "compact form: several rANS streams" --entropy rans "$(image 96 64 3)"
enc -o "$here/ok-compact-48x32-icc.aec" -q 40 "$top/testimages/icc-48x32.png"
valid ok-compact-48x32-icc.aec "compact form: the ICC section (the profile of ok-48x32-icc)" "$here/ok-48x32-icc.aec"
form=1

# ---- invalid files, from ok-17x5-rgb-zstd.aec unless said otherwise
bad() { b_name=$1 b_err=$2 b_what=$3; shift 3; "$mut" "$@"; invalid "$b_name" "$b_err" "$b_what"; }
: >"$here/err-empty.aec"
invalid err-empty.aec TRUNCATED "empty file"
bad err-signature-only.aec TRUNCATED "the 8 signature bytes and nothing else" truncate "$b" "$here/err-signature-only.aec" 8
bad err-bad-magic.aec BAD_MAGIC "signature 'AEC' changed to 'aEC'" flip "$b" "$here/err-bad-magic.aec" 13
cp "$top/testimages/rgb-1x1.png" "$here/err-png-file.aec"
invalid err-png-file.aec BAD_MAGIC "a PNG file"
bad err-version-2.aec UNSUPPORTED_VERSION "AHDR format_version 2" set "$b" "$here/err-version-2.aec" AHDR 0 02
ahdr=$("$mut" payload "$b" - AHDR 0 | od -An -v -tx1 | tr -d ' \n' | sed 's/^01/02/')
"$mut" drop "$b" "$tmp/a.aec" AHDR
bad err-version-2-longer-ahdr.aec UNSUPPORTED_VERSION "AHDR of version 2 and 17 bytes: the version is judged first" \
    insert "$tmp/a.aec" "$here/err-version-2-longer-ahdr.aec" AMDL AHDR "${ahdr}00000000"
len=$("$mut" chunks "$b" | sed -n 's/^ADAT [0-9]* //p')
bad err-chunk-length-past-end.aec TRUNCATED "ADAT length 1000 bytes past the end of the file" \
    length "$b" "$here/err-chunk-length-past-end.aec" ADAT $((len + 1000))
bad err-chunk-length-2g.aec CORRUPT "AHDR length 2^31, above the largest allowed" \
    length "$b" "$here/err-chunk-length-2g.aec" AHDR 0x80000000
bad err-crc-ahdr.aec CRC_MISMATCH "AHDR CRC wrong" crc "$b" "$here/err-crc-ahdr.aec" AHDR
adat=$("$mut" chunks "$b" | sed -n 's/^ADAT \([0-9]*\) .*/\1/p')
bad err-crc-payload.aec CRC_MISMATCH "one bit of the latent payload inverted, CRC left as it was" \
    flip "$b" "$here/err-crc-payload.aec" $(((adat + 8 + 12) * 8 + 3))
bad err-model-hash.aec MODEL_MISMATCH "AMDL model hash of another model" \
    set "$b" "$here/err-model-hash.aec" AMDL 0 ffffffff
bad err-model-name.aec CORRUPT "AMDL model name with a control character" \
    set "$b" "$here/err-model-name.aec" AMDL 33 01
bad err-width-0.aec CORRUPT "width 0" set "$b" "$here/err-width-0.aec" AHDR 1 00000000
bad err-width-65536.aec TOO_LARGE "width 65536, above the largest side" set "$b" "$here/err-width-65536.aec" AHDR 1 00010000
bad err-65535x65535.aec TOO_LARGE "65535x65535: sides allowed, pixels above the default limit of 2^28" \
    set "$b" "$here/err-65535x65535.aec" AHDR 1 0000ffff0000ffff
bad err-channels-5.aec CORRUPT "5 channels" set "$b" "$here/err-channels-5.aec" AHDR 9 05
bad err-bit-depth-0.aec CORRUPT "source bit depth 0" set "$b" "$here/err-bit-depth-0.aec" AHDR 10 00
bad err-ahdr-reserved.aec CORRUPT "AHDR reserved field not 0" set "$b" "$here/err-ahdr-reserved.aec" AHDR 11 0001
bad err-quantizer-2.aec UNSUPPORTED "unknown quantizer 2" set "$b" "$here/err-quantizer-2.aec" AQNT 0 02
bad err-quality-101.aec CORRUPT "quality 101" set "$b" "$here/err-quality-101.aec" AQNT 1 65
bad err-latent-width.aec CORRUPT "ALAT latent width that does not fit the image and model" \
    set "$b" "$here/err-latent-width.aec" ALAT 6 00000003
bad err-latent-channels.aec CORRUPT "ALAT latent channels other than the model's" \
    set "$b" "$here/err-latent-channels.aec" ALAT 0 000d
bad err-entropy-4.aec UNSUPPORTED "unknown entropy stage 4" set "$b" "$here/err-entropy-4.aec" ADAT 0 04
bad err-stream-count-0.aec CORRUPT "ADAT with 0 streams" set "$b" "$here/err-stream-count-0.aec" ADAT 2 0000
bad err-stream-size.aec CORRUPT "ADAT stream size that disagrees with the chunk length" \
    set "$b" "$here/err-stream-size.aec" ADAT 4 00000001
"$mut" flip "$b" "$tmp/a.aec" $(((adat + len + 7) * 8))
bad err-zstd-checksum.aec ENTROPY "last byte of the zstd frame (its checksum) changed, CRC repaired" \
    fix "$tmp/a.aec" "$here/err-zstd-checksum.aec" ADAT
"$mut" flip "$b" "$tmp/a.aec" $(((adat + 8 + 8 + 6) * 8 + 1))
bad err-zstd-header.aec ENTROPY "zstd frame header changed, CRC repaired" fix "$tmp/a.aec" "$here/err-zstd-header.aec" ADAT
r=$here/ok-96x64-rgb-rans.aec
bad err-rans-state.aec ENTROPY "first rANS stream starts with state 0, out of range (CRC repaired)" \
    set "$r" "$here/err-rans-state.aec" ADAT $((4 + 4 * $(info "$r" stream_count))) 00000000
radat=$("$mut" chunks "$r" | sed -n 's/^ADAT \([0-9]*\) .*/\1/p')
rlen=$("$mut" chunks "$r" | sed -n 's/^ADAT [0-9]* //p')
"$mut" flip "$r" "$tmp/a.aec" $(((radat + 8 + rlen - 2) * 8 + 4))
bad err-rans-payload.aec ENTROPY "one bit of the last rANS stream changed, CRC repaired" \
    fix "$tmp/a.aec" "$here/err-rans-payload.aec" ADAT
x=$here/ok-96x64-rgb-ctx.aec
xadat=$("$mut" chunks "$x" | sed -n 's/^ADAT \([0-9]*\) .*/\1/p')
xlen=$("$mut" chunks "$x" | sed -n 's/^ADAT [0-9]* //p')
"$mut" flip "$x" "$tmp/a.aec" $(((xadat + 8 + xlen - 1) * 8))
bad err-ctx-flush.aec ENTROPY "last byte of the ctx stream (its flushed low) changed, CRC repaired" \
    fix "$tmp/a.aec" "$here/err-ctx-flush.aec" ADAT
"$mut" flip "$x" "$tmp/a.aec" $(((xadat + 8 + 8 + 2) * 8 + 5))
bad err-ctx-payload.aec ENTROPY "one bit early in the ctx stream changed, CRC repaired" \
    fix "$tmp/a.aec" "$here/err-ctx-payload.aec" ADAT
size=$(wc -c <"$b")
bad err-truncated-payload.aec TRUNCATED "cut in the middle of ADAT" \
    truncate "$b" "$here/err-truncated-payload.aec" $((adat + 8 + (len / 2)))
bad err-no-aend.aec TRUNCATED "ends at a chunk boundary before AEND" truncate "$b" "$here/err-no-aend.aec" $((size - 12))
bad err-trailing-byte.aec CORRUPT "one byte after AEND" append "$b" "$here/err-trailing-byte.aec" 00
bad err-unknown-critical.aec UNKNOWN_CRITICAL_CHUNK "unknown critical chunk ABCD" \
    insert "$b" "$here/err-unknown-critical.aec" ADAT ABCD 00
bad err-chunk-type-digit.aec CORRUPT "chunk type with a digit (A1CD)" insert "$b" "$here/err-chunk-type-digit.aec" ADAT A1CD 00
bad err-duplicate-aqnt.aec CORRUPT "AQNT twice" insert "$b" "$here/err-duplicate-aqnt.aec" ADAT AQNT 0132
bad err-ahdr-not-first.aec CORRUPT "AMDL before AHDR" \
    insert "$b" "$here/err-ahdr-not-first.aec" AHDR AMDL "$("$mut" payload "$b" - AMDL 0 | od -An -v -tx1 | tr -d ' \n')"
bad err-missing-alat.aec CORRUPT "no ALAT chunk" drop "$b" "$here/err-missing-alat.aec" ALAT
bad err-chunk-after-adat.aec CORRUPT "iccp after ADAT" insert "$b" "$here/err-chunk-after-adat.aec" AEND iccp 0001
rgba=$here/ok-40x24-rgba-zstd.aec
bad err-rgba-no-alph.aec CORRUPT "RGBA without an ALPH chunk" drop "$rgba" "$here/err-rgba-no-alph.aec" ALPH
bad err-alph-method-2.aec UNSUPPORTED "ALPH method 2" set "$rgba" "$here/err-alph-method-2.aec" ALPH 0 02
bad err-alph-not-zstd.aec CORRUPT "ALPH data that is not a zstd frame" set "$rgba" "$here/err-alph-not-zstd.aec" ALPH 1 00
bad err-rgb-with-alph.aec CORRUPT "RGB with an ALPH chunk" \
    insert "$b" "$here/err-rgb-with-alph.aec" ADAT ALPH "01$("$mut" payload "$rgba" - ALPH 1 | od -An -v -tx1 | tr -d ' \n')"

# ---- invalid compact files, from ok-compact-17x5-rgb-zstd.aec (cset repairs both CRCs)
c=$here/ok-compact-17x5-rgb-zstd.aec
csize=$(wc -c <"$c" | tr -d ' ')
bad err-compact-cut-header.aec TRUNCATED "compact: cut inside the header" truncate "$c" "$here/err-compact-cut-header.aec" 20
bad err-compact-cut-body.aec TRUNCATED "compact: cut inside the payload" \
    truncate "$c" "$here/err-compact-cut-body.aec" $((csize - 10))
bad err-compact-trailing.aec CORRUPT "compact: a byte after the body CRC" append "$c" "$here/err-compact-trailing.aec" 00
bad err-compact-header-crc.aec CRC_MISMATCH "compact: a width bit inverted, header CRC not repaired" \
    flip "$c" "$here/err-compact-header-crc.aec" 80
bad err-compact-body-crc.aec CRC_MISMATCH "compact: body CRC wrong" flip "$c" "$here/err-compact-body-crc.aec" $((8 * csize - 1))
bad err-compact-form-80.aec CORRUPT "compact: form byte 0x80 (version 0 has no compact form)" \
    cset "$c" "$here/err-compact-form-80.aec" 8 80
bad err-compact-version-3.aec UNSUPPORTED_VERSION "compact: form byte 0x83 (version 3)" \
    cset "$c" "$here/err-compact-version-3.aec" 8 83
bad err-compact-model-id.aec MODEL_MISMATCH "compact: model id of another model" \
    cset "$c" "$here/err-compact-model-id.aec" 17 ffffffff
bad err-compact-width-0.aec CORRUPT "compact: width 0" cset "$c" "$here/err-compact-width-0.aec" 9 0000
bad err-compact-65535x65535.aec TOO_LARGE "compact: 65535x65535, above the default pixel limit" \
    cset "$c" "$here/err-compact-65535x65535.aec" 9 ffffffff
bad err-compact-channels-5.aec CORRUPT "compact: 5 channels" cset "$c" "$here/err-compact-channels-5.aec" 13 3d
bad err-compact-quality-101.aec CORRUPT "compact: quality 101" cset "$c" "$here/err-compact-quality-101.aec" 14 65
bad err-compact-quantizer-2.aec UNSUPPORTED "compact: quantizer 2" cset "$c" "$here/err-compact-quantizer-2.aec" 15 02
bad err-compact-entropy-4.aec UNSUPPORTED "compact: entropy stage 4" cset "$c" "$here/err-compact-entropy-4.aec" 16 04
bad err-compact-stream-count-0.aec CORRUPT "compact: 0 streams" cset "$c" "$here/err-compact-stream-count-0.aec" 25 00
bad err-compact-payload.aec ENTROPY "compact: zstd frame damaged, CRCs repaired" \
    cset "$c" "$here/err-compact-payload.aec" $((csize - 6)) 5a

cp "$manifest" "$here/MANIFEST"
echo "$(grep -c '^[^#].* ok ' "$here/MANIFEST") valid and $(grep -c '^[^#].* AECIMG_ERR_' "$here/MANIFEST") invalid files in $here"
