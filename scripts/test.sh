#!/bin/sh
# Builds aec and runs the whole test suite:
#   build/       make check (warnings are errors)
#   build-asan/  make check again with AddressSanitizer and UndefinedBehaviorSanitizer, leaks included
#   build-fuzz/  each libFuzzer harness over its corpus, then 10 s of fuzzing (when clang has libFuzzer)
#   valgrind     the command-line tools under memcheck (when valgrind is installed)
#   python       the aecimg package pip-installed into a fresh venv, its pytest tests against build/
#   make distcheck, whose make installcheck tries the plugins on the installed prefix
# Build directories are reused when they exist.  The last line sums up the make check results.
set -e
cd "$(dirname "$0")/.."
top=$(pwd)
[ -x configure ] || ./autogen.sh >/dev/null
jobs=$(nproc 2>/dev/null || echo 2)
# ASan's leak checker runs at exit of every test program; UBSan reports are fatal (the build uses
# -fno-sanitize-recover) and come with a stack.  GCC's libgomp needs no ASAN_OPTIONS of its own.
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
export ASAN_OPTIONS UBSAN_OPTIONS

passed=0
failed=0
now() { date +%s; }

# suite DIR CONFIGURE-FLAGS...: configure DIR if needed, build, make check; adds to the totals.
suite() {
    dir=$1
    shift
    start=$(now)
    mkdir -p "$dir"
    (
        cd "$dir"
        [ -f Makefile ] || "$top/configure" "$@" >/dev/null
        make -j"$jobs" >/dev/null
    )
    status=0
    (cd "$dir" && make -j"$jobs" check >/dev/null 2>&1) || status=$?
    pass=$(sed -n 's/^# PASS: *//p' "$dir/test-suite.log")
    fail=$(sed -n 's/^# FAIL: *//p' "$dir/test-suite.log")
    error=$(sed -n 's/^# ERROR: *//p' "$dir/test-suite.log")
    passed=$((passed + ${pass:-0}))
    failed=$((failed + ${fail:-0} + ${error:-0}))
    echo "$dir ($*): ${pass:-0} passed, $((${fail:-0} + ${error:-0})) failed, $(($(now) - start)) s"
    if [ "$status" -ne 0 ]; then
        cat "$dir"/tests/*.log
        [ "$failed" -gt 0 ] || failed=1
        echo "$passed passed, $failed failed"
        exit 1
    fi
}

suite build --enable-werror
suite build-asan --enable-werror --enable-sanitizers

# The fuzz harnesses need clang with libFuzzer (Debian: clang libclang-rt-dev).
start=$(now)
if printf 'int LLVMFuzzerTestOneInput(const char *d, long n) { (void)d; (void)n; return 0; }\n' |
    clang -fsanitize=fuzzer -x c - -o /tmp/aec-fuzz-probe.$$ >/dev/null 2>&1; then
    rm -f /tmp/aec-fuzz-probe.$$
    mkdir -p build-fuzz
    (
        cd build-fuzz
        [ -f Makefile ] || "$top/configure" --enable-fuzzing CC=clang >/dev/null
        # clang's optimization remarks go to make.log; shown only if the build fails.
        make -j"$jobs" fuzz >make.log 2>&1 || { cat make.log; exit 1; }
    )
    FUZZ_BUILDDIR=$top/build-fuzz sh scripts/fuzz-check.sh
    echo "build-fuzz: $(($(now) - start)) s"
else
    rm -f /tmp/aec-fuzz-probe.$$
    echo "build-fuzz: skipped (clang with libFuzzer not found; Debian: clang libclang-rt-dev)"
fi

start=$(now)
sh scripts/valgrind-cli.sh build
echo "valgrind: $(($(now) - start)) s"

start=$(now)
sh scripts/python-test.sh build
echo "python: $(($(now) - start)) s"

start=$(now)
(cd build && make -j"$jobs" distcheck DISTCHECK_CONFIGURE_FLAGS=--enable-werror >/dev/null)
echo "distcheck: passed, $(($(now) - start)) s"
echo "$passed passed, 0 failed"
