#!/usr/bin/env python3
"""Check that two unified JSONL outputs hold the same rows, in the same order.

A timing comparison is only meaningful if the tools did the same job, so
bench/run.sh calls this after the timed runs. Rows are compared as parsed JSON
values (exact float equality), ignoring `aggregated_at_utc` (the Python
reference cannot pin it) and formatting (DuckDB writes compact JSON).
With --bytes the files must also be byte-identical apart from that timestamp,
which is what CONTRACT.md promises for mosagg vs the reference.

Stdlib only. Exit 0 when equal, 1 with the first difference otherwise.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from itertools import zip_longest

_TS = re.compile(rb'"aggregated_at_utc": ?"[^"]*"')


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("expected")
    ap.add_argument("actual")
    ap.add_argument("--bytes", action="store_true", help="require byte-identical lines too")
    args = ap.parse_args()

    n = 0
    with open(args.expected, "rb") as fa, open(args.actual, "rb") as fb:
        for n, (la, lb) in enumerate(zip_longest(fa, fb), start=1):
            if la is None or lb is None:
                short = args.expected if la is None else args.actual
                print(f"DIFF line {n}: {short} ends early", file=sys.stderr)
                return 1
            if args.bytes:
                if _TS.sub(b"", la) != _TS.sub(b"", lb):
                    print(f"DIFF line {n} (bytes):\n  {la!r}\n  {lb!r}", file=sys.stderr)
                    return 1
                continue
            ra, rb = json.loads(la), json.loads(lb)
            ra.pop("aggregated_at_utc", None)
            rb.pop("aggregated_at_utc", None)
            if ra != rb:
                keys = sorted(k for k in ra.keys() | rb.keys() if ra.get(k) != rb.get(k))
                detail = ", ".join(f"{k}: {ra.get(k)!r} != {rb.get(k)!r}" for k in keys)
                print(f"DIFF line {n}: {detail}", file=sys.stderr)
                return 1
    print(f"same {n} rows: {args.expected} == {args.actual}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
