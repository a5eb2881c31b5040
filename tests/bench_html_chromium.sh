#!/bin/sh
# bench_html_chromium.sh: the page of aec-bench --html renders in headless Chromium, offline, with
# every picture present: a copy of index.html beside it marks each <img> with whether it loaded
# (complete, naturalWidth > 0) once the page's load event has fired, and the DOM Chromium dumps
# must show every one loaded.  Skipped (77) when Chromium is not installed (Debian: chromium).

. "${top_srcdir:-.}/tests/cli_lib.sh"
require_tools "$bench" "$mut"
chromium=
for c in chromium chromium-browser google-chrome; do
    if command -v "$c" >/dev/null 2>&1; then
        chromium=$c
        break
    fi
done
if [ -z "$chromium" ]; then
    echo "SKIP: Chromium is not installed (Debian: apt-get install chromium)"
    exit 77
fi
make_tmp chromium

page=$tmp/page
if ! make_bench_page "$page"; then
    fail "aec-bench --html exits 0"
    sed 's/^/  | /' "$tmp/page.err"
    echo "$passed passed, $failed failed"
    exit 1
fi
pass "aec-bench --html exits 0 (codecs: $page_codecs)"

# The checker: the page itself plus a script that runs after every picture has loaded or failed.
marker='<script>window.addEventListener("load", function () { for (const i of document.images) i.setAttribute("data-loaded", i.complete \&\& i.naturalWidth > 0 ? "yes" : "no"); document.body.setAttribute("data-checked", "yes"); });</script>'
sed "s#</body>#$marker</body>#" "$page/index.html" >"$page/check.html"
check "the checker is in place" grep -q data-checked "$page/check.html"

# render WHAT: Chromium's DOM of check.html after the load event, into $tmp/dom.
render() {
    rm -rf "$tmp/profile" "$tmp/home"
    mkdir -p "$tmp/home"
    limit=
    command -v timeout >/dev/null 2>&1 && limit="timeout 180"
    HOME=$tmp/home $limit "$chromium" --headless --no-sandbox --disable-gpu \
        --disable-background-networking --disable-component-update --disable-sync \
        --no-first-run --user-data-dir="$tmp/profile" --virtual-time-budget=10000 \
        --dump-dom "file://$page/check.html" >"$tmp/dom" 2>"$tmp/chromium.err"
}
render
status=$?
check "Chromium renders the page (exit $status)" test "$status" -eq 0
[ "$status" -eq 0 ] || sed 's/^/  | /' "$tmp/chromium.err" | tail -n 20
images=$(grep -c '<img ' "$page/index.html")
check "the load event ran" grep -q 'data-checked="yes"' "$tmp/dom"
check "all $images pictures loaded" test "$(grep -o 'data-loaded="yes"' "$tmp/dom" | wc -l)" -eq "$images"
check "  ... none failed" sh -c '! grep -q "data-loaded=\"no\"" "$1"' - "$tmp/dom"

# The check can fail: with a picture gone, Chromium reports it missing.
mv "$page/i2-original.png" "$tmp/gone.png"
render
check "a picture removed: Chromium shows it missing" \
    test "$(grep -o 'data-loaded="no"' "$tmp/dom" | wc -l)" -eq 1

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
