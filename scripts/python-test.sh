#!/bin/sh
# python-test.sh: installs the aecimg Python package (python/) into a fresh virtual environment, offline
# and without build isolation, as its README says, then runs its pytest tests against the library and
# tools of a build directory.  Uses Debian's python3-venv, -numpy, -pil, -pytest, -setuptools and -wheel
# (scripts/deps.sh installs them); $AECIMG_PYTHON names another interpreter (default /usr/bin/python3).
# Usage: sh scripts/python-test.sh [BUILDDIR]   (default build/; a plain, non-sanitizer build)
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
python=${AECIMG_PYTHON:-/usr/bin/python3}
lib=$build/src/.libs
if [ ! -e "$lib/libaecimg.so.1" ]; then
    echo "python-test: $lib/libaecimg.so.1 is not built" >&2
    exit 1
fi
if grep -q -- '-fsanitize' "$build/Makefile"; then
    echo "python-test: $build is a sanitizer build; the Python interpreter cannot load it" >&2
    exit 1
fi
if ! "$python" -c 'import numpy, PIL, pytest, venv, setuptools, wheel' 2>/dev/null; then
    echo "python-test: $python lacks numpy, Pillow, pytest, venv, setuptools or wheel;" \
        "install python3-numpy python3-pil python3-pytest python3-venv python3-setuptools python3-wheel" \
        "(sh scripts/deps.sh)" >&2
    exit 1
fi

venv=$build/python-venv
rm -rf "$venv" "$build/python-src"
"$python" -m venv --system-site-packages "$venv"
# pip builds in the folder it installs from (build/, *.egg-info): it gets a copy, the tree stays clean.
cp -R "$top/python" "$build/python-src"
PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore \
    "$venv/bin/python" -m pip install --quiet --no-index --no-build-isolation "$build/python-src"
rm -rf "$build/python-src"

# The tests import the installed package: they run from the build directory, where no aecimg/ is.
cd "$build"
where=$("$venv/bin/python" -c 'import importlib.util; print(importlib.util.find_spec("aecimg").origin)' 2>&1) || true
case $where in
"$venv"/*) ;;
*)
    echo "python-test: the installed package does not import from $venv: $where" >&2
    exit 1
    ;;
esac
LD_LIBRARY_PATH=$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} AECIMG_TEST_TOOLS=$build/tools OMP_WAIT_POLICY=passive \
    "$venv/bin/python" -m pytest -q -p no:cacheprovider "$top/python/tests"
