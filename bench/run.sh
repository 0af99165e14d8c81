#!/usr/bin/env bash
# Benchmark `mosagg aggregate` against the Python reference aggregator and a
# hand-written DuckDB baseline on synthetic shards, then mosagg alone on ~10M
# rows. See bench/README.md for the knobs. Rerunnable: tools are installed and
# data generated only when missing.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: bench/run.sh [--quick]
  --quick   only the realistic (~193k rows) set; skip the ~10M-row run
Environment (all optional):
  MOSAGG_REF_AGGREGATOR  path to ai/scripts/aggregate_corpora.py (Python reference)
  MOSAGG_BENCH_FLAGS     extra flags for every mosagg run, e.g. "--memory-limit 2GiB"
  MOSAGG_BIN             use this mosagg binary instead of building one
  MOSAGG_BIN_B           a second build, timed beside the first as "mosagg-b" in every
                         hyperfine run (e.g. bench/pgo-build.sh's); its outputs must be
                         the first build's bytes
  BENCH_SKIP_MOSAGG=1    leave mosagg out entirely (no build; baselines only)
  CARGO_TARGET_DIR       cargo target dir (default /root/.cache/mosagg-target)
  BENCH_DATA             data + outputs dir (default /tmp/mosagg-bench)
  BENCH_VENV             venv for duckdb/polars/pandas (default /root/.cache/mosagg-bench-venv)
  BENCH_SEED             generator seed (default 42)
  BENCH_RUNS             timed runs per tool, realistic set (default 5)
  BENCH_RUNS_10M         timed runs, 10m set (default 2)
  BENCH_SCALE_RUNS       runs of each set in the cost-per-row table, the medians kept
                         (default 3)
  BENCH_SKIP_DUCKDB=1    skip the DuckDB baseline
  BENCH_SKIP_POLARS=1    skip the polars baseline
  BENCH_NO_INSTALL=1     never apt-get/pip install; skip what is missing
  BENCH_10M_BASELINES=1  also run DuckDB and polars on the 10m set (~12-15 GiB each)
  BENCH_SKIP_COLD=1      skip the runs on inputs dropped from the page cache first
  MOSAGG_FLOOR_BIN       use this floor probe (bench/floor.rs) instead of building one
  BENCH_FLOOR_RUNS       floor probe runs per set, the median kept (default 3)
EOF
}

QUICK=0
for arg in "$@"; do
    case "$arg" in
        --quick) QUICK=1 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "run.sh: unknown argument: $arg" >&2; usage >&2; exit 2 ;;
    esac
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/bench"
RESULTS="$BENCH/results"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/root/.cache/mosagg-target}"
DATA="${BENCH_DATA:-/tmp/mosagg-bench}"
VENV="${BENCH_VENV:-/root/.cache/mosagg-bench-venv}"
SEED="${BENCH_SEED:-42}"
RUNS="${BENCH_RUNS:-5}"
RUNS_10M="${BENCH_RUNS_10M:-2}"
SCALE_RUNS="${BENCH_SCALE_RUNS:-3}"
[[ "$SCALE_RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: BENCH_SCALE_RUNS must be a positive number" >&2; exit 2; }
# Pinned so mosagg's and DuckDB's outputs are reproducible run to run (the
# Python reference cannot pin it; output comparison ignores this field).
AGG_AT="2026-05-09T00:00:00+00:00"
read -r -a MOSAGG_FLAGS <<<"${MOSAGG_BENCH_FLAGS:-}"

# Results describe the last run only; stale files from an earlier run with
# other tools or sets would be mistaken for current ones.
mkdir -p "$RESULTS"
rm -f "${RESULTS:?}"/*
# Each step's start, with the time of day, also in results/phases.log: machine.log (below)
# then tells what the machine was doing around any run that stands out.
log() {
    local t
    t=$(date -u +%H:%M:%S)
    printf '\n==> [%s] %s\n' "$t" "$*" >&2
    printf '%s %s\n' "$t" "$*" >>"$RESULTS/phases.log"
}
warn() { printf 'run.sh: %s\n' "$*" >&2; }
# The guest's steal time so far (all CPUs, in clock ticks), from /proc/stat.
steal_ticks() { awk '$1 == "cpu" {print $9; exit}' /proc/stat; }

# ---------------------------------------------------------------- tools ----

can_install() { [[ -z "${BENCH_NO_INSTALL:-}" ]]; }

apt_install() {
    can_install || return 1
    local sudo=()
    [[ $EUID -ne 0 ]] && sudo=(sudo)
    # `apt-get update` only when the cached package lists cannot satisfy us.
    # `env` inside sudo, since sudo drops the caller's environment.
    local install=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends)
    "${install[@]}" "$@" || { "${sudo[@]}" apt-get update -q && "${install[@]}" "$@"; }
}

if ! command -v hyperfine >/dev/null; then
    log "installing hyperfine"
    apt_install hyperfine || { warn "hyperfine is required"; exit 1; }
fi
if [[ ! -x /usr/bin/time ]]; then
    # GNU time, for peak RSS (bash's `time` keyword cannot report it).
    log "installing GNU time"
    apt_install time || { warn "/usr/bin/time (package 'time') is required"; exit 1; }
fi

# ---------------------------------------------------------------- build ----

log "building gen-shards"
cargo build --release --quiet --manifest-path "$BENCH/gen/Cargo.toml"
GEN="$CARGO_TARGET_DIR/release/gen-shards"

MOSAGG="${MOSAGG_BIN:-}"
if [[ -n "${BENCH_SKIP_MOSAGG:-}" ]]; then
    warn "BENCH_SKIP_MOSAGG set: mosagg is neither built nor run"
    MOSAGG=""
elif [[ -z "$MOSAGG" ]]; then
    log "building mosagg (release)"
    if cargo build --release --manifest-path "$ROOT/Cargo.toml"; then
        MOSAGG="$CARGO_TARGET_DIR/release/mosagg"
    else
        # Keep going: the baselines are still worth measuring mid-development.
        warn "mosagg failed to build; its rows are skipped"
    fi
fi
# The floor probe (bench/floor.rs): the work no run can skip, timed part by part with
# mosagg's own code, so every goal has its floor measured in the same run.
FLOOR="${MOSAGG_FLOOR_BIN:-}"
if [[ -z "$FLOOR" && -z "${BENCH_SKIP_MOSAGG:-}" ]]; then
    log "building the floor probe (release example)"
    if cargo build --release --example floor --manifest-path "$ROOT/Cargo.toml"; then
        FLOOR="$CARGO_TARGET_DIR/release/examples/floor"
    else
        warn "the floor probe failed to build; the floor is not measured"
    fi
fi
if [[ -n "$MOSAGG" && ! -x "$MOSAGG" ]]; then
    warn "mosagg binary not found at $MOSAGG; its rows are skipped"
    MOSAGG=""
fi
# A second build to time beside the first: only with a first one to compare it to.
MOSAGG_B="${MOSAGG_BIN_B:-}"
if [[ -n "$MOSAGG_B" && ( -z "$MOSAGG" || ! -x "$MOSAGG_B" ) ]]; then
    warn "MOSAGG_BIN_B=$MOSAGG_B: not an executable, or no first mosagg build; mosagg-b is skipped"
    MOSAGG_B=""
fi

# Python for the baselines: system python3 when it already has what is
# needed, else a private venv (never the system site-packages).
ensure_venv_pkg() { # module pip-name
    can_install || return 1
    if [[ ! -x "$VENV/bin/python" ]]; then
        python3 -m venv "$VENV" || return 1
    fi
    "$VENV/bin/python" -c "import $1" 2>/dev/null ||
        "$VENV/bin/pip" install -q "$2" || return 1
}

DUCK_PY=""
if [[ -n "${BENCH_SKIP_DUCKDB:-}" ]]; then
    warn "BENCH_SKIP_DUCKDB set: skipping the DuckDB baseline"
elif python3 -c 'import duckdb' 2>/dev/null; then
    DUCK_PY="python3"
elif ensure_venv_pkg duckdb duckdb; then
    DUCK_PY="$VENV/bin/python"
else
    warn "duckdb not importable and could not be installed: skipping the DuckDB baseline"
fi

POLARS_PY=""
if [[ -n "${BENCH_SKIP_POLARS:-}" ]]; then
    warn "BENCH_SKIP_POLARS set: skipping the polars baseline"
elif python3 -c 'import polars' 2>/dev/null; then
    POLARS_PY="python3"
elif ensure_venv_pkg polars polars; then
    POLARS_PY="$VENV/bin/python"
else
    warn "polars not importable and could not be installed: skipping the polars baseline"
fi

REF="${MOSAGG_REF_AGGREGATOR:-}"
REF_PY=""
REF_PYTHONPATH=""
if [[ -z "$REF" ]]; then
    warn "MOSAGG_REF_AGGREGATOR not set: skipping the Python reference (see bench/README.md)"
elif [[ ! -f "$REF" ]]; then
    warn "MOSAGG_REF_AGGREGATOR=$REF does not exist: skipping the Python reference"
else
    # .../ai/scripts/aggregate_corpora.py -> .../ai/src holds its `aiutils`.
    REF_PYTHONPATH="$(cd "$(dirname "$REF")/.." && pwd)/src"
    # aiutils/__init__ imports its parquet helper, which imports pandas, so
    # the "stdlib-only" script needs pandas just to start.
    if PYTHONPATH="$REF_PYTHONPATH" python3 -c 'import aiutils' 2>/dev/null; then
        REF_PY="python3"
    elif ensure_venv_pkg pandas pandas &&
        PYTHONPATH="$REF_PYTHONPATH" "$VENV/bin/python" -c 'import aiutils'; then
        REF_PY="$VENV/bin/python"
    else
        warn "cannot import the reference's aiutils (needs pandas): skipping the Python reference"
    fi
fi

# ----------------------------------------------------------------- data ----

gen_data() { # preset -> dir
    local dir="$DATA/$1"
    log "data: $1 in $dir"
    "$GEN" --out "$dir" --preset "$1" --seed "$SEED" --keep-existing
}

# Fills INPUTS with the shard paths of a data dir, in operator order.
load_inputs() {
    INPUTS=()
    local rel
    while IFS= read -r rel; do
        [[ -n "$rel" ]] && INPUTS+=("$1/$rel")
    done <"$1/inputs.txt"
}

rows_in() { sed -n 's/.* rows=\([0-9]*\).*/\1/p' "$1/gen-shards.stamp"; }

# -------------------------------------------------------------- running ----

# Every input of the current set read once through the page cache, before a timed run
# (not timed). mosagg reads bytes the cache lacks straight from the disk and leaves them
# out of it (src/file_bytes.rs), so a set no other tool has read lately (the 1m and 3m
# sets, or the 10m set after polars' 20 GiB pushed it out) would otherwise be timed
# from the disk; the tables but the cold ones are of cached inputs.
warm_inputs() { cat "${INPUTS[@]}" >/dev/null; }
# The same, as a command for hyperfine's --prepare (run through sh).
warm_cmd() { printf '%q ' cat "${INPUTS[@]}"; printf '>/dev/null'; }

# Shell-quoted command line for one tool (hyperfine runs it through sh).
tool_cmd() { # tool outdir
    local out="$2/$1/unified_corpus.jsonl" q=()
    case "$1" in
        mosagg | mosagg-b)
            local bin="$MOSAGG"
            [[ "$1" == mosagg-b ]] && bin="$MOSAGG_B"
            q=("$bin" aggregate --inputs "${INPUTS[@]}" --output "$out"
                --aggregated-at "$AGG_AT" "${MOSAGG_FLAGS[@]}") ;;
        python-ref)
            q=(env "PYTHONPATH=$REF_PYTHONPATH" "$REF_PY" "$REF" --inputs "${INPUTS[@]}" --output "$out") ;;
        duckdb)
            q=("$DUCK_PY" "$BENCH/duckdb_aggregate.py" --inputs "${INPUTS[@]}" --output "$out"
                --aggregated-at "$AGG_AT") ;;
        polars)
            q=("$POLARS_PY" "$BENCH/polars_aggregate.py" --inputs "${INPUTS[@]}" --output "$out"
                --aggregated-at "$AGG_AT") ;;
    esac
    printf '%q ' "${q[@]}"
}

declare -A MEAN SD RSS CHECK ROWS_IN

# One untimed run per tool under GNU time: peak RSS, a warm page cache, and
# outputs to cross-check. Tools that fail here are left out of the timing.
measure_rss() { # set tool outdir
    local set="$1" tool="$2" outdir="$3" tf="$RESULTS/$1-$2.time" lf="$RESULTS/$1-$2.log"
    mkdir -p "$outdir/$tool"
    log "$set / $tool: checking run under /usr/bin/time -v (stderr -> $lf)"
    warm_inputs
    if /usr/bin/time -v -o "$tf" sh -c "$(tool_cmd "$tool" "$outdir")" 2>"$lf"; then
        RSS["$set/$tool"]=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2 / 1024}' "$tf")
        tail -n 1 "$lf" >&2
        return 0
    fi
    warn "$tool failed on $set (see $lf); left out of the timing"
    tail -n 5 "$lf" >&2 || true
    RSS["$set/$tool"]="failed"
    return 1
}

time_tools() { # set outdir runs warmup tool...
    local set="$1" outdir="$2" runs="$3" warmup="$4" tool line
    shift 4
    local args=()
    for tool in "$@"; do
        args+=(-n "$tool" "$(tool_cmd "$tool" "$outdir")")
    done
    log "$set: hyperfine (${runs} runs, ${warmup} warmup) over: $*"
    hyperfine --warmup "$warmup" --runs "$runs" --style basic --prepare "$(warm_cmd)" \
        --export-markdown "$RESULTS/$set.md" --export-json "$RESULTS/$set.json" \
        --export-csv "$RESULTS/$set.csv" "${args[@]}"
    # CSV columns: command,mean,stddev,median,user,system,min,max
    while IFS=, read -r tool line; do
        MEAN["$set/$tool"]="${line%%,*}"
        line="${line#*,}"
        SD["$set/$tool"]="${line%%,*}"
    done < <(tail -n +2 "$RESULTS/$set.csv")
}

# Same rows, same order? mosagg must match the reference byte for byte (bar
# the run timestamp); DuckDB renders JSON its own way, so values only.
check_outputs() { # set outdir tool...
    local set="$1" outdir="$2" base="" tool mode
    shift 2
    for tool in python-ref mosagg duckdb; do
        [[ " $* " == *" $tool "* ]] && { base="$tool"; break; }
    done
    if [[ $# -lt 2 ]]; then
        CHECK["$set/$1"]="not compared"
        return 0
    fi
    for tool in "$@"; do
        [[ "$tool" == "$base" ]] && { CHECK["$set/$tool"]="baseline"; continue; }
        mode=()
        [[ ( "$base" == python-ref && "$tool" == mosagg ) || "$tool" == mosagg-b ]] && mode=(--bytes)
        if python3 "$BENCH/compare_outputs.py" "${mode[@]}" \
            "$outdir/$base/unified_corpus.jsonl" "$outdir/$tool/unified_corpus.jsonl"; then
            CHECK["$set/$tool"]="= $base${mode:+ (bytes)}"
            # Two builds of mosagg write the same Parquet bytes too (when the first ran).
            if [[ "$tool" == mosagg-b && " $* " == *" mosagg "* ]] && ! cmp -s "$outdir/mosagg/unified_corpus.parquet" \
                "$outdir/$tool/unified_corpus.parquet"; then
                CHECK["$set/$tool"]="Parquet DIFFERS from mosagg's"
                MISMATCH=1
            fi
        else
            CHECK["$set/$tool"]="DIFFERS from $base"
            MISMATCH=1
        fi
    done
}

MISMATCH=0
SETS=()

bench_set() { # set runs warmup tool...
    local set="$1" runs="$2" warmup="$3" tool ok=()
    shift 3
    gen_data "$set"
    load_inputs "$DATA/$set"
    ROWS_IN["$set"]=$(rows_in "$DATA/$set")
    local outdir="$DATA/out/$set"
    for tool in "$@"; do
        measure_rss "$set" "$tool" "$outdir" && ok+=("$tool")
    done
    SETS+=("$set")
    [[ ${#ok[@]} -eq 0 ]] && return 0
    time_tools "$set" "$outdir" "$runs" "$warmup" "${ok[@]}"
    check_outputs "$set" "$outdir" "${ok[@]}"
}

{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -n 1)"
    echo "cores: $(nproc)"
    echo "ram: $(free -h | awk '/^Mem:/ {print $2}')"
    echo "kernel: $(uname -r)"
    echo "hyperfine: $(hyperfine --version)"
    [[ -n "$MOSAGG" ]] && echo "mosagg: $("$MOSAGG" --version 2>/dev/null || echo '?') ($MOSAGG) flags: ${MOSAGG_BENCH_FLAGS:-}"
    [[ -n "$MOSAGG_B" ]] && echo "mosagg-b: $("$MOSAGG_B" --version 2>/dev/null || echo '?') ($MOSAGG_B)"
    [[ -n "$REF_PY" ]] && echo "python-ref: $("$REF_PY" --version 2>&1) $REF"
    [[ -n "$DUCK_PY" ]] && echo "duckdb: $("$DUCK_PY" -c 'import duckdb; print(duckdb.__version__)')"
    [[ -n "$POLARS_PY" ]] && echo "polars: $("$POLARS_PY" -c 'import polars; print(polars.__version__)')"
    echo "seed: $SEED"
    echo "loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$RESULTS/machine.txt" >&2
# The machine's state each second for the whole run (CPU shares with the time the
# hypervisor took from this guest, free memory, dirty pages): bench/machine_log.py.
python3 "$BENCH/machine_log.py" >"$RESULTS/machine.log" 2>/dev/null &
MACHINE_LOG_PID=$!
trap 'kill "$MACHINE_LOG_PID" 2>/dev/null' EXIT
# Two cores leave no headroom: a concurrent build skews every number.
if awk '{exit !($1 > 0.5)}' /proc/loadavg; then
    warn "load average is $(cut -d' ' -f1 /proc/loadavg): other work is running, timings will be noisy"
fi

TOOLS=()
[[ -n "$MOSAGG" ]] && TOOLS+=(mosagg)
[[ -n "$MOSAGG_B" ]] && TOOLS+=(mosagg-b)
[[ -n "$REF_PY" ]] && TOOLS+=(python-ref)
[[ -n "$DUCK_PY" ]] && TOOLS+=(duckdb)
[[ -n "$POLARS_PY" ]] && TOOLS+=(polars)
if [[ ${#TOOLS[@]} -eq 0 ]]; then
    warn "nothing to benchmark (no mosagg, no reference, no DuckDB)"
    exit 1
fi

bench_set realistic "$RUNS" 1 "${TOOLS[@]}"

if [[ $QUICK -eq 0 ]]; then
    if [[ -n "$MOSAGG" ]]; then
        # The GNU-time run warms the page cache, so no separate warmup.
        TOOLS_10M=(mosagg)
        [[ -n "$MOSAGG_B" ]] && TOOLS_10M+=(mosagg-b)
        if [[ -n "${BENCH_10M_BASELINES:-}" ]]; then
            [[ -n "$DUCK_PY" ]] && TOOLS_10M+=(duckdb)
            [[ -n "$POLARS_PY" ]] && TOOLS_10M+=(polars)
        fi
        bench_set 10m "$RUNS_10M" 0 "${TOOLS_10M[@]}"
    else
        warn "no mosagg binary: skipping the 10m set"
    fi
fi

# ---------------------------------------------------------------- floor ----

# The floor of each set: read, SHA-256 and parse its inputs, then write its kept rows
# (the mosagg run's Parquet, decoded untimed) as JSONL and Parquet again; each part
# alone, in the probe's CPU seconds, the median of BENCH_FLOOR_RUNS runs. floor.md sets the
# sum over the cores beside the measured wall times of this run.
floor_set() { # set
    local set="$1" unified="$DATA/out/$1/mosagg/unified_corpus.parquet" i
    local scratch="$DATA/out/floor-scratch"
    [[ -n "$FLOOR" && -f "$unified" ]] || return 0
    load_inputs "$DATA/$set"
    mkdir -p "$scratch"
    log "floor: $set (${FLOOR_RUNS} runs)"
    for ((i = 1; i <= FLOOR_RUNS; i++)); do
        warm_inputs
        if ! "$FLOOR" --unified "$unified" --scratch "$scratch" "${INPUTS[@]}" \
            >"$RESULTS/floor-$set-$i.tsv" 2>"$RESULTS/floor-$set.log"; then
            warn "the floor probe failed on $set (see $RESULTS/floor-$set.log)"
            return 0
        fi
    done
    local means=()
    for tool in mosagg mosagg-b python-ref duckdb polars; do
        [[ -n "${MEAN[$set/$tool]:-}" ]] && means+=("$tool=${MEAN[$set/$tool]}")
    done
    python3 "$BENCH/floor_table.py" --set "$set" "${means[@]}" -- "$RESULTS"/floor-"$set"-*.tsv \
        >>"$RESULTS/floor.md"
}

FLOOR_RUNS="${BENCH_FLOOR_RUNS:-3}"
: >"$RESULTS/floor.md"
for set in "${SETS[@]}"; do
    floor_set "$set"
done
rm -rf "$DATA/out/floor-scratch"

# ------------------------------------------- cost per row, memory limits ----

# One mosagg run under GNU time: wall, CPU, peak RSS, and the most bytes its spill
# folder held at once (mosagg reports it on stderr when it spilled). Appends a line to
# $RESULTS/scale-runs.tsv; the run's output must equal the default run's.
scale_run() { # set limit|default
    local set="$1" limit="$2" dir="$DATA/$1" out="$DATA/out/scale" tf lf flags=() spill
    load_inputs "$dir"
    mkdir -p "$out"
    [[ "$limit" != default ]] && flags=(--memory-limit "$limit")
    tf="$RESULTS/scale-$set-$limit.time"
    lf="$RESULTS/scale-$set-$limit.log"
    local rows="${ROWS_IN[$set]:-$(rows_in "$dir")}"
    log "cost per row: $set, memory limit $limit"
    warm_inputs
    if ! /usr/bin/time -f '%e %U %S %M %P' -o "$tf" "$MOSAGG" aggregate --inputs "${INPUTS[@]}" \
        --output "$out/u.jsonl" --aggregated-at "$AGG_AT" "${flags[@]}" 2>"$lf"; then
        printf '%s\t%s\t%s\tfailed: %s\n' "$set" "$limit" "$rows" \
            "$(grep -m1 '^error' "$lf" | cut -c1-160)" >>"$RESULTS/scale-runs.tsv"
        return 0
    fi
    spill=$(sed -n 's/.*up to \(.*\) were on disk at once.*/\1/p' "$lf")
    local same="-"
    if [[ -f "$DATA/out/$set/mosagg/unified_corpus.jsonl" ]]; then
        if python3 "$BENCH/compare_outputs.py" --bytes "$DATA/out/$set/mosagg/unified_corpus.jsonl" "$out/u.jsonl" >/dev/null; then
            same="same bytes"
        else
            same="DIFFERS"
            MISMATCH=1
        fi
    fi
    read -r wall user sys rss cpu <"$tf"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$set" "$limit" "$rows" "$wall" \
        "$(awk -v u="$user" -v s="$sys" 'BEGIN {print u + s}')" "$rss" "${cpu%\%}" \
        "${spill:-none}" "$same" >>"$RESULTS/scale-runs.tsv"
    rm -f "$out"/u.*
}

# $RESULTS/scale-runs.tsv as the table of scaling.md: per set and limit, in the order of
# their first run, the medians of wall, CPU and CPU %, the largest peak RSS and spill, then
# goal 4's ratios of the medians of CPU per row and of wall time per row at 10m and at 1m.
scale_table() {
    awk -F '\t' '
    function median(list,    v, n, i, j, t) {
        n = split(list, v, " ")
        for (i = 2; i <= n; i++) {
            t = v[i] + 0
            for (j = i - 1; j >= 1 && v[j] + 0 > t; j--) v[j + 1] = v[j]
            v[j + 1] = t
        }
        return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    }
    function bytes(text,    n, unit) {
        if (text == "none") return 0
        split(text, n, " ")
        unit = n[2]
        return n[1] * (unit == "GiB" ? 2^30 : unit == "MiB" ? 2^20 : unit == "KiB" ? 2^10 : 1)
    }
    {
        key = $1 SUBSEP $2
        if (!(key in runs)) { order[++groups] = key; set[key] = $1; lim[key] = $2; rows[key] = $3 }
        runs[key]++
        if ($4 ~ /^failed/) { failed[key]++; why[key] = $4; next }
        wall[key] = wall[key] " " $4
        cpu[key] = cpu[key] " " $5
        pct[key] = pct[key] " " $7
        if ($6 + 0 > rss[key]) rss[key] = $6 + 0
        if (!(key in spill) || bytes($8) > bytes(spill[key])) spill[key] = $8
        if (!(key in same) || $9 == "DIFFERS") same[key] = $9
    }
    END {
        print "| set | --memory-limit | rows in | runs | wall s | CPU s | CPU µs/row | peak RSS MiB | CPU % | spill peak | output vs default |"
        print "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|"
        for (g = 1; g <= groups; g++) {
            k = order[g]
            if (failed[k] == runs[k]) {
                printf "| %s | %s | %d | %d | %s | | | | | | |\n", set[k], lim[k], rows[k], runs[k], why[k]
                continue
            }
            w = median(wall[k]); c = median(cpu[k])
            per[k] = c * 1e6 / rows[k]
            wper[k] = w * 1e6 / rows[k]
            note = failed[k] ? sprintf(" (%d of %d runs %s)", failed[k], runs[k], why[k]) : ""
            printf "| %s | %s | %d | %d | %.2f | %.2f | %.2f | %.0f | %.0f %% | %s | %s%s |\n",
                set[k], lim[k], rows[k], runs[k], w, c, per[k], rss[k] / 1024,
                median(pct[k]), spill[k], same[k], note
        }
        small = "1m" SUBSEP "default"; large = "10m" SUBSEP "default"
        if ((small in per) && (large in per) && per[small] > 0)
            printf "\nGoal 4: CPU per row at 10m is %.2fx that at 1m, wall time per row %.2fx (medians of %d runs at 10m and %d at 1m; the goal is <= 1.3x).\n",
                per[large] / per[small], wper[large] / wper[small], runs[large] - failed[large], runs[small] - failed[small]
    }' "$RESULTS/scale-runs.tsv"
}

if [[ -n "$MOSAGG" && $QUICK -eq 0 ]]; then
    : >"$RESULTS/scale-runs.tsv"
    for set in realistic 1m 3m 10m; do
        gen_data "$set"
        ROWS_IN["$set"]=$(rows_in "$DATA/$set")
    done
    # The sets alternated run by run, so the machine's drift falls on each alike.
    for ((run = 1; run <= SCALE_RUNS; run++)); do
        for set in realistic 1m 3m 10m; do
            scale_run "$set" default
        done
    done
    for limit in 512M 256M; do
        scale_run 10m "$limit"
    done
    scale_table >"$RESULTS/scaling.md"
fi

# ------------------------------------------------------- stats and query ----

# Goal 5: `mosagg stats` on the 10m run's Parquet, beside DuckDB's quantile_cont on the
# same file, and `query --format table` over every row (peak RSS only).
UNIFIED_10M="$DATA/out/10m/mosagg/unified_corpus.parquet"
if [[ -n "$MOSAGG" && $QUICK -eq 0 && -f "$UNIFIED_10M" ]]; then
    stats_args=(-n "mosagg stats (table)" "$(printf '%q ' "$MOSAGG" stats "$UNIFIED_10M")"
        -n "mosagg stats --format csv" "$(printf '%q ' "$MOSAGG" stats --format csv "$UNIFIED_10M")"
        -n "mosagg stats --format json" "$(printf '%q ' "$MOSAGG" stats --format json "$UNIFIED_10M")"
        -n "mosagg stats --plot" "$(printf '%q ' "$MOSAGG" stats --plot "$DATA/out/stats.svg" "$UNIFIED_10M")")
    [[ -n "$DUCK_PY" ]] && stats_args+=(-n "duckdb quantile_cont" "$(printf '%q ' "$DUCK_PY" "$BENCH/duckdb_stats.py" "$UNIFIED_10M")")
    log "stats on the 10m output: hyperfine"
    steal_before=$(steal_ticks)
    hyperfine --warmup 1 --runs "$RUNS" --style basic --export-markdown "$RESULTS/stats.md" \
        --export-csv "$RESULTS/stats.csv" --export-json "$RESULTS/stats.json" "${stats_args[@]}" >&2
    steal_after=$(steal_ticks)
    {
        # Every run in the order it ran, so that a slow one can be placed in machine.log,
        # and the CPU time the hypervisor took from the guest meanwhile.
        echo
        python3 - "$RESULTS/stats.json" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print(f"- {r['command']}: runs in order " + " ".join(f"{t:.2f}" for t in r["times"]) + " s")
PY
        echo "- CPU time taken by the hypervisor (steal) during these runs: $(awk -v a="$steal_before" -v b="$steal_after" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f s", (b - a) / hz}')"
        echo
        echo "| command | peak RSS MiB |"
        echo "|---|---:|"
        for f in "" "--format csv" "--plot $DATA/out/stats.svg"; do
            read -r -a extra <<<"$f"
            /usr/bin/time -f '%M' -o "$RESULTS/stats-rss.time" "$MOSAGG" stats "${extra[@]}" "$UNIFIED_10M" >/dev/null 2>&1
            echo "| mosagg stats $f | $(awk '{printf "%.0f", $1 / 1024}' "$RESULTS/stats-rss.time") |"
        done
        # The default --max-rows (100) over every row of the file. (--max-rows 0 draws all
        # 9.5M rows in one terminal table: ~23 GiB, so it is not run here.)
        /usr/bin/time -f '%M %e' -o "$RESULTS/query-rss.time" "$MOSAGG" query \
            --table "u=$UNIFIED_10M" "SELECT * FROM u" >/dev/null 2>&1 || true
        echo "| mosagg query 'SELECT * FROM u' --format table (all 9.5M rows, first 100 drawn) | $(awk 'NR == 1 {printf "%.0f (%.1f s)", $1 / 1024, $2}' "$RESULTS/query-rss.time") |"
    } >>"$RESULTS/stats.md"
fi

# ------------------------------------------------- every row out of SQL ----

# A whole training set exported as CSV by `query`, and `stats` with a group per clip
# (--by src: 9.5M groups), each beside DuckDB doing the same on the same file. Both
# print every row (hyperfine sends stdout to /dev/null). `stats --by src` needs more
# than the default 1G at this many groups, so the limit is given.
if [[ -n "$MOSAGG" && $QUICK -eq 0 && -f "$UNIFIED_10M" ]]; then
    export_args=(-n "mosagg query --format csv" "$(printf '%q ' "$MOSAGG" query --table "u=$UNIFIED_10M" --format csv "SELECT * FROM u")"
        -n "mosagg stats --by src --format csv" "$(printf '%q ' "$MOSAGG" stats --by src --format csv --memory-limit 6G "$UNIFIED_10M")")
    [[ -n "$DUCK_PY" ]] && export_args+=(-n "duckdb COPY TO csv" "$(printf '%q ' "$DUCK_PY" "$BENCH/duckdb_export.py" "$UNIFIED_10M")"
        -n "duckdb quantile_cont by src" "$(printf '%q ' "$DUCK_PY" "$BENCH/duckdb_stats.py" "$UNIFIED_10M" src)")
    log "every row out of SQL on the 10m output: hyperfine"
    hyperfine --runs "$RUNS_10M" --style basic --export-markdown "$RESULTS/exports.md" \
        --export-csv "$RESULTS/exports.csv" "${export_args[@]}" >&2
fi

# ---------------------------------------------------------- cold inputs ----
# A first run, on shards that are not in the page cache (written days ago): before
# each run every input is dropped from the cache (posix_fadvise DONTNEED, which needs
# no root), so each tool reads its inputs from the disk. mosagg reads such bytes with
# O_DIRECT (src/file_bytes.rs); the others through the page cache.
# (A file of its own: hyperfine runs the command through sh, which has no $'...'.)
EVICT="$RESULTS/evict.py"
printf '%s\n' 'import os, sys' 'for p in sys.argv[1:]:' \
    '    fd = os.open(p, os.O_RDONLY)' \
    '    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)' '    os.close(fd)' >"$EVICT"

cold_set() { # set runs tool...
    local set="$1" runs="$2" tool args=()
    shift 2
    load_inputs "$DATA/$set"
    local outdir="$DATA/out/$set-cold"
    for tool in "$@"; do
        mkdir -p "$outdir/$tool"
        args+=(-n "$tool" "$(tool_cmd "$tool" "$outdir")")
    done
    log "$set, inputs out of the page cache before every run: hyperfine (${runs} runs) over: $*"
    hyperfine --runs "$runs" --style basic \
        --prepare "$(printf '%q ' python3 "$EVICT" "${INPUTS[@]}")" \
        --export-markdown "$RESULTS/$set-cold.md" --export-csv "$RESULTS/$set-cold.csv" "${args[@]}"
    { echo "**$set, cold inputs**"; echo; cat "$RESULTS/$set-cold.md"; echo; } >>"$RESULTS/cold.md"
}

if [[ -z "${BENCH_SKIP_COLD:-}" && $QUICK -eq 0 ]]; then
    cold_set realistic 3 "${TOOLS[@]}"
    # At 10M rows mosagg alone: the baselines take 80-110 s a run there.
    [[ -n "$MOSAGG" ]] && cold_set 10m "$RUNS_10M" mosagg ${MOSAGG_B:+mosagg-b}
fi

# -------------------------------------------------------------- summary ----

{
    echo "| set | tool | rows in | mean s (± sd) | rows/s | peak RSS MiB | output |"
    echo "|---|---|---:|---:|---:|---:|---|"
    for set in "${SETS[@]}"; do
        for tool in mosagg mosagg-b python-ref duckdb polars; do
            key="$set/$tool"
            [[ -n "${RSS[$key]:-}" ]] || continue
            mean="${MEAN[$key]:-}"
            if [[ -n "$mean" ]]; then
                t=$(awk -v m="$mean" -v s="${SD[$key]}" 'BEGIN {printf "%.3f (± %.3f)", m, s}')
                rps=$(awk -v n="${ROWS_IN[$set]}" -v m="$mean" 'BEGIN {printf "%.0f", n / m}')
            else
                t="-"
                rps="-"
            fi
            echo "| $set | $tool | ${ROWS_IN[$set]} | $t | $rps | ${RSS[$key]} | ${CHECK[$key]:--} |"
        done
    done
} >"$RESULTS/summary.md"

echo "loadavg at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$RESULTS/machine.txt" >&2
log "summary (also in $RESULTS/summary.md)"
column -t -s '|' -o '|' "$RESULTS/summary.md" 2>/dev/null || cat "$RESULTS/summary.md"
for extra in floor scaling stats exports cold; do
    [[ -s "$RESULTS/$extra.md" ]] && { log "$extra (also in $RESULTS/$extra.md)"; cat "$RESULTS/$extra.md" >&2; }
done

if [[ $MISMATCH -ne 0 ]]; then
    warn "outputs differ between tools (see above): the timings compare different work"
    exit 1
fi
