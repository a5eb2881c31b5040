#!/bin/sh
# cli_mutate.sh: damaged inputs make aec-decode and aec-encode fail cleanly.
# Valid .aec files of tests/conformance/ are truncated at many offsets, get single bits inverted
# and header fields corrupted (CRC repaired, by tests/aecmut); every damaged .aec of the conformance
# corpus is decoded too.  Each aec-decode run must end within the time limit with exit status 1
# (not a signal, not a timeout), one line on stderr ("aec-decode: NAME: reason"), and no output
# file and no temporary file in the output directory.  Damaged PNG, PNM and JPEG inputs must
# likewise make aec-encode fail cleanly, or (a flipped bit that the format does not protect)
# succeed with a valid .aec.  Uses the tiny test model.  Exit 0 pass, 1 fail, 77 skip.

. "${top_srcdir:-.}/tests/cli_lib.sh"
corpus=$srcdir_abs/tests/conformance
AECIMG_MODEL=$srcdir_abs/tests/vectors/tiny.aecm
export AECIMG_MODEL
require_tools "$enc" "$dec" "$mut"
# Under sanitizers or valgrind a run takes longer; a hang is what the limit is for.
limit=${AEC_TEST_TIMEOUT:-60}
run_limited=
command -v timeout >/dev/null 2>&1 && run_limited="timeout $limit"

make_tmp mutate
mkdir -p "$tmp/in" "$tmp/out" || exit 1
runs=0

# clean_failure TOOL STATUS OUT: status 1, one "TOOL: " line on stderr, nothing in $tmp/out.
clean_failure() {
    cf_lines=$(wc -l <"$tmp/err" | tr -d ' ')
    [ "$2" -eq 1 ] && [ "$cf_lines" -eq 1 ] && grep -q "^$1: " "$tmp/err" && [ -z "$(ls -A "$tmp/out")" ]
}

# decode_fails WHAT FILE: aec-decode FILE must fail cleanly.
decode_fails() {
    runs=$((runs + 1))
    $run_limited "$dec" -o "$tmp/out/out.png" "$2" >/dev/null 2>"$tmp/err"
    df_status=$?
    if ! clean_failure aec-decode "$df_status"; then
        fail "decode of $1: exit status $df_status, $(wc -l <"$tmp/err" | tr -d ' ') stderr line(s), left: $(ls -A "$tmp/out" | tr '\n' ' ')"
        sed 's/^/  | /' "$tmp/err"
        rm -rf "$tmp/out" && mkdir "$tmp/out"
    fi
}

# encode_ok_or_fails WHAT FILE MUST_FAIL: aec-encode FILE fails cleanly, or (unless MUST_FAIL is
# yes) succeeds with a .aec that aec-decode accepts.
encode_ok_or_fails() {
    runs=$((runs + 1))
    $run_limited "$enc" --quiet -o "$tmp/out/out.aec" "$2" >/dev/null 2>"$tmp/err"
    ef_status=$?
    if [ "$ef_status" -eq 0 ] && [ "$3" != yes ] && "$dec" --info "$tmp/out/out.aec" >/dev/null 2>&1 &&
        [ "$(ls -A "$tmp/out")" = out.aec ]; then
        rm -f "$tmp/out/out.aec"
        return
    fi
    if ! clean_failure aec-encode "$ef_status"; then
        fail "encode of $1: exit status $ef_status, $(wc -l <"$tmp/err" | tr -d ' ') stderr line(s), left: $(ls -A "$tmp/out" | tr '\n' ' ')"
        sed 's/^/  | /' "$tmp/err"
        rm -rf "$tmp/out" && mkdir "$tmp/out"
    fi
}

size_of() { wc -c <"$1" | tr -d ' '; }

# mutate ARGS...: tests/aecmut ARGS; a failure of the helper is a failure of the test.
mutate() {
    "$mut" "$@" && return 0
    fail "aecmut $* failed"
    return 1
}

# offsets SIZE COUNT: every offset below 16 (the signature and the first chunk header), then about
# COUNT more spread over the rest.
offsets() {
    awk -v n="$1" -v k="$2" 'BEGIN { for (i = 0; i < n && i < 16; i++) print i;
                                     step = int((n - 16) / k); if (step < 1) step = 1;
                                     for (i = 16 + int(step / 2); i < n; i += step) print i }'
}

# bits SIZE COUNT: COUNT bit positions spread over a SIZE-byte file (a fixed pseudo-random walk).
bits() {
    awk -v n="$1" -v k="$2" 'BEGIN { b = 8 * n; x = 7; for (i = 0; i < k; i++) { x = (x * 1103 + 4751) % 65521;
                                                                          print (x * 131 + i) % b } }'
}

# ---- aec-decode: truncations and bit flips of valid files
for name in ok-40x24-rgba-zstd ok-96x64-rgb-rans ok-48x32-icc ok-compact-23x9-gray-alpha-rans ok-compact-48x32-icc; do
    f=$corpus/$name.aec
    size=$(size_of "$f")
    for at in $(offsets "$size" 20); do
        mutate truncate "$f" "$tmp/in/t.aec" "$at" && decode_fails "$name cut to $at bytes" "$tmp/in/t.aec"
    done
    for bit in $(bits "$size" 30); do
        mutate flip "$f" "$tmp/in/b.aec" "$bit" && decode_fails "$name with bit $bit inverted" "$tmp/in/b.aec"
    done
done

# ---- aec-decode: header fields corrupted with the CRC repaired (the conformance corpus has more)
f=$corpus/ok-40x24-rgba-zstd.aec
for field in "AHDR 0 00" "AHDR 0 ff" "AHDR 1 ffffffff" "AHDR 5 00000000" "AHDR 1 0000400000004000" \
    "AHDR 9 00" "AHDR 9 03" "AHDR 10 11" "AHDR 12 80" "AMDL 5 00" "AMDL 32 00" "AMDL 32 3f" "AQNT 0 00" \
    "AQNT 1 ff" "ALAT 0 0000" "ALAT 2 00000000" "ALAT 6 ffffffff" "ADAT 0 00" "ADAT 1 01" "ADAT 2 ffff" \
    "ADAT 4 ffffffff" "ALPH 0 00" "ALPH 5 ff"; do
    # shellcheck disable=SC2086 # TYPE OFFSET HEX
    mutate set "$f" "$tmp/in/h.aec" $field && decode_fails "ok-40x24-rgba-zstd with $field" "$tmp/in/h.aec"
done
for f in "$corpus"/err-*.aec; do
    decode_fails "${f##*/}" "$f"
done

# ---- aec-encode: damaged PNG, PNM and JPEG inputs
images=$srcdir_abs/testimages
inputs="rgb-31x17.png interlaced-45x33.png rgb-40x30.ppm"
"$enc" --version 2>/dev/null | grep -q '^jpeg: yes$' && inputs="$inputs gray-96x64.jpg"
for name in $inputs; do
    f=$images/$name
    size=$(size_of "$f")
    ext=${name##*.}
    # Every truncation loses pixel data or the end marker: it must fail.
    for at in $(offsets "$size" 8 | awk 'NR % 2 == 0'); do
        mutate truncate "$f" "$tmp/in/t.$ext" "$at" && encode_ok_or_fails "$name cut to $at bytes" "$tmp/in/t.$ext" yes
    done
    for bit in $(bits "$size" 12); do
        mutate flip "$f" "$tmp/in/b.$ext" "$bit" && encode_ok_or_fails "$name with bit $bit inverted" "$tmp/in/b.$ext" no
    done
done

echo "$runs runs, $failed failed"
[ "$failed" -eq 0 ]
