#!/usr/bin/env python3
"""Benchmark-only baseline for `mosagg stats`: the same per-corpus numbers from DuckDB.

Count, mean, sample std, min, exact interpolated quantiles (quantile_cont, as
mosagg's stats.sql computes them) and max of `mos` per `corpus_source`, plus the
native range, printed as CSV.

Usage: duckdb_stats.py UNIFIED.parquet [GROUP_COLUMN]   (default corpus_source)
"""

import sys

import duckdb

SQL = """
SELECT {by}, count(*) AS n, avg(mos) AS mean, stddev_samp(mos) AS std,
       min(mos) AS min, quantile_cont(mos, [0.05, 0.25, 0.5, 0.75, 0.95]) AS q,
       max(mos) AS max, min(mos_native) AS native_min, max(mos_native) AS native_max
FROM read_parquet(?) WHERE mos IS NOT NULL
GROUP BY {by} ORDER BY {by}
"""

if __name__ == "__main__":
    by = sys.argv[2] if len(sys.argv) > 2 else "corpus_source"
    if not by.isidentifier():
        sys.exit(f"duckdb_stats.py: not a column name: {by}")
    # DuckDB writes the rows itself: with a group per clip, printing them from Python
    # would time Python, not DuckDB.
    duckdb.execute(f"COPY ({SQL.format(by=by)}) TO '/dev/stdout' (FORMAT csv)", [sys.argv[1]])
