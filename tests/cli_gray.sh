#!/bin/sh
# cli_gray.sh: aec-encode and aec-decode with gray models (one image channel, built by
# tests/write_model with total stride 4 and 8): gray and gray+alpha round trips keep size and
# channels, refinement and effort run, color input is refused with its own message and no output;
# the shipped Fashion-MNIST model codes test images smaller than PNG at 29 dB or more.
# Run by make check, which passes top_srcdir and top_builddir; exit 0 pass, 1 fail, 77 skip.

. "${top_srcdir:-.}/tests/cli_lib.sh"
images=$srcdir_abs/testimages
write_model=$builddir_abs/tests/write_model
require_tools "$enc" "$dec" "$write_model"
make_tmp gray

info_field() { "$dec" --info "$1" 2>/dev/null | sed -n "s/^$2: //p"; }
info_geometry() { echo "$(info_field "$1" width) $(info_field "$1" height) $(info_field "$1" channels)"; }

# PAM header fields of FILE: "WIDTH HEIGHT DEPTH".
pam_geometry() {
    sed -n '1,/^ENDHDR$/p' "$1" | awk '/^WIDTH /{w=$2} /^HEIGHT /{h=$2} /^DEPTH /{d=$2} END{print w, h, d}'
}

# round_trip MODEL IMAGE W H C [ENCODE OPTIONS]: encode, decode to PAM, compare the geometry.
round_trip() {
    rt_model=$1 rt_image=$2 rt_want="$3 $4 $5"
    shift 5
    rt_base=$tmp/${rt_image%.*}-${rt_model##*/}
    rt_what="$rt_image with ${rt_model##*/}${*:+ $*}"
    if ! "$enc" --model "$rt_model" "$@" -o "$rt_base.aec" "$images/$rt_image" 2>"$tmp/last.err"; then
        fail "$rt_what: encode"
        sed 's/^/  | /' "$tmp/last.err"
        return
    fi
    check "$rt_what: --info says $rt_want" test "$(info_geometry "$rt_base.aec")" = "$rt_want"
    check "$rt_what: decodes" sh -c '"$1" --model "$2" -o "$3.pam" "$3.aec" 2>/dev/null' sh "$dec" "$rt_model" \
        "$rt_base"
    check "$rt_what: the PAM is $rt_want" test "$(pam_geometry "$rt_base.pam")" = "$rt_want"
}

if ! "$write_model" "$tmp/gray4.aecm" 1 2 || ! "$write_model" "$tmp/gray8.aecm" 1 3 direct; then
    echo "FAIL: write_model"
    exit 1
fi
for model in "$tmp/gray4.aecm" "$tmp/gray8.aecm"; do
    round_trip "$model" gray-28x28.png 28 28 1
    round_trip "$model" gray1-33x20.png 33 20 1
    round_trip "$model" gray-40x30.pgm 40 30 1 --refine 3
    round_trip "$model" ga-64x48.png 64 48 2 --effort 2
done

# Color input: refused, with the message the man page quotes, and no file left behind.
"$enc" --model "$tmp/gray4.aecm" -o "$tmp/rgb.aec" "$images/rgb-31x17.png" 2>"$tmp/rgb.err"
check "RGB input for a gray model exits 1" test $? -eq 1
check "RGB input: the message says why" \
    grep -q "rgb-31x17.png: the model codes gray images; the input is color" "$tmp/rgb.err"
check "RGB input: no output file" test ! -e "$tmp/rgb.aec"
"$enc" --model "$tmp/gray4.aecm" -o "$tmp/rgba.aec" "$images/rgba-61x45.png" 2>/dev/null
check "RGBA input for a gray model exits 1" test $? -eq 1

# The shipped Fashion-MNIST model (--model fashion, found by name in the source tree's models/) on
# four images of the test split it never trained on: at quality 30 each file is smaller than the
# image's PNG and decodes at 29 dB or more (its score line's PSNR is aec-decode's, tests/cli_score.sh).
if [ -f "$srcdir_abs/models/fashion.aecm" ]; then
    for png in "$images"/fashion-test-*.png; do
        name=$(basename "$png" .png)
        line=$("$enc" --model fashion -q 30 --score -o "$tmp/$name.aec" "$png" 2>"$tmp/last.err")
        psnr=$(printf '%s\n' "$line" | tr '\t' '\n' | sed -n 's/^psnr=//p')
        check "$name with the Fashion-MNIST model: smaller than its PNG" \
            test "$(wc -c <"$tmp/$name.aec")" -lt "$(wc -c <"$png")"
        check "$name with the Fashion-MNIST model: $psnr dB >= 29" awk -v p="$psnr" 'BEGIN { exit !(p >= 29) }'
    done
else
    echo "SKIP: models/fashion.aecm is missing"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
