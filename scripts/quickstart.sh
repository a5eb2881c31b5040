#!/bin/sh
# Installs the dependencies, builds aec in build/, then runs the main job on testimages/:
# an encode/decode round trip of each photo and a rate-distortion table against PNG and JPEG.
set -e
cd "$(dirname "$0")/.."
top=$(pwd)
sh scripts/deps.sh
[ -x configure ] || ./autogen.sh >/dev/null
mkdir -p build
cd build
[ -f Makefile ] || "$top/configure" >/dev/null
make -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
out=$(pwd)/quickstart
mkdir -p "$out"
echo "== round trip (aec-encode -q 50, aec-decode)"
for img in "$top"/testimages/kodim*.png; do
    name=$(basename "$img" .png)
    tools/aec-encode -f -q 50 "$img" -o "$out/$name.aec"
    tools/aec-decode -f "$out/$name.aec" -o "$out/$name.png"
done
echo
echo "== rate-distortion table against PNG and JPEG (aec-bench)"
tools/aec-bench --runs 1 --codecs aec,png,jpeg --out-dir "$out" "$top"/testimages/kodim*.png
echo
echo "decoded images, CSV, JSON and the SVG plot: $out"
