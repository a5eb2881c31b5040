#!/bin/sh
# memory.sh TOOLS_DIR IMAGE_DIR OUT.md
# Peak resident memory (/usr/bin/time -v) and wall time of aec-encode and aec-decode on a 6000x4000
# photo mosaic built from IMAGE_DIR's first 16 PNGs, at 1 thread and at all threads, with the default
# tile size and with --tile 0 (whole image).  Fails unless the files and decoded PNGs are identical
# for every thread count and tile size.
set -e
tools=$1 images=$2 out=$3
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
/usr/bin/python3 "$here/big_image.py" "$tmp/big.png" $(ls "$images"/*.png | head -16)

# run NAME COMMAND...: one table row from /usr/bin/time -v.
run() {
    name=$1
    shift
    /usr/bin/time -v "$@" 2>"$tmp/time.log" >/dev/null
    rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$tmp/time.log")
    wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$tmp/time.log")
    echo "| $name | $wall | $((rss / 1024)) |" >>"$tmp/rows"
}

all=$(nproc)
for t in 1 "$all"; do
    run "aec-encode -j $t" "$tools/aec-encode" -f -j "$t" "$tmp/big.png" -o "$tmp/j$t.aec"
    run "aec-decode -j $t" "$tools/aec-decode" -f -j "$t" "$tmp/j1.aec" -o "$tmp/j$t.png"
done
run "aec-encode -j $all --tile 0" "$tools/aec-encode" -f -j "$all" --tile 0 "$tmp/big.png" -o "$tmp/whole.aec"
run "aec-decode -j $all --tile 0" "$tools/aec-decode" -f -j "$all" --tile 0 "$tmp/j1.aec" -o "$tmp/whole.png"
cmp "$tmp/j1.aec" "$tmp/j$all.aec"
cmp "$tmp/j1.aec" "$tmp/whole.aec"
cmp "$tmp/j1.png" "$tmp/j$all.png"
cmp "$tmp/j1.png" "$tmp/whole.png"

{
    echo "# Peak memory on a 6000x4000 photo"
    echo
    echo "$(uname -m), $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $all cores; $(date -u +%Y-%m-%d)."
    echo "Input: a 24-megapixel PNG mosaic of $images (bench/big_image.py), $(stat -c %s "$tmp/big.png") bytes;"
    echo ".aec file: $(stat -c %s "$tmp/j1.aec") bytes at the default quality.  Decoding writes a PNG."
    echo "Files and decoded PNGs are byte-identical across thread counts and tile sizes (cmp)."
    echo
    echo "| command | wall | peak RSS MiB |"
    echo "|---|---:|---:|"
    cat "$tmp/rows"
} >"$out.tmp"
mv -f "$out.tmp" "$out"
cat "$out"
