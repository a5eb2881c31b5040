#!/bin/sh
# cli_batch.sh: aec-encode and aec-decode with many INPUTs: folders (-r), -o FOLDER/, a failing
# input reported by name while the others finish (exit 1), output names taken twice, --jobs
# worker processes (same bytes as one at a time; a killed worker or parent leaves no file), the
# progress line and summary, and the GNU parallel recipe of aec-encode(1) over two pretend ssh
# hosts and the local one.  Uses the tiny test model.  Exit 0 pass, 1 fail, 77 skip.

. "${top_srcdir:-.}/tests/cli_lib.sh"
AECIMG_MODEL=$srcdir_abs/tests/vectors/tiny.aecm
export AECIMG_MODEL
require_tools "$enc" "$dec" "$mut"
make_tmp batch

no_temp_files() { [ -z "$(find "$1" -name '.*' ! -name . ! -name .hidden.pam)" ]; }
listing() { (cd "$1" && find . | LC_ALL=C sort | tr '\n' ' '); }

in=$tmp/in
mkdir -p "$in/sub/deep" "$in/empty" || exit 1
"$mut" image 40 30 3 255 "$in/a.pam" || exit 1
"$mut" image 31 17 3 255 "$in/b.pam" || exit 1
"$mut" image 20 20 1 255 "$in/sub/c.pam" || exit 1
"$mut" image 24 18 4 255 "$in/sub/deep/d.pam" || exit 1
printf 'not an image\n' >"$in/broken.png"
cp "$in/a.pam" "$in/.hidden.pam"
printf 'notes\n' >"$in/notes.txt"
ln -s .. "$in/sub/loop" # a folder link: not followed, so no endless walk

# ---- the issue's example: one broken input among good ones
exits_1() { status_is 1 "$@"; }
check "encode a.pam broken.png b.pam -o out/: exit 1" \
    exits_1 "$enc" -q 30 "$in/a.pam" "$in/broken.png" "$in/b.pam" -o "$tmp/out/"
check "out/a.aec and out/b.aec written, nothing else" test "$(listing "$tmp/out")" = ". ./a.aec ./b.aec "
check "the error names broken.png" grep -q "^aec-encode: $in/broken.png: " "$tmp/err"
check "the summary counts 3 files, 2 encoded, 1 failed, naming it" \
    grep -Eq "^aec-encode: 3 files in [0-9.]+ s: 2 encoded \([0-9]+ bytes\), 1 failed: $in/broken.png$" "$tmp/err"
"$enc" --quiet -q 30 -o "$tmp/a-alone.aec" "$in/a.pam"
check "a file of many is the file of a single run" cmp -s "$tmp/out/a.aec" "$tmp/a-alone.aec"
check "a missing input fails alone" exits_1 "$enc" -f -q 30 "$in/a.pam" "$in/missing.png" -o "$tmp/out/"
check "  ... and is named" grep -q "^aec-encode: $in/missing.png: No such file" "$tmp/err"

# ---- folders
check "a folder: its images (hidden files, other files and subfolders left out)" \
    status_is 0 "$enc" "$in/sub" -o "$tmp/flat/"
check "  ... written as FOLDER/NAME.aec" test "$(listing "$tmp/flat")" = ". ./c.aec "
check "a folder with -r: subfolders kept below -o FOLDER/" \
    exits_1 "$enc" -r "$in" -o "$tmp/tree/"
check "  ... every image, broken.png failing" \
    test "$(listing "$tmp/tree")" = ". ./a.aec ./b.aec ./sub ./sub/c.aec ./sub/deep ./sub/deep/d.aec "
check "  ... the folder link was not followed" sh -c '! grep -q loop "$1"' - "$tmp/err"
check "a folder with no images: exit 1, said so" exits_1 "$enc" "$in/empty" -o "$tmp/none/"
check "  ... said so" grep -q "no files to code in this folder" "$tmp/err"
cp -R "$in" "$tmp/beside"
rm -f "$tmp/beside/broken.png"
check "without -o each output goes beside its input" status_is 0 "$enc" -r "$tmp/beside"
check "  ... as NAME.aec" test -f "$tmp/beside/a.aec" -a -f "$tmp/beside/sub/deep/d.aec"

# ---- decoding many
check "decode FILES -o FOLDER/" status_is 0 "$dec" "$tmp/tree/a.aec" "$tmp/tree/sub/c.aec" -o "$tmp/png/"
check "  ... FOLDER/NAME.png" test "$(listing "$tmp/png")" = ". ./a.png ./c.png "
"$dec" --quiet -o "$tmp/c-alone.png" "$tmp/tree/sub/c.aec"
check "  ... the same bytes as a single decode" cmp -s "$tmp/png/c.png" "$tmp/c-alone.png"
check "decode -r FOLDER --format pam" status_is 0 "$dec" -r --format pam "$tmp/tree" -o "$tmp/pam/"
check "  ... FOLDER/sub/deep/NAME.pam" test -f "$tmp/pam/sub/deep/d.pam"
cp "$in/a.pam" "$tmp/pam/bogus.aec"
check "a damaged .aec among many: exit 1, the others decoded" \
    exits_1 "$dec" -f "$tmp/pam/bogus.aec" "$tmp/tree/a.aec" -o "$tmp/pam/"
check "  ... named" grep -q "^aec-decode: $tmp/pam/bogus.aec: " "$tmp/err"
check "  ... no bogus.png" test ! -e "$tmp/pam/bogus.png" -a -f "$tmp/pam/a.png"

# ---- two inputs with one output name: the first is coded, the second fails
mkdir "$tmp/other"
cp "$in/b.pam" "$tmp/other/a.pam"
check "two inputs named a.pam: exit 1" exits_1 "$enc" "$in/a.pam" "$tmp/other/a.pam" -o "$tmp/dup/"
check "  ... the first one's file" cmp -s "$tmp/dup/a.aec" "$tmp/tree/a.aec"
check "  ... the second named" grep -q "^aec-encode: $tmp/other/a.pam: not coded: an earlier input has the same output" "$tmp/err"

# ---- existing outputs: refused file by file without -f, replaced with it
before=$(cksum "$tmp/out/a.aec")
check "again without -f: exit 1" exits_1 "$enc" -q 50 "$in/a.pam" "$in/b.pam" -o "$tmp/out/"
check "  ... each refusal named" test "$(grep -c 'already exists; use -f' "$tmp/err")" -eq 2
check "  ... the files unchanged" test "$(cksum "$tmp/out/a.aec")" = "$before"
check "again with -f: exit 0" status_is 0 "$enc" -f -q 50 "$in/a.pam" "$in/b.pam" -o "$tmp/out/"
check "no temporary files anywhere" no_temp_files "$tmp"

# ---- usage errors: nothing is written
usage() { status_is 2 "$@" && [ ! -e "$tmp/usage" ]; }
check "two INPUTs and -o FILE: exit 2" usage "$enc" "$in/a.pam" "$in/b.pam" -o "$tmp/usage"
check "a folder and -o FILE: exit 2" usage "$enc" "$in/sub" -o "$tmp/usage"
check "'-' among several INPUTs: exit 2" usage "$enc" - "$in/a.pam" -o "$tmp/usage/"
check "-o - with several INPUTs: exit 2" usage "$dec" "$tmp/tree/a.aec" "$tmp/tree/b.aec" -o -
check "standard input into -o FOLDER/: exit 2" sh -c '"$1" - -o "$2/usage/" <"$3" 2>/dev/null; [ $? -eq 2 ] && [ ! -e "$2/usage" ]' - "$enc" "$tmp" "$in/a.pam"
check "--jobs -1: exit 2" usage "$enc" --jobs -1 "$in/a.pam" -o "$tmp/usage/"
check "--jobs 257: exit 2" usage "$enc" --jobs 257 "$in/a.pam" -o "$tmp/usage/"

# ---- --jobs: worker processes give the same files and the same outcome
check "--jobs 3 -r: exit 1 (broken.png)" exits_1 "$enc" --jobs 3 -r "$in" -o "$tmp/jobs/"
check "  ... the same files as one at a time" sh -c 'diff -r "$1" "$2" >/dev/null' - "$tmp/tree" "$tmp/jobs"
check "  ... broken.png named, with the summary" \
    sh -c 'grep -q "/broken.png: unrecognized" "$1" && grep -q "5 files in .*4 encoded.*1 failed" "$1"' - "$tmp/err"
check "  ... every line of the workers whole" \
    sh -c '! grep -v -e "^aec-encode: " -e "^$2/.*: [0-9]*x[0-9]* -> " "$1"' - "$tmp/err" "$in"
check "decode --jobs 2 -r: exit 0" status_is 0 "$dec" --jobs 2 -r "$tmp/jobs" -o "$tmp/jobs-png/"
check "  ... 4 images" test "$(find "$tmp/jobs-png" -name '*.png' | wc -l)" -eq 4

# ---- the progress line on a terminal (script(1) gives one)
if script -qec true /dev/null >/dev/null 2>&1; then
    script -qec "'$enc' --jobs 2 -f -r '$in' -o '$tmp/jobs/' 2>&1 >/dev/null" /dev/null >"$tmp/tty" 2>&1
    check "on a terminal: a progress line, erased before other lines" \
        sh -c 'tr "\r" "\n" <"$1" | grep -q "^aec-encode: [0-9]/5 done, [0-9] failed, .* elapsed"' - "$tmp/tty"
    "$enc" --jobs 2 -f -r "$in" -o "$tmp/jobs/" 2>"$tmp/err"
    check "not on a terminal: no progress line" sh -c '! grep -q " done, " "$1"' - "$tmp/err"
else
    echo "SKIP: progress line (script(1) cannot run)"
fi

# ---- a worker killed while writing: its file fails, its temporary file is removed, the rest goes on
"$mut" image 1536 1536 3 255 "$tmp/big.pam" || exit 1
"$enc" --quiet -o "$tmp/big.aec" "$tmp/big.pam" || exit 1
rm -f "$tmp/big.pam"
mkdir "$tmp/bigs"
for k in 1 2 3 4; do cp "$tmp/big.aec" "$tmp/bigs/big$k.aec"; done
sleep_a_little() { sleep 0.02 2>/dev/null || sleep 1; }
# children_of PID: the processes whose parent is PID, from /proc (ps may not be installed).
children_of() {
    awk -v p="$1" '{ pid = $1; sub(/^.*\) /, ""); if ($2 == p) print pid }' /proc/[0-9]*/stat 2>/dev/null
}
# wait_for_temp DIR PID: until a temporary file shows in DIR (or PID ends); 0 if one did.
wait_for_temp() {
    wt_tries=0
    while [ "$wt_tries" -lt 3000 ] && kill -0 "$2" 2>/dev/null; do
        [ -n "$(ls -A "$1" | grep '^\.')" ] && return 0
        sleep_a_little
        wt_tries=$((wt_tries + 1))
    done
    return 1
}
mkdir "$tmp/killed"
"$dec" --jobs 2 -j 1 "$tmp/bigs" -o "$tmp/killed/" 2>"$tmp/err" &
pid=$!
if wait_for_temp "$tmp/killed" "$pid"; then
    victim=$(children_of "$pid" | head -n 1)
    [ -n "$victim" ] && kill -KILL "$victim"
    check "  (a worker process found to kill)" test -n "$victim"
    wait "$pid"
    status=$?
    check "a worker killed by SIGKILL: exit 1" test "$status" -eq 1
    check "  ... the file it held named as failed" grep -q "the worker process coding it was killed by signal 9" "$tmp/err"
    check "  ... the other worker decoded the rest" test "$(ls "$tmp/killed" | wc -l)" -eq 3
    check "  ... its temporary file removed" no_temp_files "$tmp/killed"
else
    wait "$pid"
    fail "a worker killed by SIGKILL: never saw a temporary file"
fi

# SIGTERM to the parent alone reaches the workers, which remove their files.
mkdir "$tmp/termed"
"$dec" --jobs 2 -j 1 "$tmp/bigs" -o "$tmp/termed/" 2>"$tmp/err" &
pid=$!
if wait_for_temp "$tmp/termed" "$pid"; then
    workers=$(children_of "$pid" | tr '\n' ' ')
    check "  (2 worker processes running)" test "$(echo $workers | wc -w)" -eq 2
    kill -TERM "$pid"
    wait "$pid"
    status=$?
    # The workers need a moment (a loaded machine: several) to remove their files and die.
    tries=0
    while :; do
        alive=
        for w in $workers; do kill -0 "$w" 2>/dev/null && alive="$alive $w"; done
        [ -z "$alive" ] || [ "$tries" -ge 300 ] && break
        sleep 0.1 2>/dev/null || sleep 1
        tries=$((tries + 1))
    done
    check "SIGTERM to the parent with --jobs 2: died by it (status $status)" test "$status" -eq 143
    check "  ... no worker left running" test -z "$alive"
    check "  ... no temporary file left" no_temp_files "$tmp/termed"
else
    wait "$pid"
    fail "SIGTERM with --jobs: never saw a temporary file"
fi

# ---- the GNU parallel recipe of aec-encode(1), over two pretend ssh hosts and this one (:)
if command -v parallel >/dev/null 2>&1 && command -v rsync >/dev/null 2>&1 &&
    parallel --will-cite --version 2>/dev/null | grep -q 'GNU parallel'; then
    # fakessh HOST COMMAND...: ssh to a host whose home is $tmp/hosts/HOST: the words of COMMAND
    # joined by spaces and run by a shell there, as ssh does.  sshd sets SHELL to the login shell,
    # and parallel's remote worker runs the job with $SHELL: without it (CI's environment has no
    # SHELL) the job silently never runs.
    cat >"$tmp/fakessh" <<'EOF'
#!/bin/sh
while [ $# -gt 0 ]; do
    case $1 in
    -l | -p | -o | -i | -S | -O | -c | -m | -F) shift 2 ;;
    -*) shift ;;
    *) break ;;
    esac
done
host=$1
shift
[ "$1" = -- ] && shift
mkdir -p "$FAKE_HOSTS/$host" && cd "$FAKE_HOSTS/$host" && HOME=$FAKE_HOSTS/$host SHELL=/bin/sh exec sh -c "$*"
EOF
    chmod +x "$tmp/fakessh"
    mkdir -p "$tmp/hosts" "$tmp/photos/sub"
    cp "$in/a.pam" "$in/b.pam" "$in/broken.png" "$tmp/photos/"
    cp "$in/sub/c.pam" "$tmp/photos/sub/"
    (
        cd "$tmp" || exit 1
        FAKE_HOSTS=$tmp/hosts PATH=$builddir_abs/tools:$PATH
        export FAKE_HOSTS PATH
        # The recipe, with --ssh pointing at the pretend hosts.
        find photos -name '*.png' -o -name '*.pam' | LC_ALL=C sort |
            parallel --will-cite --ssh "$tmp/fakessh" -S 1/alpha,1/beta,: --trc '{.}.aec' \
                aec-encode --quiet -j 1 -q 30 '{}' -o '{.}.aec'
    ) >/dev/null 2>"$tmp/err"
    status=$?
    check "GNU parallel over ssh hosts: exit status 1 (one failed job)" test "$status" -eq 1
    # On a failure, says which file and how, with what parallel printed and what the hosts hold.
    same_as_local() {
        for f in a b sub/c; do
            if [ ! -f "$tmp/photos/$f.aec" ]; then
                echo "  photos/$f.aec missing"
            elif ! "$enc" --quiet -f -q 30 -o "$tmp/local.aec" "$tmp/photos/$f.pam"; then
                echo "  photos/$f.pam: the local encode failed"
            elif ! cmp "$tmp/local.aec" "$tmp/photos/$f.aec"; then
                echo "  photos/$f.aec differs from a local encode"
            else
                continue
            fi
            sed 's/^/  | /' "$tmp/err"
            (cd "$tmp" && find photos hosts -exec ls -ld {} +) | sed 's/^/  | /'
            return 1
        done
    }
    check "  ... every file back beside its input, the bytes of a local run" same_as_local
    check "  ... broken.png named, no broken.aec" \
        sh -c 'grep -q "photos/broken.png: unrecognized" "$1" && [ ! -e "$2/photos/broken.aec" ]' - "$tmp/err" "$tmp"
    check "  ... the hosts cleaned up (--trc)" test -z "$(find "$tmp/hosts" -type f)"
else
    echo "SKIP: the GNU parallel recipe (needs parallel and rsync; Debian: parallel rsync)"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
