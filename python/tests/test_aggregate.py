"""mosagg.aggregate end to end: the CLI's aggregate tests (tests/cli/aggregate_*.rs),
in-process, through the real package and real files."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import mosagg
from conftest import TS, Scratch, row, sha256_hex

KEYS = sorted(
    "src src_sha256 width height framerate duration_s pix_fmt encoder_upstream mos mos_native "
    "mos_native_scale mos_std_dev n_ratings corpus corpus_source corpus_version "
    "ingested_at_utc aggregated_at_utc".split()
)
REFERENCE_COUNTERS = {
    "rows_in", "rows_out", "dropped_unknown_corpus", "dropped_bad_scale",
    "cross_corpus_dedups", "inputs_seen", "inputs_missing",
}


def kept_src(s: Scratch, sha: str) -> str:
    hits = [r for r in s.rows() if r["src_sha256"] == sha]
    assert len(hits) == 1, "exactly one row per key"
    return hits[0]["src"]


def std_row(sha, corpus, std, src):
    return row(sha, corpus, 3.0, mos_std_dev=std, src=src)


# --- counters ------------------------------------------------------------------------


def test_counters_have_the_reference_keys_plus_mosaggs_and_match_the_manifest(s: Scratch):
    a = s.shard("a.jsonl", [
        std_row("k", "lsvq", 0.9, "l1"),
        std_row("k", "lsvq", 0.4, "l2"),
        std_row("k", "konvid-1k", 0.7, "k1"),
        std_row("k", "konvid-1k", 0.2, "k2"),
        row("bad", "lsvq", 9.0),
        row("unk", "nope", 3.0),
        row("bv", "lsvq", 3.0, height="tall"),
    ])
    counters = s.aggregate([a])
    assert set(counters) == REFERENCE_COUNTERS | {"same_corpus_dups", "dropped_bad_value"}
    assert all(type(v) is int for v in counters.values())
    assert counters == s.manifest()["counters"]
    assert counters["cross_corpus_dedups"] == 1
    assert counters["same_corpus_dups"] == 2
    assert counters["dropped_bad_scale"] == 1
    assert counters["dropped_unknown_corpus"] == 1
    assert counters["dropped_bad_value"] == 1
    assert counters["rows_in"] == 7 == sum(
        counters[k] for k in ("rows_out", "cross_corpus_dedups", "same_corpus_dups",
                              "dropped_unknown_corpus", "dropped_bad_scale", "dropped_bad_value")
    )
    assert kept_src(s, "k") == "k2"


# --- dedup ---------------------------------------------------------------------------


def test_tighter_std_dev_wins_across_corpora_whatever_the_order(s: Scratch):
    a = s.shard("a.jsonl", [std_row("k", "konvid-1k", 0.8, "loose")])
    b = s.shard("b.jsonl", [std_row("k", "lsvq", 0.3, "tight")])
    assert s.aggregate([a, b])["cross_corpus_dedups"] == 1
    assert kept_src(s, "k") == "tight"
    s.aggregate([b, a])
    assert kept_src(s, "k") == "tight"


def test_zero_or_missing_std_dev_loses_to_any_positive_one(s: Scratch):
    no_std = std_row("m", "konvid-1k", 0.0, "missing")
    del no_std["mos_std_dev"]
    a = s.shard("a.jsonl", [std_row("z", "konvid-1k", 0.0, "zero"), no_std])
    b = s.shard("b.jsonl", [std_row("z", "lsvq", 2.0, "positive"), std_row("m", "lsvq", 9.0, "positive")])
    s.aggregate([a, b])
    assert kept_src(s, "z") == "positive"
    assert kept_src(s, "m") == "positive"


def test_ties_keep_the_first_seen_row(s: Scratch):
    a = s.shard("a.jsonl", [std_row("t", "konvid-1k", 0.5, "first")])
    b = s.shard("b.jsonl", [std_row("t", "lsvq", 0.5, "second")])
    s.aggregate([a, b])
    assert kept_src(s, "t") == "first"
    s.aggregate([b, a])
    assert kept_src(s, "t") == "second"


def test_rows_without_a_hash_never_merge_across_corpora(s: Scratch):
    a = s.shard("a.jsonl", [std_row("", "konvid-1k", 0.5, "same.mp4")])
    b = s.shard("b.jsonl", [std_row("", "lsvq", 0.2, "same.mp4")])
    counters = s.aggregate([a, b])
    assert counters["rows_out"] == 2
    assert counters["cross_corpus_dedups"] == 0


def test_rejects_ledger_explains_every_missing_row(s: Scratch):
    a = s.shard("a.jsonl", [
        std_row("k", "lsvq", 0.9, "l1"),
        std_row("k", "lsvq", 0.4, "l2"),
        std_row("k", "konvid-1k", 0.2, "k1"),
        row("bad", "lsvq", 9.0),
        row("unk", "nope", 3.0),
        row("bv", "lsvq", 3.0, width=[1920]),
        row("ok", "lsvq", 3.0),
    ])
    ledger = s.path("rejects.jsonl")
    s.aggregate([a], rejects=ledger)
    recs = [json.loads(line) for line in ledger.read_text().splitlines()]
    assert [(r["line"], r["reason"]) for r in recs] == [
        (1, "same_corpus_dup"), (2, "cross_corpus_dup"), (4, "bad_scale"),
        (5, "unknown_corpus"), (6, "bad_value"),
    ]
    assert all(r["kept_line"] == 3 and r["kept_path"] == str(a) for r in recs[:2])
    assert "kept_line" not in recs[2]
    assert "field 'width'" in recs[4]["detail"]
    assert len(s.rows()) + len(recs) == 7
    outputs = s.manifest()["run_provenance"]["outputs"]
    assert any(o["kind"] == "rejects" and o["rows"] == 5 for o in outputs)


def test_output_is_sorted_by_corpus_then_hash(s: Scratch):
    a = s.shard("a.jsonl", [row("b", "lsvq", 3.0), row("a", "lsvq", 3.0), row("c", "konvid-1k", 3.0)])
    s.aggregate([a])
    assert [(r["corpus_source"], r["src_sha256"]) for r in s.rows()] == [
        ("konvid-1k", "c"), ("lsvq", "a"), ("lsvq", "b"),
    ]


# --- scales and labels ---------------------------------------------------------------


@pytest.mark.parametrize("corpus,native,expected", [
    ("konvid-1k", 1.0, 0.0), ("konvid-1k", 3.0, 50.0), ("konvid-150k", 2.5, 37.5),
    ("lsvq", 4.0, 75.0), ("youtube-ugc", 5.0, 100.0), ("waterloo-ivc-4k", 73.5, 73.5),
    ("netflix-public", 95.4, 95.4), ("lsvq", 2.2615, 31.537499999999994),
])
def test_conversion_is_bit_exact_with_the_reference(s: Scratch, corpus, native, expected):
    s.aggregate([s.shard("a.jsonl", [row("a", corpus, native)])])
    (r,) = s.rows()
    assert r["mos"] == expected  # exact: same f64 operations in the same order
    assert r["mos_native"] == native


def test_out_of_range_rows_are_dropped_never_clipped_and_warned_with_file_and_line(
    s: Scratch, caplog: pytest.LogCaptureFixture
):
    a = s.shard("a.jsonl", [row("in", "lsvq", 5.05), row("out", "lsvq", 5.06), row("nan", "lsvq", "nan")])
    with caplog.at_level(logging.WARNING, logger="mosagg"):
        counters = s.aggregate([a])
    assert counters["dropped_bad_scale"] == 2
    assert [r["src_sha256"] for r in s.rows()] == ["in"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(m.startswith(f"{a}:2: native MOS 5.06") and m.endswith("row dropped") for m in warnings), warnings
    assert all(r.name.startswith("mosagg") for r in caplog.records)


def test_unknown_labels_are_dropped_and_named(s: Scratch, caplog: pytest.LogCaptureFixture):
    a = s.shard("a.jsonl", [row("a", "weird-set", 3.0)])
    with caplog.at_level(logging.WARNING):
        counters = s.aggregate([a])
    assert counters["dropped_unknown_corpus"] == 1
    assert s.out.read_text() == ""
    assert any(f"{a}:1:" in m and "weird-set" in m for m in caplog.messages), caplog.messages


def test_override_beats_the_row_label_and_matches_the_same_file_however_spelt(s: Scratch):
    a = s.shard("a.jsonl", [row("a", "weird-set", 4.0)])
    other_spelling = Path(s.root, ".", "a.jsonl")
    counters = s.aggregate([a], corpus_source_overrides={str(other_spelling): "lsvq"})
    assert counters["rows_out"] == 1
    assert s.rows()[0]["corpus_source"] == "lsvq"
    assert s.rows()[0]["mos"] == 75.0
    assert s.manifest()["corpus_source_overrides"]


def test_an_override_label_must_be_known(s: Scratch):
    a = s.shard("a.jsonl", [row("a", "lsvq", 4.0)])
    with pytest.raises(mosagg.UsageError, match="unknown corpus-source label") as e:
        s.aggregate([a], corpus_source_overrides={a: "not-real"})
    assert e.value.exit_code == 2
    assert s.files() == ["a.jsonl"]


def test_an_override_for_a_path_not_among_the_inputs_warns(s: Scratch, caplog):
    a = s.shard("a.jsonl", [row("a", "lsvq", 4.0)])
    with caplog.at_level(logging.WARNING):
        s.aggregate([a], corpus_source_overrides={s.path("other.jsonl"): "lsvq"})
    assert any("not among --inputs" in m for m in caplog.messages), caplog.messages


def test_scales_as_a_dict_or_a_file_add_a_corpus(s: Scratch):
    table = {"my-corpus": {"slope": 10.0, "intercept": 0.0, "native_min": 0.0,
                           "native_max": 10.0, "scale_label": "0-10"}}
    a = s.shard("a.jsonl", [row("a", "my-corpus", 7.5)])
    s.aggregate([a], scales=table)
    assert s.rows()[0]["mos"] == 75.0
    assert s.manifest()["scale_conversions"]["my-corpus"]["scale_label"] == "0-10"
    f = s.path("scales.json")
    f.write_text(json.dumps(table))
    s.aggregate([a], scales=f)
    assert s.rows()[0]["mos_native_scale"] == "0-10"
    with pytest.raises(mosagg.UsageError, match="slope"):
        s.aggregate([a], scales={"x": {"slop": 1}})


# --- fields and format ---------------------------------------------------------------


def test_a_row_is_written_exactly_as_python_json_dumps_sort_keys(s: Scratch):
    shard = s.shard_text("in.jsonl", json.dumps({
        "src": "na\u00efve \"q\" \\ \u0001 \U0001F600.mp4", "src_sha256": "h", "mos": 4,
        "corpus": "lsvq", "width": 1920.7, "height": "720", "framerate": "25",
        "duration_s": 1e-05, "mos_std_dev": 1e16, "n_ratings": None, "pix_fmt": 0, "extra": [1, 2],
    }) + "\n")
    s.aggregate([shard])
    expected = {
        "aggregated_at_utc": TS, "corpus": "lsvq", "corpus_source": "lsvq", "corpus_version": "",
        "duration_s": 1e-05, "encoder_upstream": "", "framerate": 25.0, "height": 720,
        "ingested_at_utc": "", "mos": 75.0, "mos_native": 4.0, "mos_native_scale": "1-5-acr",
        "mos_std_dev": 1e16, "n_ratings": 0, "pix_fmt": "",
        "src": "na\u00efve \"q\" \\ \u0001 \U0001F600.mp4", "src_sha256": "h", "width": 1920,
    }
    assert s.out.read_text(encoding="utf-8") == json.dumps(expected, sort_keys=True) + "\n"


def test_every_row_has_exactly_the_18_keys(s: Scratch):
    s.aggregate([s.shard("in.jsonl", [row("a", "lsvq", 2.0, bonus="x")])])
    assert sorted(s.rows()[0]) == KEYS


def test_non_finite_std_dev_is_written_as_null(s: Scratch):
    line = json.dumps(row("a", "lsvq", 2.0, mos_std_dev=float("nan")))  # Python writes NaN
    s.aggregate([s.shard_text("in.jsonl", line + "\n")])
    assert '"mos_std_dev": null' in s.out.read_text()


def test_bom_crlf_and_blank_lines_are_tolerated_and_lines_still_count(s: Scratch, caplog):
    text = "\ufeff" + json.dumps(row("a", "lsvq", 2.0)) + "\r\n\r\n   \n" + json.dumps(row("b", "lsvq", 9.0)) + "\r\n"
    shard = s.shard_text("in.jsonl", text)
    with caplog.at_level(logging.WARNING):
        assert s.aggregate([shard])["rows_in"] == 2
    assert any("in.jsonl:4: native MOS 9.0" in m for m in caplog.messages), caplog.messages


def test_fields_are_coerced_like_the_reference(s: Scratch):
    a = s.shard("a.jsonl", [{
        "src": "x.mp4", "src_sha256": "x", "mos": "3.5", "corpus": "lsvq", "width": "1280",
        "height": 719.9, "framerate": "", "n_ratings": "  42 ", "pix_fmt": None,
        "encoder_upstream": 5, "corpus_version": True, "mos_std_dev": "0.25",
    }])
    s.aggregate([a])
    r = s.rows()[0]
    assert (r["width"], r["height"], r["framerate"], r["n_ratings"]) == (1280, 719, 0.0, 42)
    assert (r["pix_fmt"], r["encoder_upstream"], r["corpus_version"]) == ("", "5", "True")
    assert (r["mos_std_dev"], r["duration_s"]) == (0.25, 0.0)


def test_unreadable_optional_values_drop_the_row_as_bad_value(s: Scratch, caplog):
    a = s.shard("a.jsonl", [
        row("a", "lsvq", 3.0, width="abc"), row("b", "lsvq", 3.0, framerate=True),
        row("c", "lsvq", 3.0, n_ratings={"n": 1}), row("d", "lsvq", 3.0, pix_fmt=["yuv"]),
        row("e", "lsvq", 3.0),
    ])
    with caplog.at_level(logging.WARNING):
        counters = s.aggregate([a])
    assert (counters["dropped_bad_value"], counters["rows_out"]) == (4, 1)
    for field in ("width", "framerate", "n_ratings", "pix_fmt"):
        assert any(f"field '{field}'" in m for m in caplog.messages), field


def test_output_is_deterministic_and_pinned_by_now_fn_or_source_date_epoch(
    s: Scratch, monkeypatch: pytest.MonkeyPatch
):
    shard = s.shard("in.jsonl", [
        row(f"k{i % 17}", "lsvq" if i % 2 == 0 else "konvid-1k", 1.0 + i / 20.0) for i in range(50)
    ])
    s.aggregate([shard])
    first = s.out.read_bytes()
    calls = []
    mosagg.aggregate([shard], s.out, now_fn=lambda: calls.append(1) or TS)
    assert calls == [1], "now_fn is called once per run"
    assert s.out.read_bytes() == first
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1778284800")
    mosagg.aggregate([shard], s.out)
    assert s.out.read_bytes() == first


def test_the_timestamp_must_be_a_real_utc_time(s: Scratch):
    a = s.shard("a.jsonl", [row("a", "lsvq", 3.0)])
    with pytest.raises(mosagg.UsageError, match="expects a real UTC time"):
        s.aggregate([a], aggregated_at="noon")
    with pytest.raises(mosagg.UsageError):
        mosagg.aggregate([a], s.out, now_fn=lambda: 12)
    with pytest.raises(mosagg.UsageError):
        mosagg.aggregate([a], s.out, now_fn=lambda: TS, aggregated_at=TS)
    assert s.files() == ["a.jsonl"]


def test_parquet_holds_the_same_rows_typed_with_metadata(s: Scratch):
    shard = s.shard("in.jsonl", [
        row("b", "lsvq", 2.0), row("a", "konvid-1k", 4.0), row("c", "lsvq", 3.0, mos_std_dev="inf"),
    ])
    s.aggregate([shard])
    t = pq.read_table(s.path("out.parquet"))
    assert t.num_rows == 3
    file_meta = pq.ParquetFile(s.path("out.parquet")).metadata.metadata
    meta = {k.decode(): v.decode() for k, v in file_meta.items()}
    assert meta["mosagg.schema"] == "mos-corpus-unified-v1"
    assert meta["mosagg.version"] == mosagg.__version__
    assert meta["mosagg.aggregated_at_utc"] == TS
    assert sorted(t.column_names) == KEYS
    assert str(t.schema.field("width").type) == "int64"
    assert t.column("src_sha256").to_pylist() == [r["src_sha256"] for r in s.rows()]
    assert t.column("mos_std_dev").null_count == 1
    compression = pq.ParquetFile(s.path("out.parquet")).metadata.row_group(0).column(0).compression
    assert compression == "ZSTD"


def test_manifest_proves_inputs_and_outputs(s: Scratch):
    a = s.shard("a.jsonl", [row("a", "lsvq", 2.0), row("b", "lsvq", 3.0)])
    s.aggregate([a, s.path("gone.jsonl")], parquet=s.path("sub/p.parquet"))
    m = s.manifest()
    assert m["schema"] == "mos-corpus-aggregate-manifest-v1"
    assert m["scale_conversions"]["lsvq"] == {
        "slope": 25.0, "intercept": -25.0, "native_min": 1.0, "native_max": 5.0, "scale_label": "1-5-acr",
    }
    prov = m["run_provenance"]
    assert prov["tool"] == "mosagg" and prov["version"] == mosagg.__version__
    assert prov["argv"][:3] == ["mosagg.aggregate", "--inputs", str(a)]
    assert "--parquet" in prov["argv"]
    assert prov["inputs"][0]["sha256"] == sha256_hex(a)
    assert prov["inputs"][0]["rows"] == 2
    assert prov["inputs"][0]["size_bytes"] == a.stat().st_size
    assert prov["inputs"][1]["exists"] is False
    for o in prov["outputs"]:
        assert o["sha256"] == sha256_hex(Path(o["path"])) and o["rows"] == 2
    assert any(o["path"].endswith("sub/p.parquet") for o in prov["outputs"])
    text = s.path("out.manifest.json").read_text()
    assert text.startswith('{\n  "corpus_source_overrides": {},\n  "counters": {')


def test_an_input_with_no_usable_row_still_gives_complete_empty_outputs(s: Scratch):
    empty = s.shard_text("empty.jsonl", "")
    bad = s.shard("bad.jsonl", [row("a", "lsvq", 7.0)])
    counters = s.aggregate([empty, bad])
    assert (counters["rows_in"], counters["rows_out"], counters["dropped_bad_scale"]) == (1, 0, 1)
    assert s.out.read_text() == ""
    assert pq.read_table(s.path("out.parquet")).num_rows == 0


def test_debug_level_explains_every_deduplicated_row(s: Scratch, caplog):
    a = s.shard("a.jsonl", [row("k", "lsvq", 3.0)])
    b = s.shard("b.jsonl", [row("k", "konvid-1k", 3.0, mos_std_dev=0.1)])
    with caplog.at_level(logging.DEBUG, logger="mosagg"):
        s.aggregate([a, b])
    line = (f"{a}:1: same clip as {b}:1 (konvid-1k, std-dev 0.1 vs 0.5), kept for its tighter "
            "rating spread; row deduplicated")
    assert any(r.levelno == logging.DEBUG and r.getMessage() == line for r in caplog.records), caplog.messages
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="mosagg"):
        s.aggregate([a, b])
    assert not [r for r in caplog.records if r.levelno < logging.INFO]


def test_outputs_are_ordinary_readable_files(s: Scratch):
    s.aggregate([s.shard("a.jsonl", [row("a", "lsvq", 2.0)])])
    for f in ("out.jsonl", "out.parquet", "out.manifest.json"):
        assert os.stat(s.path(f)).st_mode & 0o644 == 0o644


def test_a_single_path_instead_of_a_list_is_refused(s: Scratch):
    a = s.shard("a.jsonl", [row("a", "lsvq", 2.0)])
    with pytest.raises(mosagg.UsageError, match="list of paths"):
        mosagg.aggregate(str(a), s.out)
