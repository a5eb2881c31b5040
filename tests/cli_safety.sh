#!/bin/sh
# cli_safety.sh: aec-encode and aec-decode never overwrite their input, replace an existing output
# only with -f, leave no temporary file, honour --max-pixels, and leave nothing behind when they
# are interrupted by SIGINT or SIGTERM.  Uses the tiny test model.  Exit 0 pass, 1 fail, 77 skip.

. "${top_srcdir:-.}/tests/cli_lib.sh"
AECIMG_MODEL=$srcdir_abs/tests/vectors/tiny.aecm
export AECIMG_MODEL
require_tools "$enc" "$dec" "$mut"
make_tmp safety

# refused DIR FILE ORIG COMMAND...: exit 1, one error line, FILE still equal to ORIG, and DIR
# holding what it held before (no temporary file).
refused() {
    r_dir=$1 r_file=$2 r_orig=$3
    shift 3
    r_before=$(ls -A "$r_dir")
    status_is 1 "$@" && [ "$(wc -l <"$tmp/err")" -eq 1 ] && cmp -s "$r_file" "$r_orig" &&
        [ "$(ls -A "$r_dir")" = "$r_before" ]
}

no_temp_files() { [ -z "$(ls -A "$1" | grep '^\.')" ]; }

"$mut" image 31 17 3 255 "$tmp/src.ppm" || exit 1
"$enc" --quiet -o "$tmp/src.aec" "$tmp/src.ppm" || exit 1

# ---- the input is never the output, however it is spelt, even with -f
d=$tmp/same
mkdir "$d" "$d/sub"
cp "$tmp/src.ppm" "$d/in.ppm"
cp "$tmp/src.aec" "$d/in.aec"
cp "$d/in.ppm" "$d/in.ppm.orig"
cp "$d/in.aec" "$d/in.aec.orig"
ln "$d/in.aec" "$d/hardlink.aec"
ln "$d/in.ppm" "$d/hardlink.ppm"
ln -s in.aec "$d/symlink.aec"
cp "$d/in.aec" "$d/disguised.png" # a .aec named .png: its default output name is itself
cp "$d/in.aec" "$d/disguised.png.orig"
for force in "" -f; do
    f=${force:-no -f}
    check "decode x.aec -o x.aec ($f): refused, input unchanged" \
        refused "$d" "$d/in.aec" "$d/in.aec.orig" "$dec" $force --format png -o "$d/in.aec" "$d/in.aec"
    check "decode -o ./dir/../dir/x.aec ($f): refused" \
        refused "$d" "$d/in.aec" "$d/in.aec.orig" "$dec" $force --format png -o "$d/sub/../in.aec" "$d/in.aec"
    check "decode -o a hard link to the input ($f): refused" \
        refused "$d" "$d/in.aec" "$d/in.aec.orig" "$dec" $force --format png -o "$d/hardlink.aec" "$d/in.aec"
    check "decode -o a symlink to the input ($f): refused" \
        refused "$d" "$d/in.aec" "$d/in.aec.orig" "$dec" $force --format png -o "$d/symlink.aec" "$d/in.aec"
    check "decode of x.png without -o, whose default output is x.png ($f): refused" \
        refused "$d" "$d/disguised.png" "$d/disguised.png.orig" "$dec" $force "$d/disguised.png"
    check "decode of stdin redirected from the output file ($f): refused" \
        refused "$d" "$d/in.aec" "$d/in.aec.orig" sh -c '"$1" $2 --format png -o "$3" - <"$3"' sh "$dec" "$force" "$d/in.aec"
    check "encode x.ppm -o x.ppm ($f): refused, input unchanged" \
        refused "$d" "$d/in.ppm" "$d/in.ppm.orig" "$enc" $force -o "$d/in.ppm" "$d/in.ppm"
    check "encode -o a hard link to the input ($f): refused" \
        refused "$d" "$d/in.ppm" "$d/in.ppm.orig" "$enc" $force -o "$d/hardlink.ppm" "$d/in.ppm"
    check "encode -o ./dir/../dir/x.ppm ($f): refused" \
        refused "$d" "$d/in.ppm" "$d/in.ppm.orig" "$enc" $force -o "$d/sub/../in.ppm" "$d/in.ppm"
done

# ---- an existing output is replaced only with -f, keeps its permissions; no temporary file stays
d=$tmp/exist
mkdir "$d"
printf 'keep me\n' >"$d/out.png"
cp "$d/out.png" "$d/out.png.orig"
printf 'keep me\n' >"$d/out.aec"
cp "$d/out.aec" "$d/out.aec.orig"
check "decode over an existing file without -f: refused, file unchanged" \
    refused "$d" "$d/out.png" "$d/out.png.orig" "$dec" -o "$d/out.png" "$tmp/src.aec"
check "encode over an existing file without -f: refused, file unchanged" \
    refused "$d" "$d/out.aec" "$d/out.aec.orig" "$enc" -o "$d/out.aec" "$tmp/src.ppm"
chmod 640 "$d/out.png"
check "decode -f replaces an existing file" status_is 0 "$dec" -f -o "$d/out.png" "$tmp/src.aec"
check "the replaced file is the decoded image" sh -c 'head -c 4 "$1" | od -An -c | grep -q "P   N   G"' sh "$d/out.png"
check "the replaced file keeps its permissions (640)" test "$(stat -c %a "$d/out.png")" = 640
check "encode -f replaces an existing file" status_is 0 "$enc" -f -o "$d/out.aec" "$tmp/src.ppm"
check "the replaced file is the encoded image" cmp -s "$d/out.aec" "$tmp/src.aec"
check "no temporary file after successful runs" no_temp_files "$d"

# ---- --max-pixels: the limit itself passes, one pixel fewer fails (31x17 = 527 pixels)
d=$tmp/limit
mkdir "$d"
check "encode --max-pixels 527 of 31x17: accepted" status_is 0 "$enc" --max-pixels 527 -o "$d/a.aec" "$tmp/src.ppm"
check "encode --max-pixels 526 of 31x17: exit 1" status_is 1 "$enc" --max-pixels 526 -o "$d/b.aec" "$tmp/src.ppm"
check "encode over the limit says so" grep -q 'exceeds the limit of 526 pixels' "$tmp/err"
check "decode --max-pixels 527 of 31x17: accepted" status_is 0 "$dec" --max-pixels 527 -o "$d/a.png" "$tmp/src.aec"
check "decode --max-pixels 526 of 31x17: exit 1" status_is 1 "$dec" --max-pixels 526 -o "$d/b.png" "$tmp/src.aec"
check "decode over the limit says so" grep -q 'image dimensions exceed the limits' "$tmp/err"
check "nothing written over the limit" test ! -e "$d/b.aec" -a ! -e "$d/b.png"
check "--max-pixels 0: usage error" status_is 2 "$dec" --max-pixels 0 -o "$d/c.png" "$tmp/src.aec"
check "--max-pixels above 65535^2: usage error" status_is 2 "$enc" --max-pixels 4294836226 -o "$d/c.aec" "$tmp/src.ppm"
check "--info ignores the limit" status_is 0 "$dec" --max-pixels 1 --info "$tmp/src.aec"
# A valid 65535x65535 header over a tiny payload: refused before anything is allocated for it
# (aecmut edits chunks, so a version-1 file; the compact form's limit is in test_container_compact).
"$enc" --quiet --format-version 1 -o "$d/src-v1.aec" "$tmp/src.ppm" || fail "encode of version 1 failed"
"$mut" set "$d/src-v1.aec" "$d/huge.aec" AHDR 1 0000ffff0000ffff || fail "aecmut set failed"
check "decode of a 65535x65535 header: exit 1 at the default limit" status_is 1 "$dec" -o "$d/huge.png" "$d/huge.aec"
check "no temporary file after refused runs" no_temp_files "$d"

# ---- interrupted runs leave neither the output nor a temporary file
d=$tmp/signal
mkdir "$d"
"$mut" image 1536 1536 3 255 "$tmp/big.ppm" || exit 1
"$enc" --quiet -o "$tmp/big.aec" "$tmp/big.ppm" || exit 1
rm -f "$tmp/big.ppm"

# A job started with & in a script ignores SIGINT, and so does the tool then (it keeps an ignored
# signal ignored); env --default-signal (coreutils 8.31) restores it.
sigint_env=
if env --default-signal=INT true 2>/dev/null; then
    sigint_env="env --default-signal=INT"
fi

sleep_a_little() { sleep 0.02 2>/dev/null || sleep 1; }

# interrupt SIGNAL WHEN [--latents]: decode the 1536x1536 file to PNG in the background and send
# SIGNAL when its temporary output file appears (WHEN=temp) or after 0.2 s (WHEN=early: usually
# still decoding, or already writing).  With --latents the tool also writes a .npy file, which it
# finishes before the PNG: WHEN=temp waits for both temporary files.
# The tool must die by the signal and leave the directory empty.
interrupt() {
    i_sig=$1 i_when=$2 i_files=1
    shift 2
    [ $# -gt 0 ] && set -- --latents "$d/out.npy" && i_files=2
    rm -rf "${d:?}"/* "$d"/.[!.]* 2>/dev/null
    if [ "$i_sig" = INT ]; then
        $sigint_env "$dec" --quiet -j 1 -o "$d/out.png" "$@" "$tmp/big.aec" 2>"$tmp/err" &
    else
        "$dec" --quiet -j 1 -o "$d/out.png" "$@" "$tmp/big.aec" 2>"$tmp/err" &
    fi
    i_pid=$!
    # Early: a signal sent at once can reach the forked shell (or env, before it restores SIGINT)
    # rather than the tool, and be lost; give the tool the moment it needs to start.
    [ "$i_when" = early ] && { sleep 0.2 2>/dev/null || sleep 1; }
    i_seen=no
    i_tries=0
    while [ "$i_tries" -lt 3000 ] && kill -0 "$i_pid" 2>/dev/null; do
        i_name=$(ls -A "$d")
        if [ "$i_when" = early ] || [ "$(echo "$i_name" | grep -c .)" -ge "$i_files" ]; then
            kill -"$i_sig" "$i_pid"
            [ -n "$i_name" ] && i_seen=yes
            break
        fi
        sleep_a_little
        i_tries=$((i_tries + 1))
    done
    wait "$i_pid"
    i_status=$?
    case $i_sig in INT) i_want=130 ;; TERM) i_want=143 ;; esac
    if [ "$i_when" = temp ] && [ "$i_seen" = no ]; then
        fail "SIG$i_sig: never saw the temporary file (exit status $i_status); the test image is too small"
        return
    fi
    if [ "$i_seen" = yes ]; then i_during="while $(echo "$i_name" | tr '\n' ' ')being written"; else i_during="while decoding"; fi
    check "SIG$i_sig $i_during: died by the signal (status $i_status)" test "$i_status" -eq "$i_want"
    check "SIG$i_sig ($i_when): no output file and no temporary file left" test -z "$(ls -A "$d")"
}
interrupt TERM early
interrupt TERM temp
interrupt TERM temp --latents
if [ -n "$sigint_env" ]; then
    interrupt INT early
    interrupt INT temp
else
    echo "SKIP: SIGINT (env has no --default-signal to undo the ignored SIGINT of background jobs)"
fi

# aec-encode killed while it waits for its input: nothing is created.
mkfifo "$d/fifo" 2>/dev/null && {
    sleep 30 >"$d/fifo" &
    holder=$!
    "$enc" -o "$d/out.aec" - <"$d/fifo" 2>"$tmp/err" &
    pid=$!
    sleep 1
    kill -TERM "$pid"
    wait "$pid"
    status=$?
    kill "$holder" 2>/dev/null
    wait "$holder" 2>/dev/null
    rm -f "$d/fifo"
    check "encode killed while reading its input: died by SIGTERM (status $status)" test "$status" -eq 143
    check "encode killed while reading its input: nothing left" test -z "$(ls -A "$d")"
}

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
