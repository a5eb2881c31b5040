#!/bin/sh
# refine_speed.sh [-n "FEW MANY"] [-r RUNS] [-t "THREADS..."] IMAGE LABEL=TOOLS_DIR[:LEVEL]...
# Seconds per latent-refinement iteration of the whole aec-encode command: the best of RUNS wall
# times of `aec-encode --refine MANY` minus that of `--refine FEW`, over MANY - FEW.  The difference
# leaves out everything an encode does once (reading the PNG, loading the model, the analysis,
# refinement's set-up, entropy coding), so builds of different ages compare per iteration; the
# set-up is what FEW iterations cost beyond an encode without refinement and FEW times the slope.
# LEVEL caps the kernels (AECIMG_CPU_MAX) for builds that know it.  Prints a Markdown table.
set -e
few=10 many=40 runs=3 threads="1 $(nproc)"
while getopts n:r:t: opt; do
    case $opt in
    n)
        few=${OPTARG% *}
        many=${OPTARG#* }
        ;;
    r) runs=$OPTARG ;;
    t) threads=$OPTARG ;;
    *) exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -ge 2 ] || { echo "usage: $0 [-n "FEW MANY"] [-r RUNS] [-t THREADS] IMAGE LABEL=TOOLS_DIR[:LEVEL]..." >&2; exit 2; }
image=$1
shift
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# best_seconds TOOLS LEVEL THREADS OPTIONS...: the shortest of $runs wall times, in seconds.
best_seconds() {
    tools=$1 level=$2 t=$3
    shift 3
    best=
    i=0
    while [ $i -lt "$runs" ]; do
        start=$(date +%s.%N)
        AECIMG_CPU_MAX=$level "$tools/aec-encode" --quiet -f -j "$t" "$@" "$image" -o "$tmp/out.aec"
        end=$(date +%s.%N)
        best=$(echo "$start $end ${best:-1e9}" | awk '{ d = $2 - $1; print (d < $3) ? d : $3 }')
        i=$((i + 1))
    done
    echo "$best"
}

echo "| build | kernels | threads | encode s, no refinement | $few iterations | $many iterations | s per iteration | set-up s |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
for build in "$@"; do
    label=${build%%=*}
    tools=${build#*=}
    level=
    case $tools in *:*) level=${tools##*:} tools=${tools%:*} ;; esac
    # Builds with --effort take --refine 0 as "the effort level's"; effort 0 refines nothing.
    plain=--refine=0
    "$tools/aec-encode" --help 2>&1 | grep -q -- --effort && plain=--effort=0
    for t in $threads; do
        base=$(best_seconds "$tools" "$level" "$t" "$plain")
        t_few=$(best_seconds "$tools" "$level" "$t" "$plain" --refine="$few")
        t_many=$(best_seconds "$tools" "$level" "$t" "$plain" --refine="$many")
        echo "$base $t_few $t_many $few $many" | awk -v label="$label" -v level="${level:-best}" -v t="$t" '{
            per = ($3 - $2) / ($5 - $4)
            printf "| %s | %s | %s | %.2f | %.2f | %.2f | %.3f | %.2f |\n", label, level, t, $1, $2, $3, per, $2 - $1 - $4 * per
        }'
    done
done
