#!/bin/sh
# installcheck.sh: the installed MIME type, file(1) magic, gdk-pixbuf loader, thumbnailer entry and
# ImageMagick delegates, used as README says, on images encoded by the installed aec-encode with
# the installed model.  Run by make installcheck (and so by make distcheck), which passes the
# installation folders in the environment.  A part whose program is not installed is skipped with
# a message.  Exit 0 pass, 1 fail.

LC_ALL=C
export LC_ALL
unset AECIMG_MODEL
srcdir_abs=$(cd "${top_srcdir:-.}" && pwd) || exit 1
[ -n "$pixbuf_dump" ] && pixbuf_dump=$(pwd)/$pixbuf_dump
enc=$bindir/aec-encode
dec=$bindir/aec-decode
passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
skip() { echo "SKIP: $*"; }
check() {
    check_what=$1
    shift
    if "$@"; then pass "$check_what"; else fail "$check_what"; fi
}
have() { command -v "$1" >/dev/null 2>&1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/aec-installcheck.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' 0
trap 'exit 1' 1 2 15

# The prefix's MIME database, as a session whose XDG_DATA_DIRS names the prefix sees it (GIO, and
# through it gdk-pixbuf, which picks loaders by the MIME type GIO guesses); none of the user's own.
XDG_DATA_DIRS=$datadir:/usr/local/share:/usr/share
XDG_DATA_HOME=$tmp/xdg-home
export XDG_DATA_DIRS XDG_DATA_HOME
mkdir -p "$XDG_DATA_HOME" || exit 1

# An RGB and an RGBA image; copies without the extension must be recognised by content.
for name in rgb-31x17 rgba-61x45; do
    "$enc" --quiet -q 60 -o "$tmp/$name.aec" "$srcdir_abs/testimages/$name.png" &&
        "$dec" --quiet --format pam -o "$tmp/$name.pam" "$tmp/$name.aec" &&
        cp "$tmp/$name.aec" "$tmp/$name" || { fail "the installed aec-encode and aec-decode"; exit 1; }
done

# ---- the Fashion-MNIST model, installed beside the default one and loaded by name; aec-decode, on the
# default model, finds the installed model the file names
check "the Fashion-MNIST model is installed beside the default one" test -f "$pkgdatadir/fashion.aecm"
check "aec-encode --model fashion, then aec-decode with no --model: a 28x28 gray image" \
    sh -c '"$1" --quiet --model fashion -o "$2/fashion.aec" "$3" && "$4" --quiet --format pam -o "$2/fashion.pam" \
        "$2/fashion.aec" && grep -aq "^DEPTH 1$" "$2/fashion.pam"' - "$enc" "$tmp" \
    "$srcdir_abs/testimages/fashion-test-0.png" "$dec"

# ---- file(1) with the installed magic
if have file; then
    check "file -m aec.magic names the format and size" \
        test "$(file -b -m "$pkgdatadir/aec.magic" "$tmp/rgb-31x17")" = "aec image data, version 2 (compact), 31 x 17, RGB"
    "$enc" --quiet -q 60 --format-version 1 -o "$tmp/rgb-31x17-v1.aec" "$srcdir_abs/testimages/rgb-31x17.png" ||
        fail "the installed aec-encode, version 1"
    check "file -m aec.magic names the format and size of version 1" \
        test "$(file -b -m "$pkgdatadir/aec.magic" "$tmp/rgb-31x17-v1.aec")" = "aec image data, version 1, 31 x 17, RGB"
    check "file -m aec.magic gives image/x-aec" \
        test "$(file -b --mime-type -m "$pkgdatadir/aec.magic" "$tmp/rgba-61x45")" = image/x-aec
else
    skip "file(1) is not installed (Debian: file)"
fi

# ---- shared-mime-info: the prefix's MIME database, as GIO reads it
content_type() { gio info -a standard::content-type "$1" | sed -n 's/^ *standard::content-type: //p'; }
if have gio && [ -f "$datadir/mime/mime.cache" ]; then
    check "gio: image/x-aec by content, for a file without extension" test "$(content_type "$tmp/rgb-31x17")" = image/x-aec
    check "gio: image/x-aec for x.aec" test "$(content_type "$tmp/rgb-31x17.aec")" = image/x-aec
elif have gio; then
    fail "no MIME database in $datadir/mime: make install did not run update-mime-database"
else
    skip "gio is not installed (Debian: libglib2.0-bin)"
fi

# ---- gdk-pixbuf through the installed loader and loaders cache
if [ -z "$pixbufcachefile" ]; then
    skip "the gdk-pixbuf loader was not built (Debian: libgdk-pixbuf-2.0-dev)"
else
    for name in rgb-31x17 rgba-61x45; do
        GDK_PIXBUF_MODULE_FILE=$pixbufcachefile "$pixbuf_dump" "$tmp/$name" >"$tmp/$name.pixbuf.pam"
        check "gdk-pixbuf loads $name (no extension) with aec-decode's pixels" cmp -s "$tmp/$name.pixbuf.pam" "$tmp/$name.pam"
    done
    check "the prefix's loaders cache keeps the system's loaders (PNG)" \
        sh -c 'GDK_PIXBUF_MODULE_FILE=$1 "$2" "$3" >/dev/null' sh "$pixbufcachefile" "$pixbuf_dump" "$srcdir_abs/testimages/rgb-31x17.png"
fi

# ---- the thumbnailer entry's command, as a file manager runs it
if [ -z "$pixbufcachefile" ]; then
    skip "no thumbnailer entry without the gdk-pixbuf loader"
elif have gdk-pixbuf-thumbnailer; then
    exec_line=$(sed -n 's/^Exec=//p' "$thumbnailer" |
        sed -e "s|%s|32|g" -e "s|%u|file://$tmp/rgba-61x45|g" -e "s|%o|$tmp/thumb.png|g")
    check "the thumbnailer command writes a thumbnail" sh -c "$exec_line && test -s '$tmp/thumb.png'"
    GDK_PIXBUF_MODULE_FILE=$pixbufcachefile "$pixbuf_dump" "$tmp/thumb.png" >"$tmp/thumb.pam" 2>/dev/null
    check "the thumbnail of the 61x45 RGBA image is 32x24 with alpha" \
        test "$(head -n 6 "$tmp/thumb.pam" | tr '\n' ' ')" = "P7 WIDTH 32 HEIGHT 24 DEPTH 4 MAXVAL 255 TUPLTYPE RGB_ALPHA "
    grep -q '^MimeType=image/x-aec;$' "$thumbnailer" || fail "$thumbnailer lacks MimeType=image/x-aec;"
else
    skip "gdk-pixbuf-thumbnailer is not installed (Debian: libgdk-pixbuf2.0-bin)"
fi

# ---- ImageMagick with the installed delegates
if have convert && have identify && convert -version 2>/dev/null | grep -q ImageMagick; then
    MAGICK_CONFIGURE_PATH=$pkgdatadir
    export MAGICK_CONFIGURE_PATH
    check "convert x.aec y.png" convert "$tmp/rgba-61x45.aec" "$tmp/im.png"
    convert "$tmp/im.png" -depth 8 rgba:"$tmp/im.rgba" && convert "$tmp/rgba-61x45.pam" -depth 8 rgba:"$tmp/ref.rgba"
    check "convert x.aec y.png keeps aec-decode's pixels" cmp -s "$tmp/im.rgba" "$tmp/ref.rgba"
    for pass_no in 1 2; do # the second one replaces the file
        check "convert y.png -quality 40 x.aec (run $pass_no)" \
            convert "$srcdir_abs/testimages/rgb-31x17.png" -quality 40 "$tmp/im.aec"
    done
    info=$("$dec" --info "$tmp/im.aec" 2>&1)
    check "the .aec written by ImageMagick is 31x17 at quality 40" \
        test "$(echo "$info" | grep -E '^(width|height|quality): ' | tr '\n' ' ')" = "width: 31 height: 17 quality: 40 "
    check "identify x.aec" sh -c 'identify "$1" | grep -q " 61x45 "' sh "$tmp/rgba-61x45.aec"
else
    skip "ImageMagick is not installed (Debian: imagemagick)"
fi

echo "installcheck: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
