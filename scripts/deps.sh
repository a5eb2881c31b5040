#!/bin/sh
# Installs the Debian packages aec needs to build, test and benchmark (run as root, or with sudo).
# clang with libclang-rt-dev (libFuzzer) and valgrind are for the checks of scripts/test.sh; file,
# shared-mime-info, libglib2.0-bin (gio), libgdk-pixbuf2.0-bin and imagemagick for those of the
# plugins (tests/installcheck.sh); the python3 packages for the aecimg Python package and its tests
# (scripts/python-test.sh); chromium renders aec-bench --html's page in a test; parallel and rsync
# run the test of the several-machines recipe of aec-encode(1).
set -e
packages="build-essential autoconf automake libtool pkg-config
  libpng-dev libzstd-dev libjpeg62-turbo-dev libcmocka-dev
  libwebp-dev libavif-dev libjxl-dev man-db groff-base libgdk-pixbuf-2.0-dev
  clang libclang-rt-dev valgrind chromium parallel rsync
  file shared-mime-info libglib2.0-bin libgdk-pixbuf2.0-bin imagemagick
  python3 python3-venv python3-numpy python3-pil python3-pytest python3-setuptools python3-wheel"
missing=$(for p in $packages; do dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "ok installed" || echo "$p"; done)
[ -z "$missing" ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
