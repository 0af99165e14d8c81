#!/usr/bin/env python3
"""Benchmark-only baseline for `mosagg stats`: the same per-corpus numbers from DuckDB.

Count, mean, sample std, min, exact interpolated quantiles (quantile_cont, as
mosagg's stats.sql computes them) and max of `mos` per `corpus_source`, plus the
native range, printed as CSV.

Usage: duckdb_stats.py UNIFIED.parquet
"""

import sys

import duckdb

SQL = """
SELECT corpus_source, count(*) AS n, avg(mos) AS mean, stddev_samp(mos) AS std,
       min(mos) AS min, quantile_cont(mos, [0.05, 0.25, 0.5, 0.75, 0.95]) AS q,
       max(mos) AS max, min(mos_native) AS native_min, max(mos_native) AS native_max
FROM read_parquet(?) WHERE mos IS NOT NULL
GROUP BY corpus_source ORDER BY corpus_source
"""

if __name__ == "__main__":
    for row in duckdb.execute(SQL, [sys.argv[1]]).fetchall():
        print(",".join(str(v) for v in row))
