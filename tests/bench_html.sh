#!/bin/sh
# bench_html.sh: aec-bench --html DIR writes a page that stands alone in DIR: every file it links
# is a plain name of a file in DIR (nothing outside, nothing on the network), every file in DIR is
# linked, the pictures are PNG files of the sizes the page gives, each codec's file meets the
# matched bit rate, and image names are escaped.  Uses the tiny test model.  Whether a browser
# shows every picture is bench_html_chromium.sh's.  Exit 0 pass, 1 fail, 77 skip.

. "${top_srcdir:-.}/tests/cli_lib.sh"
require_tools "$bench" "$mut"
make_tmp html

page=$tmp/page
if ! make_bench_page "$page"; then
    fail "aec-bench --html exits 0"
    sed 's/^/  | /' "$tmp/page.err"
    echo "$passed passed, $failed failed"
    exit 1
fi
pass "aec-bench --html exits 0 (codecs: $page_codecs)"
html=$page/index.html
check "index.html is written" test -s "$html"

# Every src="..." and href="..." of the page, one a line.
grep -o -e ' src="[^"]*"' -e ' href="[^"]*"' "$html" | sed 's/^ [a-z]*="//; s/"$//' >"$tmp/links"
plain_names() { ! grep -v '^[A-Za-z0-9._-]*$' "$tmp/links"; }
check "every link is a plain file name in the folder (no path, no scheme)" plain_names
all_there() { while read -r f; do [ -f "$page/$f" ] || return 1; done <"$tmp/links"; }
check "every linked file exists" all_there
every_file_linked() {
    for f in "$page"/* "$page"/.[!.]*; do
        [ -e "$f" ] || continue
        n=${f##*/}
        [ "$n" = index.html ] || grep -qx "$n" "$tmp/links" || { echo "  not linked: $n"; return 1; }
    done
}
check "every file in the folder is linked (nothing else left there)" every_file_linked
ncodecs=$(echo $page_codecs | wc -w)
check "$((page_images * 2 * (ncodecs + 1) + 1)) pictures: the plot, and per image a crop and a detail of the original and of each codec" \
    test "$(grep -c '<img ' "$html")" -eq $((page_images * 2 * (ncodecs + 1) + 1))
for c in $page_codecs; do
    check "$c: a crop and a detail of each image" \
        test -f "$page/i1-$c.png" -a -f "$page/i1-$c-zoom.png" -a -f "$page/i2-$c.png" -a -f "$page/i2-$c-zoom.png"
done
check "rd.svg is the plot" grep -q '<svg ' "$page/rd.svg"

# Each picture is a PNG whose IHDR size is the size the page gives it.
png_size() { od -An -v -tu1 -j16 -N8 "$1" | awk '{ printf "%d %d\n", (($1*256+$2)*256+$3)*256+$4, (($5*256+$6)*256+$7)*256+$8 }'; }
sizes_match() {
    grep -o '<img src="[^"]*.png" width="[0-9]*" height="[0-9]*"' "$html" |
        sed 's/<img src="\([^"]*\)" width="\([0-9]*\)" height="\([0-9]*\)"/\1 \2 \3/' >"$tmp/imgs"
    [ -s "$tmp/imgs" ] || return 1
    while read -r f wd ht; do
        [ "$(od -An -tx1 -N8 "$page/$f" | tr -d ' ')" = 89504e470d0a1a0a ] || { echo "  not a PNG: $f"; return 1; }
        [ "$(png_size "$page/$f")" = "$wd $ht" ] || { echo "  $f is $(png_size "$page/$f"), the page says $wd $ht"; return 1; }
    done <"$tmp/imgs"
}
check "every picture is a PNG of the size the page says" sizes_match
check "the crop of a 96x64 image is the image; its detail 64x64 magnified 4 times" \
    sh -c 'grep -q "i1-original.png\" width=\"96\" height=\"64\"" "$1" && grep -q "i1-original-zoom.png\" width=\"256\" height=\"256\"" "$1"' - "$html"

# Matched rates: each caption's bpp at most 1.5, or the codec's smallest file said so.
rates_match() {
    grep -o '</b> q [0-9]*: [0-9.]* bpp[^,]*' "$html" >"$tmp/rates"
    [ "$(wc -l <"$tmp/rates")" -eq $((page_images * 2 * ncodecs)) ] || return 1
    awk '{ bpp = $4 + 0; if (bpp > 1.5 && index($0, "smallest file") == 0) bad = 1 } END { exit bad }' "$tmp/rates"
}
check "every codec at most 1.5 bpp (or its smallest file, said so)" rates_match

check "the image name is escaped" grep -q 'photo &quot;1&quot; &amp; &lt;2&gt;.pam' "$html"
check "  ... and nowhere raw" sh -c '! grep -q "<2>" "$1"' - "$html"
check "the page says what the crop is" grep -q '96x64 crop at (0, 0)' "$html"

# A second run replaces the files; a folder that cannot be made is refused before any work.
before=$(cksum <"$page/i1-original.png")
check "a second run into the same folder: exit 0" make_bench_page "$page"
check "  ... the same pictures" test "$(cksum <"$page/i1-original.png")" = "$before"
: >"$tmp/a-file"
AECIMG_MODEL=$srcdir_abs/tests/vectors/tiny.aecm "$bench" --runs 1 --codecs aec --html "$tmp/a-file" \
    "$tmp/page-in/gray.pam" >/dev/null 2>"$tmp/err"
status=$?
check "--html naming a file: exit 1" test "$status" -eq 1
check "  ... said so before measuring" \
    sh -c 'grep -q "a-file: not a directory" "$1" && ! grep -q "points measured" "$1"' - "$tmp/err"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
