"""Shared helpers: shards in a temporary folder, the run's outputs read back."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Dict, Iterable, List

import pytest

import mosagg

TS = "2026-05-09T00:00:00+00:00"
REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "fixtures" / "golden"


def row(sha: str, corpus: str, mos: Any, **fields: Any) -> Dict[str, Any]:
    """A well-formed input row (the CLI tests' `row`), with fields overridden by keyword."""
    r = {
        "src": f"{sha}.mp4",
        "src_sha256": sha,
        "width": 1920,
        "height": 1080,
        "framerate": 30.0,
        "duration_s": 8.0,
        "pix_fmt": "yuv420p",
        "encoder_upstream": "h264",
        "mos": mos,
        "mos_std_dev": 0.5,
        "n_ratings": 30,
        "corpus": corpus,
        "corpus_version": "v1",
        "ingested_at_utc": "2026-05-08T00:00:00+00:00",
    }
    r.update(fields)
    return r


def sha256_hex(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Scratch:
    """A folder holding shards and outputs; `aggregate` writes out.jsonl and siblings."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, name: str) -> Path:
        return self.root / name

    def shard_text(self, name: str, text: str) -> Path:
        p = self.path(name)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
        return p

    def shard(self, name: str, rows: Iterable[Dict[str, Any]]) -> Path:
        return self.shard_text(name, "".join(json.dumps(r) + "\n" for r in rows))

    @property
    def out(self) -> Path:
        return self.path("out.jsonl")

    def aggregate(self, inputs: List[Path], **kwargs: Any) -> Dict[str, int]:
        kwargs.setdefault("aggregated_at", TS)
        return mosagg.aggregate(inputs, self.out, **kwargs)

    def rows(self) -> List[Dict[str, Any]]:
        return [json.loads(line) for line in self.out.read_text(encoding="utf-8").splitlines()]

    def manifest(self) -> Dict[str, Any]:
        return json.loads(self.path("out.manifest.json").read_text(encoding="utf-8"))

    def files(self) -> List[str]:
        """Every file under the folder, recursively (stray temp or lock files included)."""
        found = []
        for dirpath, _, names in os.walk(self.root):
            for n in names:
                found.append(os.path.relpath(os.path.join(dirpath, n), self.root))
        return sorted(found)


@pytest.fixture
def s(tmp_path: Path) -> Scratch:
    return Scratch(tmp_path)


@pytest.fixture(autouse=True)
def _unpinned_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    # A SOURCE_DATE_EPOCH in the environment would pin every run's timestamp.
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
