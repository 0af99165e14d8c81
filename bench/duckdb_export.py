#!/usr/bin/env python3
"""Benchmark-only baseline for `mosagg query "SELECT * FROM u" --format csv`: every row
of a Parquet file written as CSV with a header to stdout, by DuckDB.

Usage: duckdb_export.py UNIFIED.parquet
"""

import sys

import duckdb

if __name__ == "__main__":
    duckdb.execute(
        "COPY (SELECT * FROM read_parquet(?)) TO '/dev/stdout' (FORMAT csv, HEADER)",
        [sys.argv[1]],
    )
