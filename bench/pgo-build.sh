#!/usr/bin/env bash
# Builds mosagg with profile-guided optimisation (PGO): an instrumented build runs a
# training workload, and the compiler then lays out and inlines the release build by
# the branch and call counts it recorded. See "The profile-guided build" in BENCHMARKS.md
# for what it gains on this project's benchmark, and README.md (Development).
#
#   bench/pgo-build.sh [OUT_BINARY]
#
# OUT_BINARY defaults to $PGO_DIR/mosagg. Environment:
#   PGO_DIR           work folder: both builds' target folders, the training data and
#                     the profile (default: $HOME/.cache/mosagg-pgo)
#   PGO_PROFILE       the Cargo profile of both builds (default: release, link-time
#                     optimised; `quick` builds in about two thirds of the time)
#   PGO_SEED          gen-shards seed of the training shards (default 7: not the
#                     benchmark's seed, so the benchmark does not time its own
#                     training data)
#
# Two full builds of every dependency (DataFusion, arrow, ...), one instrumented and
# one optimised: about twice a first release build (the README's figure), and about
# 500 MB of training shards. Needs rustup's llvm-tools component (installed here when
# missing) for the llvm-profdata that matches rustc's LLVM.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PGO_DIR="${PGO_DIR:-$HOME/.cache/mosagg-pgo}"
PROFILE="${PGO_PROFILE:-release}"
SEED="${PGO_SEED:-7}"
OUT="${1:-$PGO_DIR/mosagg}"

log() { printf '[pgo-build] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

command -v cargo >/dev/null || die "cargo not found"
command -v rustc >/dev/null || die "rustc not found"
HOST="$(rustc -vV | sed -n 's/^host: //p')"
[[ -n "$HOST" ]] || die "cannot tell rustc's host target"

# llvm-profdata must read the raw profiles of rustc's own LLVM: a system one of
# another LLVM version rejects them.
SYSROOT="$(rustc --print sysroot)"
PROFDATA="$SYSROOT/lib/rustlib/$HOST/bin/llvm-profdata"
if [[ ! -x "$PROFDATA" ]]; then
    command -v rustup >/dev/null ||
        die "llvm-profdata of rustc's LLVM not found at $PROFDATA, and no rustup to install it (component llvm-tools)"
    log "installing rustup component llvm-tools (llvm-profdata)"
    rustup component add llvm-tools
    [[ -x "$PROFDATA" ]] || die "llvm-tools installed, but $PROFDATA is still missing"
fi

mkdir -p "$PGO_DIR"
RAW="$PGO_DIR/profraw"
MERGED="$PGO_DIR/mosagg.profdata"
TRAIN="$PGO_DIR/train"
WORK="$PGO_DIR/work"

# --target: RUSTFLAGS then reach only the crates of the target, not the build scripts
# and proc macros that run on the host during the build.
build() { # target_dir rustflags
    log "cargo build --profile $PROFILE ($2)"
    CARGO_TARGET_DIR="$1" RUSTFLAGS="$2" cargo build --locked --profile "$PROFILE" \
        --bin mosagg --target "$HOST" --manifest-path "$ROOT/Cargo.toml"
}
# Cargo builds a profile into a folder of its name (only `dev` into `debug`).
binary() { echo "$1/$HOST/$PROFILE/mosagg"; }

# The training shards: the benchmark's generator, at two sizes, so that both the
# in-memory path and the spilling one (the second set under a small memory limit) are
# trained.
log "building gen-shards and the training shards under $TRAIN"
CARGO_TARGET_DIR="$PGO_DIR/target-gen" cargo build --release --quiet --locked \
    --manifest-path "$ROOT/bench/gen/Cargo.toml"
GEN="$PGO_DIR/target-gen/release/gen-shards"
"$GEN" --out "$TRAIN/realistic" --preset realistic --seed "$SEED" --keep-existing
"$GEN" --out "$TRAIN/1m" --preset 1m --seed "$SEED" --keep-existing

rm -rf "$RAW"
mkdir -p "$RAW"
build "$PGO_DIR/target-instrumented" "-Cprofile-generate=$RAW"
INSTRUMENTED="$(binary "$PGO_DIR/target-instrumented")"

# The training workload: every command's main path, as a researcher runs them.
log "training run (profiles into $RAW)"
rm -rf "$WORK"
mkdir -p "$WORK"
aggregate_set() { # set name [aggregate args...]
    local set="$1" name="$2"
    shift 2
    local inputs=()
    mapfile -t inputs < <(grep -v '^[[:space:]]*$' "$TRAIN/$set/inputs.txt")
    (cd "$TRAIN/$set" && "$INSTRUMENTED" aggregate --inputs "${inputs[@]}" \
        --output "$WORK/$name.jsonl" --rejects "$WORK/$name.rejects.jsonl" \
        --log-level ERROR "$@")
}
aggregate_set realistic r1
aggregate_set realistic r2
aggregate_set 1m m1 --memory-limit 128M
(cd "$ROOT" && "$INSTRUMENTED" aggregate --inputs data-samples/*/*.jsonl \
    --output "$WORK/samples.jsonl" --log-level ERROR)
"$INSTRUMENTED" stats "$WORK/m1.parquet" >/dev/null
"$INSTRUMENTED" stats "$WORK/m1.parquet" --format csv >/dev/null
"$INSTRUMENTED" stats "$WORK/r1.parquet" --format json --plot "$WORK/r1.svg" >/dev/null
"$INSTRUMENTED" stats "$WORK/m1.parquet" --by src --max-rows 20 >/dev/null
"$INSTRUMENTED" query --table "u=$WORK/m1.parquet" --format csv \
    "SELECT corpus_source, count(*), avg(mos) FROM u GROUP BY corpus_source ORDER BY 1" >/dev/null
"$INSTRUMENTED" query --table "u=$WORK/r1.parquet" --max-rows 50 \
    "SELECT * FROM u ORDER BY mos DESC" >/dev/null
"$INSTRUMENTED" query --table "s=$TRAIN/realistic/lsvq/lsvq.jsonl" --format json \
    "SELECT count(*) AS n FROM s" >/dev/null
"$INSTRUMENTED" verify --base "$TRAIN/realistic" "$WORK/r1.manifest.json" >/dev/null

compgen -G "$RAW/*.profraw" >/dev/null || die "the training runs left no profile in $RAW"
log "merging the profiles into $MERGED"
"$PROFDATA" merge -o "$MERGED" "$RAW"

build "$PGO_DIR/target-optimised" "-Cprofile-use=$MERGED"
mkdir -p "$(dirname "$OUT")"
cp "$(binary "$PGO_DIR/target-optimised")" "$OUT.tmp.$$"
mv "$OUT.tmp.$$" "$OUT"
log "done: $OUT"
