#!/usr/bin/env python3
"""Benchmark-only baseline: the `mosagg aggregate` job done by hand in DuckDB SQL.

This is NOT part of mosagg. It exists so bench/run.sh can compare mosagg with
what an operator could get from a general-purpose engine in ~100 lines, doing
the same work:

  read every shard (keeping input order: file position, then line) ->
  resolve corpus_source -> join the scale table -> range-filter the native MOS ->
  keep one row per dedup key (lowest uncertainty, then input order) ->
  sort -> write JSONL and zstd Parquet -> write a manifest with counters,
  input/output sha256 and row counts (atomic temp-file + rename throughout).

Simplifications, all of which make this baseline do *less* work than mosagg
(so the comparison flatters DuckDB, not mosagg):
  * columns are read with fixed SQL types, so the per-field coercion rules of
    CONTRACT.md section 4 (numeric strings, bool rejection, dropped_bad_value)
    and the required-key hard errors are not reproduced;
  * the JSONL is DuckDB's own JSON rendering (compact separators, column
    order), not Python `json.dumps` bytes; values are the same.

Usage:
  duckdb_aggregate.py --inputs SHARD... --output OUT.jsonl
                      [--aggregated-at TS] [--threads N] [--memory-limit 4GB]
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from baseline_common import base_parser, present_inputs, sha256_file

import duckdb

# Same table as CONTRACT.md section 3 (kept here as data, like mosagg does).
SCALE = [
    # corpus_source, slope, intercept, native_min, native_max, mos_native_scale
    ("konvid-1k", 25.0, -25.0, 1.0, 5.0, "1-5-acr"),
    ("konvid-150k", 25.0, -25.0, 1.0, 5.0, "1-5-acr"),
    ("lsvq", 25.0, -25.0, 1.0, 5.0, "1-5-acr"),
    ("youtube-ugc", 25.0, -25.0, 1.0, 5.0, "1-5-acr"),
    ("waterloo-ivc-4k", 1.0, 0.0, 0.0, 100.0, "0-100-dcr"),
    ("netflix-public", 1.0, 0.0, 0.0, 100.0, "vmaf"),
]
SLACK = 0.05

# Fixed types instead of sampling-based auto-detection: cheaper, and immune to
# a late row whose type differs from the sample. Keys not listed are ignored.
COLUMNS = {
    "src": "VARCHAR",
    "src_sha256": "VARCHAR",
    "width": "DOUBLE",
    "height": "DOUBLE",
    "framerate": "DOUBLE",
    "duration_s": "DOUBLE",
    "pix_fmt": "VARCHAR",
    "encoder_upstream": "VARCHAR",
    "mos": "DOUBLE",
    "mos_std_dev": "DOUBLE",
    "n_ratings": "DOUBLE",
    "corpus": "VARCHAR",
    "corpus_source": "VARCHAR",
    "corpus_version": "VARCHAR",
    "ingested_at_utc": "VARCHAR",
}


def lit(s: str) -> str:
    """SQL string literal (paths go into COPY, which takes no parameters)."""
    return "'" + s.replace("'", "''") + "'"


def main() -> int:
    ap = base_parser(__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=0, help="0 = DuckDB default (all cores)")
    ap.add_argument("--memory-limit", default="", help="e.g. 4GB; empty = DuckDB default")
    args = ap.parse_args()
    t0 = time.perf_counter()

    present = present_inputs(args.inputs)
    if present is None:
        return 2

    out = args.output
    stem = out.with_suffix("") if out.suffix == ".jsonl" else out
    parquet = stem.with_suffix(".parquet")
    manifest = stem.with_suffix(".manifest.json")
    out.parent.mkdir(parents=True, exist_ok=True)

    con = duckdb.connect()
    if args.threads:
        con.execute(f"SET threads = {int(args.threads)}")
    if args.memory_limit:
        con.execute(f"SET memory_limit = {lit(args.memory_limit)}")
    # Input order is the dedup tie-break, so scan order must survive.
    con.execute("SET preserve_insertion_order = true")

    con.execute(
        "CREATE TEMP TABLE scale(corpus_source VARCHAR, slope DOUBLE, intercept DOUBLE, "
        "native_min DOUBLE, native_max DOUBLE, scale_label VARCHAR)"
    )
    con.executemany("INSERT INTO scale VALUES (?, ?, ?, ?, ?, ?)", SCALE)
    con.execute("CREATE TEMP TABLE inputs(file_idx INTEGER, path VARCHAR)")
    con.executemany(
        "INSERT INTO inputs VALUES (?, ?)", [(i, str(p)) for i, p in enumerate(present)]
    )

    files = "[" + ", ".join(lit(str(p)) for p in present) + "]"
    cols = "{" + ", ".join(f"{k}: {lit(v)}" for k, v in COLUMNS.items()) + "}"

    # Stage 1: every input row with its fate. WITH ORDINALITY numbers rows in
    # scan order across the file list (file position, then line), which is
    # exactly the tie-break order; `filename` gives the file position.
    con.execute(
        f"""
        CREATE TEMP TABLE staged AS
        WITH raw AS (
            SELECT * FROM read_json({files}, format = 'newline_delimited',
                                    filename = true, columns = {cols})
            WITH ORDINALITY
        ),
        labelled AS (
            SELECT r.*, i.file_idx,
                   coalesce(nullif(r.corpus_source, ''), r.corpus) AS label
            FROM raw r JOIN inputs i ON i.path = r.filename
        )
        SELECT l.*, s.slope, s.intercept, s.scale_label,
               CASE
                 WHEN s.corpus_source IS NULL THEN 'unknown_corpus'
                 WHEN l.mos IS NULL OR NOT isfinite(l.mos)
                      OR l.mos < s.native_min - {SLACK}
                      OR l.mos > s.native_max + {SLACK} THEN 'bad_scale'
                 ELSE 'ok'
               END AS fate
        FROM labelled l LEFT JOIN scale s ON s.corpus_source = l.label
        """
    )

    # Stage 2: unified rows, one per dedup key, in output order.
    con.execute(
        f"""
        CREATE TEMP TABLE unified AS
        WITH ok AS (
            SELECT *, label AS cs,
                   CASE WHEN src_sha256 IS NOT NULL AND src_sha256 <> '' THEN src_sha256
                        ELSE '__nokey__/' || coalesce(src, '') || '/' || label END AS dkey,
                   CASE WHEN isfinite(mos_std_dev) AND mos_std_dev > 0 THEN mos_std_dev
                        ELSE 'inf'::DOUBLE END AS unc
            FROM staged WHERE fate = 'ok'
        ),
        kept AS (
            SELECT * FROM ok
            QUALIFY row_number() OVER (PARTITION BY dkey ORDER BY unc, file_idx, ordinality) = 1
        )
        SELECT
            {lit(args.aggregated_at)} AS aggregated_at_utc,
            coalesce(corpus, cs) AS corpus,
            cs AS corpus_source,
            coalesce(corpus_version, '') AS corpus_version,
            coalesce(duration_s, 0.0) AS duration_s,
            coalesce(encoder_upstream, '') AS encoder_upstream,
            coalesce(framerate, 0.0) AS framerate,
            coalesce(trunc(height), 0)::BIGINT AS height,
            coalesce(ingested_at_utc, '') AS ingested_at_utc,
            slope * mos + intercept AS mos,
            mos AS mos_native,
            scale_label AS mos_native_scale,
            CASE WHEN isfinite(mos_std_dev) THEN mos_std_dev
                 WHEN mos_std_dev IS NULL THEN 0.0 END AS mos_std_dev,
            coalesce(trunc(n_ratings), 0)::BIGINT AS n_ratings,
            coalesce(pix_fmt, '') AS pix_fmt,
            coalesce(src, '') AS src,
            coalesce(src_sha256, '') AS src_sha256,
            coalesce(trunc(width), 0)::BIGINT AS width,
            dkey
        FROM kept
        ORDER BY corpus_source, src_sha256, dkey
        """
    )

    counters = dict(
        zip(
            (
                "rows_in",
                "dropped_unknown_corpus",
                "dropped_bad_scale",
            ),
            con.execute(
                "SELECT count(*), count(*) FILTER (WHERE fate = 'unknown_corpus'), "
                "count(*) FILTER (WHERE fate = 'bad_scale') FROM staged"
            ).fetchone(),
        )
    )
    cross, same = con.execute(
        """
        SELECT coalesce(sum(c - 1), 0), coalesce(sum(n - c), 0) FROM (
            SELECT count(*) AS n, count(DISTINCT label) AS c
            FROM staged WHERE fate = 'ok'
            GROUP BY CASE WHEN src_sha256 IS NOT NULL AND src_sha256 <> '' THEN src_sha256
                          ELSE '__nokey__/' || coalesce(src, '') || '/' || label END
        )
        """
    ).fetchone()
    rows_per_file = dict(
        con.execute("SELECT file_idx, count(*) FROM staged GROUP BY file_idx").fetchall()
    )
    rows_out = con.execute("SELECT count(*) FROM unified").fetchone()[0]
    counters.update(
        rows_out=rows_out,
        cross_corpus_dedups=int(cross),
        same_corpus_dups=int(same),
        dropped_bad_value=0,
        inputs_seen=len(present),
        inputs_missing=len(args.inputs) - len(present),
    )

    # Write beside the target, then rename: no partial outputs on failure.
    # Columns are already in sorted-key order, as the reference's sort_keys.
    tmp_jsonl = out.with_name(f".{out.name}.tmp")
    tmp_parquet = parquet.with_name(f".{parquet.name}.tmp")
    body = "SELECT * EXCLUDE (dkey) FROM unified"
    try:
        con.execute(f"COPY ({body}) TO {lit(str(tmp_jsonl))} (FORMAT JSON)")
        con.execute(
            f"COPY ({body}) TO {lit(str(tmp_parquet))} (FORMAT PARQUET, COMPRESSION ZSTD)"
        )
        doc = {
            "schema": "mos-corpus-aggregate-manifest-v1",
            "counters": counters,
            "scale_conversions": {
                s[0]: dict(
                    zip(("slope", "intercept", "native_min", "native_max", "scale_label"), s[1:])
                )
                for s in SCALE
            },
            "corpus_source_overrides": {},
            "run_provenance": {
                "tool": "bench/duckdb_aggregate.py",
                "duckdb_version": duckdb.__version__,
                "argv": sys.argv,
                "inputs": [
                    {
                        "path": str(p),
                        "exists": p.is_file(),
                        **(
                            {
                                "size": p.stat().st_size,
                                "sha256": sha256_file(p),
                                "rows": rows_per_file.get(present.index(p), 0),
                            }
                            if p.is_file()
                            else {}
                        ),
                    }
                    for p in args.inputs
                ],
                "outputs": [
                    {"path": str(out), "sha256": sha256_file(tmp_jsonl), "rows": rows_out},
                    {"path": str(parquet), "sha256": sha256_file(tmp_parquet), "rows": rows_out},
                ],
            },
        }
        tmp_manifest = manifest.with_name(f".{manifest.name}.tmp")
        tmp_manifest.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        os.replace(tmp_jsonl, out)
        os.replace(tmp_parquet, parquet)
        os.replace(tmp_manifest, manifest)
    finally:
        for t in (tmp_jsonl, tmp_parquet, manifest.with_name(f".{manifest.name}.tmp")):
            t.unlink(missing_ok=True)

    c = counters
    assert c["rows_in"] == (
        c["rows_out"]
        + c["cross_corpus_dedups"]
        + c["same_corpus_dups"]
        + c["dropped_unknown_corpus"]
        + c["dropped_bad_scale"]
        + c["dropped_bad_value"]
    ), c
    print(
        f"[duckdb] inputs_seen={c['inputs_seen']} inputs_missing={c['inputs_missing']} "
        f"rows_in={c['rows_in']} rows_out={c['rows_out']} "
        f"cross_corpus_dedups={c['cross_corpus_dedups']} same_corpus_dups={c['same_corpus_dups']} "
        f"dropped_unknown_corpus={c['dropped_unknown_corpus']} "
        f"dropped_bad_scale={c['dropped_bad_scale']} dropped_bad_value=0 -> {out} "
        f"({time.perf_counter() - t0:.2f}s)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
