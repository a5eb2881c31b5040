#!/bin/sh
# Builds aec in build/ (if needed) and runs the whole test suite: make check, then make distcheck.
set -e
cd "$(dirname "$0")/.."
top=$(pwd)
[ -x configure ] || ./autogen.sh >/dev/null
mkdir -p build
cd build
[ -f Makefile ] || "$top/configure" --enable-werror >/dev/null
jobs=$(nproc 2>/dev/null || echo 2)
make -j"$jobs" >/dev/null
status=0
make -j"$jobs" check || status=$?
# One plain summary line for readers of CI logs: the automake totals.
pass=$(sed -n 's/^# PASS: *//p' test-suite.log)
fail=$(sed -n 's/^# FAIL: *//p' test-suite.log)
error=$(sed -n 's/^# ERROR: *//p' test-suite.log)
if [ "$status" -ne 0 ]; then
    cat tests/*.log
    echo "${pass:-0} passed, $((${fail:-0} + ${error:-0})) failed"
    exit 1
fi
make -j"$jobs" distcheck DISTCHECK_CONFIGURE_FLAGS=--enable-werror >/dev/null
echo "distcheck: passed"
echo "${pass:-0} passed, 0 failed"
