"""Plumbing the hand-written baselines (DuckDB, polars) share: the same command line,
the same handling of missing inputs, and the same file hashing for their manifests."""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fp:
        while chunk := fp.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def base_parser(description: str) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--inputs", nargs="+", required=True, type=Path)
    ap.add_argument("--output", required=True, type=Path)
    ap.add_argument("--aggregated-at", default="2026-05-09T00:00:00+00:00")
    return ap


def present_inputs(inputs: list[Path]) -> list[Path] | None:
    """The inputs that exist, warning about the rest as mosagg does; None when none do."""
    for p in inputs:
        if not p.is_file():
            print(f"WARNING input not found, skipping: {p}", file=sys.stderr)
    present = [p for p in inputs if p.is_file()]
    if not present:
        print(
            f"error: no input JSONL files exist on disk (checked {len(inputs)} path(s)); "
            "refusing to write an empty unified corpus",
            file=sys.stderr,
        )
        return None
    return present
