"""mosagg.compat: the reference module's behaviour for callers that expect it exactly,
checked with the reference's own test cases for ``aggregate`` (ai/tests of the reference
tool): counters, warnings through logging, and SystemExit with its messages."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from mosagg import compat
from conftest import TS

NOW = lambda: TS  # noqa: E731 - the reference's tests pass a lambda too


def likert_row(*, src, sha, mos, corpus, std=0.5):
    return {"src": src, "src_sha256": sha, "src_size_bytes": 1024, "width": 1920, "height": 1080,
            "framerate": 24.0, "duration_s": 5.0, "pix_fmt": "yuv420p", "encoder_upstream": "h264",
            "mos": mos, "mos_std_dev": std, "n_ratings": 30, "corpus": corpus,
            "corpus_version": f"{corpus}-2019", "ingested_at_utc": "2026-05-08T00:00:00+00:00"}


def write_jsonl(path: Path, rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows), encoding="utf-8")
    return path


def read_rows(path: Path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_scale_conversions_are_the_references_table():
    assert set(compat.SCALE_CONVERSIONS) == {
        "konvid-1k", "konvid-150k", "lsvq", "youtube-ugc", "waterloo-ivc-4k", "netflix-public",
    }
    assert compat.SCALE_CONVERSIONS["konvid-1k"] == {
        "slope": 25.0, "intercept": -25.0, "native_min": 1.0, "native_max": 5.0, "scale_label": "1-5-acr",
    }
    assert compat.SCALE_CONVERSIONS["netflix-public"]["scale_label"] == "vmaf"


def test_cross_corpus_dedup_end_to_end(tmp_path: Path):
    shared = "deadbeef" * 8
    konvid = write_jsonl(tmp_path / "konvid_150k.jsonl", [
        likert_row(src="dup.mp4", sha=shared, mos=3.6, corpus="konvid-150k"),
        likert_row(src="k_only.mp4", sha="11" * 32, mos=4.5, corpus="konvid-150k"),
    ])
    lsvq = write_jsonl(tmp_path / "lsvq.jsonl", [
        likert_row(src="dup.mp4", sha=shared, mos=3.4, corpus="lsvq", std=0.9),
        likert_row(src="l_only.mp4", sha="22" * 32, mos=2.0, corpus="lsvq"),
    ])
    out = tmp_path / "unified.jsonl"
    counters = compat.aggregate([konvid, lsvq], out, now_fn=NOW)
    assert (counters["cross_corpus_dedups"], counters["rows_out"]) == (1, 3)
    assert (counters["inputs_seen"], counters["inputs_missing"]) == (2, 0)
    by_sha = {r["src_sha256"]: r for r in read_rows(out)}
    assert by_sha[shared]["corpus_source"] == "konvid-150k"
    assert by_sha[shared]["mos"] == pytest.approx(65.0, abs=1e-9)


def test_partial_input_missing_warns_but_succeeds(tmp_path: Path, caplog):
    konvid = write_jsonl(tmp_path / "konvid_150k.jsonl",
                         [likert_row(src="a.mp4", sha="a" * 64, mos=3.0, corpus="konvid-150k")])
    with caplog.at_level("WARNING"):
        counters = compat.aggregate([konvid, tmp_path / "lsvq.jsonl"], tmp_path / "unified.jsonl", now_fn=NOW)
    assert (counters["inputs_seen"], counters["inputs_missing"], counters["rows_out"]) == (1, 1, 1)
    assert any("input not found" in r.getMessage() for r in caplog.records)


def test_all_inputs_missing_raises_system_exit_with_the_references_message(tmp_path: Path):
    out = tmp_path / "unified.jsonl"
    with pytest.raises(SystemExit) as e:
        compat.aggregate([tmp_path / "missing_a.jsonl", tmp_path / "missing_b.jsonl"], out)
    assert str(e.value) == ("error: no input JSONL files exist on disk (checked 2 path(s)); "
                            "refusing to write an empty unified corpus")
    assert not out.exists()


def test_missing_required_key_raises_system_exit(tmp_path: Path):
    bad = likert_row(src="x.mp4", sha="55" * 32, mos=3.0, corpus="lsvq")
    bad.pop("src_sha256")
    path = write_jsonl(tmp_path / "bad.jsonl", [bad])
    with pytest.raises(SystemExit) as e:
        compat.aggregate([path], tmp_path / "unified.jsonl", now_fn=NOW)
    assert str(e.value) == f"error: {path}:1: missing required keys: ['src_sha256']"


def test_invalid_json_and_non_objects_raise_system_exit_naming_file_and_line(tmp_path: Path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"src": "a", "mos": 3.0\n')
    with pytest.raises(SystemExit) as e:
        compat.aggregate([bad], tmp_path / "unified.jsonl")
    assert str(e.value).startswith(f"error: {bad}:1: invalid JSON (")
    bad.write_text('"just a string"\n')
    with pytest.raises(SystemExit) as e:
        compat.aggregate([bad], tmp_path / "unified.jsonl")
    assert str(e.value) == f"error: {bad}:1: expected JSON object, got str"


def test_unknown_corpus_label_drops_row(tmp_path: Path, caplog):
    path = write_jsonl(tmp_path / "weird.jsonl",
                       [likert_row(src="o.mp4", sha="66" * 32, mos=3.0, corpus="weird-set")])
    out = tmp_path / "unified.jsonl"
    with caplog.at_level("WARNING"):
        counters = compat.aggregate([path], out, now_fn=NOW)
    assert (counters["rows_in"], counters["rows_out"], counters["dropped_unknown_corpus"]) == (1, 0, 1)
    assert out.read_text() == ""
    assert any(r.levelno == logging.WARNING and "weird-set" in r.getMessage() for r in caplog.records)


def test_corpus_source_override_wins_over_row_label(tmp_path: Path):
    path = write_jsonl(tmp_path / "weird.jsonl",
                       [likert_row(src="o.mp4", sha="77" * 32, mos=4.0, corpus="weird-set")])
    out = tmp_path / "unified.jsonl"
    counters = compat.aggregate([path], out, corpus_source_overrides={path: "lsvq"}, now_fn=NOW)
    assert counters["rows_out"] == 1
    (r,) = read_rows(out)
    assert (r["corpus_source"], r["mos"]) == ("lsvq", 75.0)


def test_unknown_override_label_raises_the_references_parser_message(tmp_path: Path):
    path = write_jsonl(tmp_path / "a.jsonl", [likert_row(src="o.mp4", sha="77" * 32, mos=4.0, corpus="lsvq")])
    with pytest.raises(SystemExit) as e:
        compat.aggregate([path], tmp_path / "unified.jsonl", corpus_source_overrides={path: "not-real"})
    assert str(e.value) == (
        "error: unknown corpus-source label 'not-real'; valid labels: "
        "['konvid-150k', 'konvid-1k', 'lsvq', 'netflix-public', 'waterloo-ivc-4k', 'youtube-ugc']"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl"]


def test_output_is_deterministic_across_runs_and_input_orders(tmp_path: Path):
    k = write_jsonl(tmp_path / "konvid.jsonl", [likert_row(src="a.mp4", sha="aa" * 32, mos=3.0, corpus="konvid-150k")])
    l = write_jsonl(tmp_path / "lsvq.jsonl", [likert_row(src="b.mp4", sha="bb" * 32, mos=4.0, corpus="lsvq")])
    compat.aggregate([k, l], tmp_path / "a.jsonl", now_fn=NOW)
    compat.aggregate([l, k], tmp_path / "b.jsonl", now_fn=NOW)
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()


def test_mosaggs_own_options_pass_through(tmp_path: Path):
    k = write_jsonl(tmp_path / "konvid.jsonl", [likert_row(src="a.mp4", sha="aa" * 32, mos=3.0, corpus="konvid-150k")])
    compat.aggregate([k], tmp_path / "u.jsonl", now_fn=NOW, parquet=tmp_path / "elsewhere.parquet")
    assert (tmp_path / "elsewhere.parquet").is_file()
