"""Byte identity with the reference aggregator on the five generated corpora of
tests/fixtures/golden (tests/cli/golden.rs), called the way its callers call it:
``aggregate(inputs, output, now_fn=...)`` returning the reference's counters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import mosagg
from mosagg import compat
from conftest import GOLDEN

CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "case.json").is_file())


@pytest.mark.parametrize("module", [mosagg, compat], ids=["mosagg", "compat"])
@pytest.mark.parametrize("name", CASES)
def test_case_matches_the_reference(name, module, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    case_dir = GOLDEN / name
    case = json.loads((case_dir / "case.json").read_text())
    monkeypatch.chdir(case_dir)  # the case names its shards relative to its folder
    out = tmp_path / "out.jsonl"
    counters = module.aggregate(
        [Path(p) for p in case["inputs"]],
        out,
        corpus_source_overrides={Path(p): label for p, label in case["overrides"].items()},
        now_fn=lambda: case["aggregated_at"],
    )
    assert out.read_bytes() == (case_dir / "expected.jsonl").read_bytes()
    # The reference's return value, key for key; mosagg's extra keys come on top.
    expected = json.loads((case_dir / "expected_counters.json").read_text())
    assert {k: counters[k] for k in expected} == expected
    assert set(counters) - set(expected) <= {"same_corpus_dups", "dropped_bad_value"}


def test_there_are_golden_cases():
    assert len(CASES) >= 5
