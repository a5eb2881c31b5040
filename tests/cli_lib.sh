# cli_lib.sh: what the CLI test scripts share; each sources it first.
# Sets LC_ALL, srcdir_abs, builddir_abs and the tool paths enc, dec, bench, mut; provides pass,
# fail and check (counting into passed and failed), require_tools, make_tmp and make_bench_page.

LC_ALL=C
export LC_ALL

srcdir_abs=$(cd "${top_srcdir:-.}" && pwd) || exit 1
builddir_abs=$(cd "${top_builddir:-.}" && pwd) || exit 1
enc=$builddir_abs/tools/aec-encode
dec=$builddir_abs/tools/aec-decode
bench=$builddir_abs/tools/aec-bench
mut=$builddir_abs/tests/aecmut

# require_tools PATH...: skips the script (status 77) unless every PATH is built.
require_tools() {
    for rt_tool in "$@"; do
        if [ ! -x "$rt_tool" ]; then
            echo "SKIP: $rt_tool is not built"
            exit 77
        fi
    done
}

# make_tmp NAME: a fresh $tmp under tests/tmp/ in the build tree, removed at exit.
make_tmp() {
    tmp=$builddir_abs/tests/tmp/$1.$$
    rm -rf "$tmp"
    mkdir -p "$tmp" || exit 1
    trap 'rm -rf "$tmp"; rmdir "$builddir_abs/tests/tmp" 2>/dev/null' 0
    trap 'exit 1' 1 2 15
}

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }

# check DESCRIPTION COMMAND...: one line for the outcome of COMMAND.
check() {
    check_what=$1
    shift
    if "$@"; then pass "$check_what"; else fail "$check_what"; fi
}

# status_is WANT COMMAND...: COMMAND exits WANT; its stderr is in $tmp/err.
status_is() {
    si_want=$1
    shift
    "$@" >/dev/null 2>"$tmp/err"
    si_got=$?
    [ "$si_got" -eq "$si_want" ] && return 0
    echo "  exit status $si_got, expected $si_want: $*"
    sed 's/^/  | /' "$tmp/err"
    return 1
}

# make_bench_page DIR: aec-bench --html DIR with the tiny model on two small images made by aecmut
# (one gray; the colour one named with characters HTML must escape), every lossy codec that is
# built in, two qualities each, at 1.5 bpp.  Sets page_codecs (the lossy codecs shown) and
# page_images; aec-bench's stderr goes to $tmp/page.err.  Returns aec-bench's status.
make_bench_page() {
    page_codecs=$("$bench" --version 2>/dev/null | sed -n 's/^codecs: //p' |
        sed 's/[a-z-]* (not built)//g' | tr ' ' '\n' | grep -x -e aec -e jpeg -e webp -e avif -e jxl |
        tr '\n' ' ')
    page_images=2
    mkdir -p "$tmp/page-in"
    "$mut" image 96 64 3 255 "$tmp/page-in/photo \"1\" & <2>.pam" &&
        "$mut" image 40 30 1 255 "$tmp/page-in/gray.pam" || return 1
    AECIMG_MODEL=$srcdir_abs/tests/vectors/tiny.aecm "$bench" --runs 1 \
        --codecs "$(echo $page_codecs | tr ' ' ',')" -q 30,70 --jpeg-quality 30,70 \
        --webp-quality 30,70 --avif-quality 30,70 --jxl-quality 30,70 --html-bpp 1.5 --html "$1" \
        "$tmp/page-in/photo \"1\" & <2>.pam" "$tmp/page-in/gray.pam" >/dev/null 2>"$tmp/page.err"
}
