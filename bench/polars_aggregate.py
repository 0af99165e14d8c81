#!/usr/bin/env python3
"""Benchmark-only baseline: the `mosagg aggregate` job done by hand with polars.

This is NOT part of mosagg. It is what a researcher would write with a lazy
polars query in ~100 lines, doing the same work as bench/duckdb_aggregate.py:

  lazily scan every shard (keeping input order: file position, then line) ->
  resolve corpus_source -> join the scale table -> range-filter the native MOS ->
  keep one row per dedup key (lowest uncertainty, then input order) ->
  sort -> write JSONL and zstd Parquet -> write a manifest with counters,
  input/output sha256 and row counts (atomic temp-file + rename throughout).

Simplifications (the same as the DuckDB baseline's; they make this baseline do
*less* work than mosagg): fixed column types instead of the per-field coercion
rules and hard errors of CONTRACT.md section 4, and polars' own JSON rendering
(compact separators) rather than Python `json.dumps` bytes. Values are the same.

Usage:
  polars_aggregate.py --inputs SHARD... --output OUT.jsonl [--aggregated-at TS]
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from baseline_common import base_parser, present_inputs, sha256_file

import polars as pl

# Same table as CONTRACT.md section 3 (kept here as data).
SCALE = pl.DataFrame(
    {
        "label": ["konvid-1k", "konvid-150k", "lsvq", "youtube-ugc", "waterloo-ivc-4k", "netflix-public"],
        "slope": [25.0, 25.0, 25.0, 25.0, 1.0, 1.0],
        "intercept": [-25.0, -25.0, -25.0, -25.0, 0.0, 0.0],
        "native_min": [1.0, 1.0, 1.0, 1.0, 0.0, 0.0],
        "native_max": [5.0, 5.0, 5.0, 5.0, 100.0, 100.0],
        "scale_label": ["1-5-acr", "1-5-acr", "1-5-acr", "1-5-acr", "0-100-dcr", "vmaf"],
    }
)
SLACK = 0.05

# Fixed types instead of inference, as the DuckDB baseline does.
SCHEMA = {
    "src": pl.String,
    "src_sha256": pl.String,
    "width": pl.Float64,
    "height": pl.Float64,
    "framerate": pl.Float64,
    "duration_s": pl.Float64,
    "pix_fmt": pl.String,
    "encoder_upstream": pl.String,
    "mos": pl.Float64,
    "mos_std_dev": pl.Float64,
    "n_ratings": pl.Float64,
    "corpus": pl.String,
    "corpus_source": pl.String,
    "corpus_version": pl.String,
    "ingested_at_utc": pl.String,
}


def main() -> int:
    ap = base_parser(__doc__.split("\n")[0])
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

    # One lazy scan per shard, concatenated in --inputs order; the row index over
    # the concatenation is (file position, line) order, the dedup tie-break.
    scans = [
        pl.scan_ndjson(p, schema=SCHEMA).with_columns(pl.lit(i, pl.Int32).alias("file_idx"))
        for i, p in enumerate(present)
    ]
    staged = (
        pl.concat(scans, how="vertical")
        .with_row_index("ord")
        .with_columns(
            label=pl.when(pl.col("corpus_source").is_not_null() & (pl.col("corpus_source") != ""))
            .then(pl.col("corpus_source"))
            .otherwise(pl.col("corpus"))
        )
        .join(SCALE.lazy(), on="label", how="left")
        .with_columns(
            fate=pl.when(pl.col("slope").is_null())
            .then(pl.lit("unknown_corpus"))
            .when(
                pl.col("mos").is_null()
                | ~pl.col("mos").is_finite()
                | (pl.col("mos") < pl.col("native_min") - SLACK)
                | (pl.col("mos") > pl.col("native_max") + SLACK)
            )
            .then(pl.lit("bad_scale"))
            .otherwise(pl.lit("ok")),
            dkey=pl.when(pl.col("src_sha256").is_not_null() & (pl.col("src_sha256") != ""))
            .then(pl.col("src_sha256"))
            .otherwise(pl.lit("__nokey__/") + pl.col("src").fill_null("") + pl.lit("/") + pl.col("label")),
            unc=pl.when(pl.col("mos_std_dev").is_finite() & (pl.col("mos_std_dev") > 0))
            .then(pl.col("mos_std_dev"))
            .otherwise(float("inf")),
        )
    ).collect()

    ok = staged.lazy().filter(pl.col("fate") == "ok")
    trunc = lambda c: pl.col(c).fill_null(0.0).cast(pl.Int64)  # noqa: E731 (toward zero)
    unified = (
        ok.sort(["unc", "ord"])
        .unique(subset="dkey", keep="first", maintain_order=True)
        .sort(["label", "src_sha256", "dkey"])
        .select(
            aggregated_at_utc=pl.lit(args.aggregated_at),
            corpus=pl.col("corpus").fill_null(pl.col("label")),
            corpus_source=pl.col("label"),
            corpus_version=pl.col("corpus_version").fill_null(""),
            duration_s=pl.col("duration_s").fill_null(0.0),
            encoder_upstream=pl.col("encoder_upstream").fill_null(""),
            framerate=pl.col("framerate").fill_null(0.0),
            height=trunc("height"),
            ingested_at_utc=pl.col("ingested_at_utc").fill_null(""),
            mos=pl.col("slope") * pl.col("mos") + pl.col("intercept"),
            mos_native=pl.col("mos"),
            mos_native_scale=pl.col("scale_label"),
            mos_std_dev=pl.when(pl.col("mos_std_dev").is_null())
            .then(0.0)
            .when(pl.col("mos_std_dev").is_finite())
            .then(pl.col("mos_std_dev")),
            n_ratings=trunc("n_ratings"),
            pix_fmt=pl.col("pix_fmt").fill_null(""),
            src=pl.col("src").fill_null(""),
            src_sha256=pl.col("src_sha256").fill_null(""),
            width=trunc("width"),
        )
    ).collect()

    groups = ok.group_by("dkey").agg(n=pl.len(), c=pl.col("label").n_unique()).collect()
    cross = int((groups["c"] - 1).sum())
    same = int((groups["n"] - groups["c"]).sum())
    rows_per_file = dict(staged.group_by("file_idx").len().iter_rows())
    counters = {
        "rows_in": staged.height,
        "rows_out": unified.height,
        "cross_corpus_dedups": cross,
        "same_corpus_dups": same,
        "dropped_unknown_corpus": int((staged["fate"] == "unknown_corpus").sum()),
        "dropped_bad_scale": int((staged["fate"] == "bad_scale").sum()),
        "dropped_bad_value": 0,
        "inputs_seen": len(present),
        "inputs_missing": len(args.inputs) - len(present),
    }

    tmp_jsonl = out.with_name(f".{out.name}.tmp")
    tmp_parquet = parquet.with_name(f".{parquet.name}.tmp")
    tmp_manifest = manifest.with_name(f".{manifest.name}.tmp")
    try:
        unified.write_ndjson(tmp_jsonl)
        unified.write_parquet(tmp_parquet, compression="zstd")
        doc = {
            "schema": "mos-corpus-aggregate-manifest-v1",
            "counters": counters,
            "scale_conversions": {r["label"]: r for r in SCALE.iter_rows(named=True)},
            "corpus_source_overrides": {},
            "run_provenance": {
                "tool": "bench/polars_aggregate.py",
                "polars_version": pl.__version__,
                "argv": sys.argv,
                "inputs": [
                    {
                        "path": str(p),
                        "exists": True,
                        "size": p.stat().st_size,
                        "sha256": sha256_file(p),
                        "rows": rows_per_file.get(i, 0),
                    }
                    for i, p in enumerate(present)
                ],
                "outputs": [
                    {"path": str(out), "sha256": sha256_file(tmp_jsonl), "rows": unified.height},
                    {"path": str(parquet), "sha256": sha256_file(tmp_parquet), "rows": unified.height},
                ],
            },
        }
        tmp_manifest.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        os.replace(tmp_jsonl, out)
        os.replace(tmp_parquet, parquet)
        os.replace(tmp_manifest, manifest)
    finally:
        for t in (tmp_jsonl, tmp_parquet, tmp_manifest):
            t.unlink(missing_ok=True)

    c = counters
    assert c["rows_in"] == sum(
        c[k]
        for k in (
            "rows_out",
            "cross_corpus_dedups",
            "same_corpus_dups",
            "dropped_unknown_corpus",
            "dropped_bad_scale",
            "dropped_bad_value",
        )
    ), c
    print(
        f"[polars] rows_in={c['rows_in']} rows_out={c['rows_out']} "
        f"cross_corpus_dedups={cross} same_corpus_dups={same} "
        f"dropped_unknown_corpus={c['dropped_unknown_corpus']} "
        f"dropped_bad_scale={c['dropped_bad_scale']} -> {out} ({time.perf_counter() - t0:.2f}s)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
