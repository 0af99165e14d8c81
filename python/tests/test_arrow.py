"""read_unified, query, stats and scales: Arrow tables through the C stream interface,
equal to what the CLI writes and computes (tests/cli/query_cmd.rs, stats_cmd.rs,
scales_cmd.rs), plus pandas on top, as the trainer uses it."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import mosagg
from conftest import TS, REPO

KONVID = [1.0, 2.5, 3.0, 4.2, 5.0]
WATERLOO = [12.0, 40.0, 55.5, 90.0]
NETFLIX = [70.0, 80.0, 95.4]


@pytest.fixture
def training_set(tmp_path: Path):
    """A small unified set (JSONL + Parquet) made by mosagg.aggregate itself."""
    inputs = []
    for corpus, natives in (("konvid-1k", KONVID), ("waterloo-ivc-4k", WATERLOO), ("netflix-public", NETFLIX)):
        p = tmp_path / f"{corpus}.jsonl"
        p.write_text("".join(json.dumps({
            "src": f"{corpus}_{i}.mp4", "src_sha256": f"{corpus}-{i}", "mos": mos,
            # Python writes a non-finite spread as a bare NaN; mosagg reads it and writes null.
            "mos_std_dev": float("nan") if i == 0 and corpus != "konvid-1k" else 0.3,
            "corpus": corpus, "width": 1920,
            "height": 1080, "pix_fmt": 'yuv420p, "10-bit" \u00e9',
        }) + "\n" for i, mos in enumerate(natives)))
        inputs.append(p)
    out = tmp_path / "set" / "unified.jsonl"
    mosagg.aggregate(inputs, out, aggregated_at=TS)
    return out, tmp_path / "set" / "unified.parquet"


# --- read_unified --------------------------------------------------------------------


def test_read_unified_tables_equal_the_parquet_output(training_set):
    jsonl, parquet = training_set
    expected = pq.read_table(parquet)
    from_jsonl = mosagg.read_unified(jsonl)
    from_parquet = mosagg.read_unified(parquet)
    assert isinstance(from_jsonl, pa.Table) and isinstance(from_parquet, pa.Table)
    assert from_jsonl.num_rows == 12
    # Same columns, same types, same nullability, same values, same order.
    assert from_jsonl.schema.remove_metadata() == expected.schema.remove_metadata()
    assert from_jsonl.equals(expected)
    assert from_parquet.equals(expected)
    assert from_jsonl.column("mos_std_dev").null_count == 2, "non-finite spread is null, as in the file"


def test_read_unified_rows_match_the_jsonl_byte_for_byte(training_set):
    jsonl, _ = training_set
    rows = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    assert mosagg.read_unified(jsonl).to_pylist() == rows


def test_read_unified_feeds_pandas_grouped_by_corpus(training_set):
    jsonl, _ = training_set
    df = mosagg.read_unified(jsonl).to_pandas()
    counts = df.groupby("corpus_source").size().to_dict()
    assert counts == {"konvid-1k": 5, "netflix-public": 3, "waterloo-ivc-4k": 4}
    assert str(df["width"].dtype) == "int64"
    assert df.loc[df.src == "konvid-1k_1.mp4", "mos"].item() == 37.5


def test_read_unified_is_a_c_stream_any_arrow_consumer_can_take(training_set):
    _, parquet = training_set
    t = mosagg.read_unified(parquet)
    again = pa.RecordBatchReader.from_stream(t).read_all()  # via __arrow_c_stream__
    assert again.equals(t)


def test_read_unified_refuses_what_is_not_a_unified_set(tmp_path: Path):
    other = tmp_path / "other.jsonl"
    other.write_text('{"a": 1}\n')
    with pytest.raises(mosagg.UsageError, match="not a unified training set"):
        mosagg.read_unified(other)
    with pytest.raises(mosagg.NoInputError, match="no such file"):
        mosagg.read_unified(tmp_path / "gone.parquet")
    broken = tmp_path / "broken.parquet"
    broken.write_text("not parquet")
    with pytest.raises(mosagg.EngineError, match="broken.parquet"):
        mosagg.read_unified(broken)


# --- query ---------------------------------------------------------------------------


def test_query_joins_tables_of_each_kind(training_set, tmp_path: Path):
    jsonl, parquet = training_set
    folder = tmp_path / "parts"
    folder.mkdir()
    for name in ("a.parquet", "b.parquet"):
        (folder / name).write_bytes(parquet.read_bytes())
    raw = tmp_path / "konvid.ndjson"
    raw.write_bytes((tmp_path / "konvid-1k.jsonl").read_bytes())
    t = mosagg.query(
        "SELECT (SELECT COUNT(*) FROM p JOIN j ON p.src_sha256 = j.src_sha256) AS joined, "
        "(SELECT COUNT(*) FROM parts) AS folder_rows, (SELECT SUM(mos) FROM raw) AS raw_native_sum",
        tables={"p": parquet, "j": str(jsonl), "parts": folder, "raw": raw},
    )
    assert t.to_pylist() == [{"joined": 12, "folder_rows": 24, "raw_native_sum": sum(KONVID)}]


def test_query_result_is_typed(training_set):
    _, parquet = training_set
    t = mosagg.query(
        "SELECT corpus_source, COUNT(*) AS n, AVG(mos) AS mean FROM u GROUP BY corpus_source ORDER BY 1",
        {"u": parquet},
    )
    assert t.schema.field("n").type == pa.int64()
    assert t.schema.field("mean").type == pa.float64()
    assert t.column("corpus_source").to_pylist() == ["konvid-1k", "netflix-public", "waterloo-ivc-4k"]


def test_query_errors_are_typed_and_clear(training_set, tmp_path: Path):
    _, parquet = training_set
    u = {"u": parquet}
    cases = [
        (("SELEC 1", u), mosagg.UsageError, ["invalid query", "SELEC"]),
        (("SELECT * FROM nope", u), mosagg.UsageError, ["nope", "not found", "tables: u"]),
        (("SELECT colour FROM u", u), mosagg.UsageError, ["colour"]),
        (("SELECT 1", {"g": tmp_path / "gone.parquet"}), mosagg.NoInputError, ["gone.parquet", "no such file"]),
        (("SELECT 1", {"Big": parquet}), mosagg.UsageError, ["lower-case"]),
        (("CREATE TABLE t AS SELECT 1", u), mosagg.UsageError, ["only reads"]),
        ((f"COPY u TO '{tmp_path / 'copy.parquet'}'", u), mosagg.UsageError, ["invalid query"]),
    ]
    for args, exc, needles in cases:
        with pytest.raises(exc) as e:
            mosagg.query(*args)
        for n in needles:
            assert n in str(e.value), (args, str(e.value))
    assert not (tmp_path / "copy.parquet").exists()


def test_query_sorts_within_its_memory_limit_or_raises_naming_it(tmp_path: Path):
    rows = 60_000
    shard = tmp_path / "rows.jsonl"
    # Every key once, in a scrambled order (7919 is prime to 60,000).
    shard.write_text("".join(f'{{"k": {(i * 7919) % rows}, "pad": "{"x" * 80}-{i}"}}\n' for i in range(rows)))
    spill = tmp_path / "spill"
    spill.mkdir()
    sql = "SELECT k, pad FROM t ORDER BY k DESC"
    t = mosagg.query(sql, {"t": shard}, memory_limit="64M", spill_dir=spill)
    assert t.column("k").to_pylist() == list(range(rows - 1, -1, -1))
    assert list(spill.iterdir()) == []
    with pytest.raises(mosagg.ResourcesError, match="--memory-limit 1M") as e:
        mosagg.query(sql, {"t": shard}, memory_limit="1M", spill_dir=spill)
    assert e.value.exit_code == 1
    assert list(spill.iterdir()) == []
    with pytest.raises(mosagg.UsageError, match="no-such-spill"):
        mosagg.query(sql, {"t": shard}, spill_dir=tmp_path / "no-such-spill")
    with pytest.raises(mosagg.UsageError, match="memory_limit"):
        mosagg.query(sql, {"t": shard}, memory_limit="lots")


# --- stats ---------------------------------------------------------------------------


def quantile(sorted_values, q):
    """numpy's default (linear) quantile, from its definition."""
    pos = q * (len(sorted_values) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def test_stats_match_the_definitions_for_parquet_and_jsonl(training_set):
    jsonl, parquet = training_set
    from_parquet = mosagg.stats(parquet)
    from_jsonl = mosagg.stats(jsonl)
    assert from_parquet.to_pylist() == from_jsonl.to_pylist(), "same rows, same statistics"
    assert [f.type for f in from_parquet.schema] == [f.type for f in from_jsonl.schema]
    assert from_parquet.column_names == [
        "corpus_source", "n", "mean", "std", "min", "p05", "p25", "median", "p75", "p95", "max",
        "scale_label", "native_min", "native_max",
    ]
    rows = from_parquet.to_pylist()
    assert [r["corpus_source"] for r in rows] == ["konvid-1k", "netflix-public", "waterloo-ivc-4k"]
    for r, natives, slope, intercept in zip(rows, (KONVID, NETFLIX, WATERLOO), (25.0, 1.0, 1.0), (-25.0, 0.0, 0.0)):
        mos = sorted(slope * x + intercept for x in natives)
        assert r["n"] == len(mos)
        assert r["mean"] == pytest.approx(statistics.fmean(mos), rel=1e-12)
        assert r["std"] == pytest.approx(statistics.stdev(mos), rel=1e-12)
        assert (r["min"], r["max"]) == (mos[0], mos[-1])
        for key, q in (("p05", 0.05), ("p25", 0.25), ("median", 0.5), ("p75", 0.75), ("p95", 0.95)):
            assert r[key] == pytest.approx(quantile(mos, q), rel=1e-12), key


def test_stats_by_another_column_and_its_errors(training_set, tmp_path: Path):
    _, parquet = training_set
    by_width = mosagg.stats(parquet, by="width")
    assert by_width.column_names[0] == "width"
    assert by_width.column("n").to_pylist() == [12]
    with pytest.raises(mosagg.UsageError, match="no such column"):
        mosagg.stats(parquet, by="colour")
    with pytest.raises(mosagg.UsageError, match="statistics' own columns"):
        mosagg.stats(parquet, by="median")
    with pytest.raises(mosagg.NoInputError, match="no such file"):
        mosagg.stats(tmp_path / "nope.parquet")
    other = tmp_path / "other.jsonl"
    other.write_text('{"a": 1}\n')
    with pytest.raises(mosagg.UsageError, match="no column mos"):
        mosagg.stats(other)


def test_stats_with_a_group_per_clip_and_a_memory_limit(tmp_path: Path):
    clips = tmp_path / "clips.jsonl"
    clips.write_text(
        "".join(f'{{"src": "clip_{i:05d}.mp4", "mos": {i % 100}}}\n' for i in range(20_000))
    )
    per_clip = mosagg.stats(clips, by="src", memory_limit="256M")
    assert per_clip.num_rows == 20_000
    assert per_clip.column("src")[123].as_py() == "clip_00123.mp4"
    assert per_clip.column("median")[123].as_py() == 23.0
    with pytest.raises(mosagg.ResourcesError, match="--memory-limit 1M") as e:
        mosagg.stats(clips, by="src", memory_limit="1M")
    assert e.value.exit_code == 1
    with pytest.raises(mosagg.UsageError, match="memory_limit"):
        mosagg.stats(clips, by="src", memory_limit=1.5)
    with pytest.raises(mosagg.UsageError, match="no-such-spill"):
        mosagg.stats(clips, by="src", spill_dir=tmp_path / "no-such-spill")


# --- scales --------------------------------------------------------------------------


def test_scales_is_the_table_the_cli_prints_and_the_manifest_records(training_set):
    table = mosagg.scales()
    assert set(table) == {"konvid-1k", "konvid-150k", "lsvq", "youtube-ugc", "waterloo-ivc-4k", "netflix-public"}
    assert table["konvid-1k"] == {
        "slope": 25.0, "intercept": -25.0, "native_min": 1.0, "native_max": 5.0,
        "scale_label": "1-5-acr", "source": table["konvid-1k"]["source"],
    }
    assert "KonViD-1k" in table["konvid-1k"]["source"]
    jsonl, _ = training_set
    manifest = json.loads(jsonl.with_name("unified.manifest.json").read_text())
    recorded = manifest["scale_conversions"]
    assert {k: {f: v for f, v in spec.items() if f != "source"} for k, spec in table.items()} == recorded


def test_scales_lays_a_dict_or_file_over_the_builtin_table(tmp_path: Path):
    extra = {"lsvq": {"slope": 20.0, "intercept": 0.0, "native_min": 0.0, "native_max": 5.0,
                      "scale_label": "0-5", "source": "a note"}}
    table = mosagg.scales(extra)
    assert table["lsvq"] == extra["lsvq"]
    assert len(table) == 6
    f = tmp_path / "s.json"
    f.write_text(json.dumps(extra))
    assert mosagg.scales(f) == table
    with pytest.raises(mosagg.UsageError, match="s.json"):
        f.write_text("{")
        mosagg.scales(f)
    with pytest.raises(mosagg.UsageError):
        mosagg.scales({"x": {"slope": float("nan")}})
