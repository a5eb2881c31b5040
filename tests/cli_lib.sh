# cli_lib.sh: what the CLI test scripts share; each sources it first.
# Sets LC_ALL, srcdir_abs, builddir_abs and the tool paths enc, dec, mut; provides pass, fail and
# check (counting into passed and failed), require_tools and make_tmp.

LC_ALL=C
export LC_ALL

srcdir_abs=$(cd "${top_srcdir:-.}" && pwd) || exit 1
builddir_abs=$(cd "${top_builddir:-.}" && pwd) || exit 1
enc=$builddir_abs/tools/aec-encode
dec=$builddir_abs/tools/aec-decode
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
