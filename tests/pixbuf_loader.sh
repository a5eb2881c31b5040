#!/bin/sh
# pixbuf_loader.sh: runs tests/test_pixbuf against the built gdk-pixbuf loader.  As make install
# does, it writes a loaders cache for the loader with gdk-pixbuf-query-loaders and a MIME database
# with plugins/mime/aec.xml: gdk-pixbuf picks a loader by the MIME type GIO guesses, and knows
# .aec files only from that database.  It decodes every valid file of tests/conformance/ with
# aec-decode to a PAM for the test to compare with, and runs the test with GDK_PIXBUF_MODULE_FILE
# and XDG_DATA_DIRS pointing at what it made.  Exit 0 pass, 1 fail, 77 skip.

. "${top_srcdir:-.}/tests/cli_lib.sh"
AECIMG_MODEL=$srcdir_abs/tests/vectors/tiny.aecm
export AECIMG_MODEL
module=$builddir_abs/plugins/gdk-pixbuf/.libs/libpixbufloader-aec.so
test_bin=$builddir_abs/tests/test_pixbuf
require_tools "$dec" "$module" "$test_bin"
query=${GDK_PIXBUF_QUERY_LOADERS:-gdk-pixbuf-query-loaders}
update_mime=${UPDATE_MIME_DATABASE:-update-mime-database}
make_tmp pixbuf

mkdir -p "$tmp/share/mime/packages" "$tmp/home" || exit 1
cp "$srcdir_abs/plugins/mime/aec.xml" "$tmp/share/mime/packages/" || exit 1
if ! "$update_mime" "$tmp/share/mime" >/dev/null 2>&1; then
    echo "FAIL: $update_mime could not build a MIME database from plugins/mime/aec.xml"
    exit 1
fi

# An instrumented loader can only be loaded by a process that has the sanitizer runtime first.
preload=$(ldd "$module" | sed -n 's/^[[:space:]]*libasan[^ ]* => \([^ ]*\).*/\1/p')
if ! env ${preload:+LD_PRELOAD="$preload"} ASAN_OPTIONS=detect_leaks=0 "$query" "$module" >"$tmp/loaders.cache" ||
    ! grep -q '"image/x-aec"' "$tmp/loaders.cache"; then
    echo "FAIL: $query wrote no entry for $module"
    cat "$tmp/loaders.cache"
    exit 1
fi

while read -r file expect rest; do
    case $file in
    \#* | "") continue ;;
    esac
    [ "$expect" = ok ] || continue
    "$dec" --quiet --format pam -o "$tmp/${file%.aec}.pam" "$srcdir_abs/tests/conformance/$file" || exit 1
done <"$srcdir_abs/tests/conformance/MANIFEST"

XDG_DATA_DIRS=$tmp/share:${XDG_DATA_DIRS:-/usr/local/share:/usr/share} XDG_DATA_HOME=$tmp/home \
    GDK_PIXBUF_MODULE_FILE=$tmp/loaders.cache PIXBUF_TEST_DIR=$tmp "$test_bin"
