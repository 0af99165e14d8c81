#!/usr/bin/env bash
# Times builds of mosagg against each other on one data set, alternated run by run, so
# the shared machine's drift falls on every build alike: how BENCHMARKS.md's "builds
# alternated" figures are made.
#
#   bench/ab.sh [-n RUNS] DATA_DIR BIN_A BIN_B [BIN...] [-- AGGREGATE_ARGS...]
#
# DATA_DIR holds the shards and their inputs.txt (gen-shards writes both). Before each
# run the shards are read once through the page cache (`cat`, not timed), so that every
# run reads them cached: mosagg reads the bytes the cache lacks straight from the disk
# and leaves them out of it (src/file_bytes.rs), so without this a set that a cold run
# dropped from the cache would stay cold for every build, and the runs would time the
# disk. (BENCH_AB_COLD=1 skips it, for builds compared on whatever the cache holds.)
# Each run of
# each build writes into a fresh folder under $AB_OUT, with --aggregated-at fixed so
# that the outputs of the builds compare byte for byte. Without AB_OUT, a temp folder
# is used, and removed at the end unless the outputs differ or a run failed.
# Prints each build's median and minimum wall time and CPU time (user + kernel), and
# exits 1 if a build's JSONL or Parquet differs from the first build's.
set -euo pipefail

usage() {
    sed -n '6p' "$0" | sed 's/^#  *//' >&2
    exit 2
}

runs=10
if [[ "${1:-}" == "-n" ]]; then
    runs="${2:-}"
    shift 2 || usage
fi
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || usage
[[ $# -ge 3 ]] || usage
data="$1"
shift
bins=()
while [[ $# -gt 0 && "$1" != "--" ]]; do
    bins+=("$1")
    shift
done
[[ "${1:-}" == "--" ]] && shift
extra=("$@")
[[ ${#bins[@]} -ge 2 ]] || usage

TIME=/usr/bin/time
[[ -x "$TIME" ]] || { echo "ab.sh: GNU time is needed at $TIME" >&2; exit 2; }
[[ -f "$data/inputs.txt" ]] || { echo "ab.sh: $data/inputs.txt not found" >&2; exit 2; }
for i in "${!bins[@]}"; do
    [[ -x "${bins[$i]}" ]] || { echo "ab.sh: ${bins[$i]} is not an executable" >&2; exit 2; }
    # Absolute, since the runs start in DATA_DIR.
    bins[i]="$(realpath "${bins[$i]}")"
done
mapfile -t inputs < <(grep -v '^[[:space:]]*$' "$data/inputs.txt")

if [[ -n "${AB_OUT:-}" ]]; then
    mkdir -p "$AB_OUT"
    out="$(realpath "$AB_OUT")"
    own=""
else
    out="$(mktemp -d)"
    own=1
fi
cd "$data"

# One line per run and build: index, wall, user, kernel.
times="$out/times.txt"
: >"$times"
for ((r = 0; r < runs; r++)); do
    for i in "${!bins[@]}"; do
        dir="$out/build$i"
        rm -rf "$dir"
        mkdir -p "$dir"
        [[ -n "${BENCH_AB_COLD:-}" ]] || cat "${inputs[@]}" >/dev/null
        if ! "$TIME" -f "$i %e %U %S" -a -o "$times" "${bins[$i]}" aggregate \
            --inputs "${inputs[@]}" --output "$dir/u.jsonl" \
            --aggregated-at 2026-01-01T00:00:00+00:00 "${extra[@]}" \
            >/dev/null 2>"$dir/stderr"; then
            echo "ab.sh: ${bins[$i]} failed (run $((r + 1))):" >&2
            tail -5 "$dir/stderr" >&2
            echo "ab.sh: its output folder: $dir" >&2
            exit 1
        fi
    done
done

# Median and minimum of a column of numbers on stdin.
stats() {
    sort -g | awk '{ v[NR] = $1 } END {
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "median %.3f min %.3f", m, v[1] }'
}

status=0
echo "$runs runs each, alternated; data: $data"
for i in "${!bins[@]}"; do
    wall=$(awk -v i="$i" '$1 == i { print $2 }' "$times" | stats)
    cpu=$(awk -v i="$i" '$1 == i { print $3 + $4 }' "$times" | stats)
    same=""
    if [[ $i -gt 0 ]]; then
        same="same outputs"
        for f in u.jsonl u.parquet; do
            if ! cmp -s "$out/build0/$f" "$out/build$i/$f"; then
                same="$f DIFFERS from ${bins[0]}'s"
                status=1
            fi
        done
    fi
    printf '%s: wall %s s, CPU %s s %s\n' "${bins[$i]}" "$wall" "$cpu" "${same:+($same)}"
done
if [[ $status -ne 0 ]]; then
    echo "ab.sh: the outputs are in $out" >&2
elif [[ -n "$own" ]]; then
    rm -rf "$out"
fi
exit "$status"
