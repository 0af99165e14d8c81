//! The bytes of every output: Python-compatible JSONL, Parquet, manifest (CONTRACT §4, §6).

use std::fs::File;

use arrow::array::Array;

use crate::common::{Scratch, TS, many_rows, mosagg, row, with};
use parquet::file::reader::{FileReader, SerializedFileReader};
use serde_json::json;

const KEYS: [&str; 18] = [
    "aggregated_at_utc",
    "corpus",
    "corpus_source",
    "corpus_version",
    "duration_s",
    "encoder_upstream",
    "framerate",
    "height",
    "ingested_at_utc",
    "mos",
    "mos_native",
    "mos_native_scale",
    "mos_std_dev",
    "n_ratings",
    "pix_fmt",
    "src",
    "src_sha256",
    "width",
];

#[test]
fn a_row_is_written_exactly_as_python_json_dumps_sort_keys() {
    let s = Scratch::new();
    let shard = s.shard_text(
        "in.jsonl",
        "{\"src\": \"na\\u00efve \\\"q\\\" \\\\ \\u0001 \\ud83d\\ude00.mp4\", \"src_sha256\": \"h\", \"mos\": 4, \
         \"corpus\": \"lsvq\", \"width\": 1920.7, \"height\": \"720\", \"framerate\": \"25\", \"duration_s\": 1e-05, \
         \"mos_std_dev\": 1e16, \"n_ratings\": null, \"pix_fmt\": 0, \"extra\": [1, 2]}\n",
    );
    let out = s.aggregate(&[&shard], &[]).ok();
    assert_eq!(
        out.text(),
        format!(
            "{{\"aggregated_at_utc\": \"{TS}\", \"corpus\": \"lsvq\", \"corpus_source\": \"lsvq\", \"corpus_version\": \"\", \
             \"duration_s\": 1e-05, \"encoder_upstream\": \"\", \"framerate\": 25.0, \"height\": 720, \"ingested_at_utc\": \"\", \
             \"mos\": 75.0, \"mos_native\": 4.0, \"mos_native_scale\": \"1-5-acr\", \"mos_std_dev\": 1e+16, \"n_ratings\": 0, \
             \"pix_fmt\": \"\", \"src\": \"na\\u00efve \\\"q\\\" \\\\ \\u0001 \\ud83d\\ude00.mp4\", \"src_sha256\": \"h\", \"width\": 1920}}\n"
        )
    );
}

#[test]
fn every_row_has_exactly_the_18_keys() {
    let s = Scratch::new();
    let shard = s.shard(
        "in.jsonl",
        &[with(row("a", "lsvq", json!(2.0)), "bonus", json!("x"))],
    );
    let out = s.aggregate(&[&shard], &[]).ok();
    let rows = out.rows();
    let keys: Vec<&str> = rows[0]
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, KEYS);
}

#[test]
fn non_finite_std_dev_is_written_as_null() {
    let s = Scratch::new();
    let line = row("a", "lsvq", json!(2.0))
        .to_string()
        .replace("\"mos_std_dev\":0.5", "\"mos_std_dev\":NaN");
    let shard = s.shard_text("in.jsonl", &line);
    let out = s.aggregate(&[&shard], &[]).ok();
    assert!(
        out.text().contains("\"mos_std_dev\": null"),
        "{}",
        out.text()
    );
}

#[test]
fn bom_crlf_and_blank_lines_are_tolerated_and_lines_still_count() {
    let s = Scratch::new();
    let text = format!(
        "\u{feff}{}\r\n\r\n   \n{}\r\n",
        row("a", "lsvq", json!(2.0)),
        row("b", "lsvq", json!(9.0))
    );
    let shard = s.shard_text("in.jsonl", &text);
    let out = s.aggregate(&[&shard], &[]).ok();
    assert_eq!(out.counter("rows_in"), 2);
    assert!(
        out.stderr.contains("in.jsonl:4: native MOS 9.0"),
        "{}",
        out.stderr
    );
}

#[test]
fn output_is_deterministic_and_pinned_by_source_date_epoch() {
    let s = Scratch::new();
    let shard = s.shard(
        "in.jsonl",
        &(0..50)
            .map(|i| {
                row(
                    &format!("k{}", i % 17),
                    if i % 2 == 0 { "lsvq" } else { "konvid-1k" },
                    json!(1.0 + (i as f64) / 20.0),
                )
            })
            .collect::<Vec<_>>(),
    );
    let first = s.aggregate(&[&shard], &[]).ok().text();
    let first_parquet = std::fs::read(s.path("out.parquet")).expect("parquet");
    let second = s.aggregate(&[&shard], &[]).ok().text();
    assert_eq!(first, second);
    // The Parquet file too, byte for byte: no hash-ordered metadata in it.
    assert!(std::fs::read(s.path("out.parquet")).expect("parquet") == first_parquet);

    let out = s.path("epoch.jsonl");
    let run = mosagg()
        .env("SOURCE_DATE_EPOCH", "1778284800")
        .arg("aggregate")
        .arg("--inputs")
        .arg(&shard)
        .arg("--output")
        .arg(&out)
        .output()
        .expect("run");
    assert!(run.status.success());
    assert_eq!(std::fs::read_to_string(&out).expect("out"), first);
}

#[test]
fn parquet_holds_the_same_rows_typed_with_metadata() {
    let s = Scratch::new();
    let shard = s.shard(
        "in.jsonl",
        &[
            row("b", "lsvq", json!(2.0)),
            row("a", "konvid-1k", json!(4.0)),
            with(row("c", "lsvq", json!(3.0)), "mos_std_dev", json!("inf")),
        ],
    );
    let out = s.aggregate(&[&shard], &[]).ok();
    let file = File::open(s.path("out.parquet")).expect("parquet exists");
    let reader = SerializedFileReader::new(file).expect("parquet reader");
    let meta = reader.metadata().file_metadata();
    assert_eq!(meta.num_rows(), 3);
    let kv = meta.key_value_metadata().cloned().unwrap_or_default();
    assert!(
        kv.iter().any(
            |k| k.key == "mosagg.schema" && k.value.as_deref() == Some("mos-corpus-unified-v1")
        )
    );
    assert!(kv.iter().any(
        |k| k.key == "mosagg.version" && k.value.as_deref() == Some(env!("CARGO_PKG_VERSION"))
    ));
    // And on the Arrow schema, where pyarrow, polars and DuckDB look.
    let arrow_reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        File::open(s.path("out.parquet")).expect("parquet exists"),
    )
    .expect("arrow reader");
    let md = arrow_reader.schema().metadata();
    assert_eq!(
        md.get("mosagg.schema").map(String::as_str),
        Some("mos-corpus-unified-v1")
    );
    assert_eq!(
        md.get("mosagg.version").map(String::as_str),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        md.get("mosagg.aggregated_at_utc").map(String::as_str),
        Some(TS)
    );
    let rg = reader.metadata().row_group(0);
    assert!(
        rg.columns()
            .iter()
            .all(|c| c.compression().to_string().starts_with("ZSTD"))
    );

    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        File::open(s.path("out.parquet")).expect("parquet"),
    )
    .expect("arrow reader");
    let schema = builder.schema().clone();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, KEYS);
    use arrow::datatypes::DataType;
    assert_eq!(
        schema.field_with_name("width").expect("width").data_type(),
        &DataType::Int64
    );
    assert_eq!(
        schema.field_with_name("mos").expect("mos").data_type(),
        &DataType::Float64
    );
    assert_eq!(
        schema.field_with_name("src").expect("src").data_type(),
        &DataType::Utf8
    );
    let batches: Vec<_> = builder
        .build()
        .expect("reader")
        .collect::<Result<_, _>>()
        .expect("batches");
    let batch = arrow::compute::concat_batches(&schema, &batches).expect("concat");
    let sha = batch.column_by_name("src_sha256").expect("col");
    let sha = arrow::array::cast::as_string_array(sha);
    let jsonl_order: Vec<String> = out
        .rows()
        .iter()
        .map(|r| r["src_sha256"].as_str().unwrap_or("").to_owned())
        .collect();
    let parquet_order: Vec<String> = (0..sha.len()).map(|i| sha.value(i).to_owned()).collect();
    assert_eq!(parquet_order, jsonl_order);
    let std = batch.column_by_name("mos_std_dev").expect("std");
    assert_eq!(std.null_count(), 1, "non-finite std-dev stored as null");
}

#[test]
fn manifest_proves_inputs_and_outputs() {
    let s = Scratch::new();
    let a = s.shard(
        "a.jsonl",
        &[row("a", "lsvq", json!(2.0)), row("b", "lsvq", json!(3.0))],
    );
    let out = s
        .aggregate(
            &[&a, &s.path("gone.jsonl")],
            &["--parquet", s.path("sub/p.parquet").to_str().expect("utf8")],
        )
        .ok();
    let m = out.manifest();
    assert_eq!(m["schema"], "mos-corpus-aggregate-manifest-v1");
    assert_eq!(
        m["scale_conversions"]["lsvq"],
        json!({"slope": 25.0, "intercept": -25.0, "native_min": 1.0, "native_max": 5.0, "scale_label": "1-5-acr"})
    );
    let prov = &m["run_provenance"];
    assert_eq!(prov["tool"], "mosagg");
    assert_eq!(prov["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        prov["argv"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == "--inputs"))
    );
    assert_eq!(prov["inputs"][0]["sha256"], crate::common::sha256_hex(&a));
    assert_eq!(prov["inputs"][0]["rows"], 2);
    assert_eq!(
        prov["inputs"][0]["size_bytes"],
        std::fs::metadata(&a).expect("meta").len()
    );
    assert_eq!(prov["inputs"][1]["exists"], false);
    let outputs = prov["outputs"].as_array().expect("outputs");
    for o in outputs {
        let p = std::path::PathBuf::from(o["path"].as_str().expect("path"));
        assert_eq!(o["sha256"], crate::common::sha256_hex(&p), "{p:?}");
        assert_eq!(o["rows"], 2);
    }
    assert!(outputs.iter().any(|o| {
        o["path"]
            .as_str()
            .is_some_and(|p| p.ends_with("sub/p.parquet"))
    }));
    // Pretty-printed with sorted keys.
    let text = std::fs::read_to_string(s.path("out.manifest.json")).expect("manifest");
    assert!(
        text.starts_with("{\n  \"corpus_source_overrides\": {},\n  \"counters\": {"),
        "{text}"
    );
    assert!(
        out.summary()
            .ends_with(&format!("-> {}", s.path("out.jsonl").display()))
    );
}

#[test]
fn log_level_error_silences_warnings_but_not_the_summary() {
    let s = Scratch::new();
    let a = s.shard(
        "a.jsonl",
        &[row("a", "lsvq", json!(9.0)), row("b", "lsvq", json!(3.0))],
    );
    let out = s.aggregate(&[&a], &["--log-level", "ERROR"]).ok();
    assert!(!out.stderr.contains("WARNING"), "{}", out.stderr);
    assert!(out.summary().starts_with("[mosagg] "));
    let bad = s.aggregate(&[&a], &["--log-level", "LOUD"]);
    assert_eq!(bad.code, 2);
}

#[test]
fn fields_are_coerced_like_the_reference() {
    let s = Scratch::new();
    let a = s.shard(
        "a.jsonl",
        &[json!({"src": "x.mp4", "src_sha256": "x", "mos": "3.5", "corpus": "lsvq", "width": "1280",
                 "height": 719.9, "framerate": "", "n_ratings": "  42 ", "pix_fmt": null, "encoder_upstream": 5,
                 "corpus_version": true, "mos_std_dev": "0.25"})],
    );
    let out = s.aggregate(&[&a], &[]).ok();
    let r = &out.rows()[0];
    assert_eq!(r["width"], 1280);
    assert_eq!(r["height"], 719);
    assert_eq!(r["framerate"], json!(0.0));
    assert_eq!(r["n_ratings"], 42);
    assert_eq!(r["pix_fmt"], "");
    assert_eq!(r["encoder_upstream"], "5");
    assert_eq!(r["corpus_version"], "True");
    assert_eq!(r["mos_std_dev"], json!(0.25));
    assert_eq!(r["duration_s"], json!(0.0));
}

#[test]
fn a_repeated_key_takes_its_last_value_as_in_python() {
    // json.loads keeps the last value of a repeated key; the loader reads every field
    // in one pass over the members, so each field must see that value and no other.
    let s = Scratch::new();
    let shard = s.shard_text(
        "in.jsonl",
        "{\"src\": \"first.mp4\", \"src_sha256\": \"h\", \"mos\": 1, \"corpus\": \"konvid-1k\", \
         \"pix_fmt\": \"yuv420p\", \"width\": \"bad\", \"mos\": 4, \"pix_fmt\": \"yuv444p\", \
         \"src\": \"last.mp4\", \"width\": 1280, \"corpus\": \"lsvq\", \"n_ratings\": 3, \"n_ratings\": null}\n",
    );
    let out = s.aggregate(&[&shard], &[]).ok();
    assert_eq!(out.counter("rows_out"), 1);
    let r = &out.rows()[0];
    assert_eq!(r["src"], "last.mp4");
    assert_eq!(r["mos_native"], json!(4.0));
    assert_eq!(r["mos"], json!(75.0));
    assert_eq!(r["corpus"], "lsvq");
    assert_eq!(r["pix_fmt"], "yuv444p");
    assert_eq!(r["width"], 1280);
    assert_eq!(r["n_ratings"], 0);
}

#[test]
fn unreadable_optional_values_drop_the_row_as_bad_value() {
    let s = Scratch::new();
    let a = s.shard(
        "a.jsonl",
        &[
            with(row("a", "lsvq", json!(3.0)), "width", json!("abc")),
            with(row("b", "lsvq", json!(3.0)), "framerate", json!(true)),
            with(row("c", "lsvq", json!(3.0)), "n_ratings", json!({"n": 1})),
            with(row("d", "lsvq", json!(3.0)), "pix_fmt", json!(["yuv"])),
            row("e", "lsvq", json!(3.0)),
        ],
    );
    let out = s.aggregate(&[&a], &[]).ok();
    assert_eq!(out.counter("dropped_bad_value"), 4);
    assert_eq!(out.counter("rows_out"), 1);
    for field in ["width", "framerate", "n_ratings", "pix_fmt"] {
        assert!(
            out.stderr.contains(&format!("field '{field}'")),
            "{field}: {}",
            out.stderr
        );
    }
}

#[test]
fn pyarrow_reads_our_parquet_when_available() {
    let probe = std::process::Command::new("python3")
        .args(["-c", "import pyarrow"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: python3 with pyarrow is not installed");
        return;
    }
    let s = Scratch::new();
    let a = s.shard(
        "a.jsonl",
        &[
            row("a", "lsvq", json!(2.0)),
            row("b", "konvid-1k", json!(5.0)),
        ],
    );
    s.aggregate(&[&a], &[]).ok();
    let script = "import sys, pyarrow.parquet as pq\nt = pq.read_table(sys.argv[1])\nm = pq.read_schema(sys.argv[1]).metadata\nprint(t.num_rows, sorted(t.column('mos').to_pylist()), t.schema.field('width').type, m[b'mosagg.schema'].decode(), t.schema.metadata[b'mosagg.aggregated_at_utc'].decode())";
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(s.path("out.parquet"))
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("2 [25.0, 100.0] int64 mos-corpus-unified-v1 {TS}")
    );
}

#[test]
fn outputs_are_ordinary_readable_files() {
    use std::os::unix::fs::PermissionsExt;
    let s = Scratch::new();
    let a = s.shard("a.jsonl", &[row("a", "lsvq", json!(2.0))]);
    s.aggregate(&[&a], &[]).ok();
    for f in ["out.jsonl", "out.parquet", "out.manifest.json"] {
        let mode = std::fs::metadata(s.path(f))
            .expect("output")
            .permissions()
            .mode();
        assert_eq!(mode & 0o644, 0o644, "{f} has mode {mode:o}");
    }
}

#[test]
fn an_input_with_no_usable_row_still_gives_complete_empty_outputs() {
    let s = Scratch::new();
    let empty = s.shard_text("empty.jsonl", "");
    let bad = s.shard("bad.jsonl", &[row("a", "lsvq", json!(7.0))]);
    let out = s.aggregate(&[&empty, &bad], &[]).ok();
    assert_eq!(out.text(), "");
    assert_eq!(out.counter("rows_in"), 1);
    assert_eq!(out.counter("rows_out"), 0);
    assert_eq!(out.counter("dropped_bad_scale"), 1);
    let reader = SerializedFileReader::new(File::open(s.path("out.parquet")).expect("parquet"))
        .expect("a valid Parquet file");
    assert_eq!(reader.metadata().file_metadata().num_rows(), 0);
    assert_eq!(out.manifest()["run_provenance"]["inputs"][0]["rows"], 0);
}

#[test]
fn log_level_debug_also_explains_every_deduplicated_row() {
    let s = Scratch::new();
    let a = s.shard("a.jsonl", &[row("k", "lsvq", json!(3.0))]);
    let b = s.shard(
        "b.jsonl",
        &[with(
            row("k", "konvid-1k", json!(3.0)),
            "mos_std_dev",
            json!(0.1),
        )],
    );
    let out = s.aggregate(&[&a, &b], &["--log-level", "DEBUG"]).ok();
    let line = format!(
        "DEBUG {}:1: same clip as {}:1 (konvid-1k, std-dev 0.1 vs 0.5), kept for its tighter rating spread; row deduplicated",
        a.display(),
        b.display()
    );
    assert!(out.stderr.contains(&line), "{}", out.stderr);
    assert!(
        out.stderr.contains("DEBUG inputs read and ranked in "),
        "{}",
        out.stderr
    );
    let info = s.aggregate(&[&a, &b], &[]).ok();
    assert!(!info.stderr.contains("DEBUG"), "{}", info.stderr);
}

#[test]
fn compressed_shards_give_the_same_outputs_and_are_hashed_as_stored() {
    let s = Scratch::new();
    let a = s.shard(
        "konvid.jsonl",
        &[
            row("a", "konvid-1k", json!(4.0)),
            row("b", "konvid-1k", json!(9.0)),
        ],
    );
    let b = s.shard(
        "lsvq.jsonl",
        &[row("a", "lsvq", json!(3.0)), row("c", "lsvq", json!(2.0))],
    );
    let plain = s.aggregate(&[&a, &b], &[]).ok();
    let expected = plain.text();
    let counters = plain.manifest()["counters"].clone();

    let gz = s.path("konvid.jsonl.gz");
    crate::common::write_gzip(&gz, &std::fs::read(&a).expect("a"));
    let zst = s.path("lsvq.jsonl.zst");
    crate::common::write_zstd(&zst, &std::fs::read(&b).expect("b"));
    let packed = s.aggregate(&[&gz, &zst], &[]).ok();
    assert_eq!(packed.text(), expected);
    let manifest = packed.manifest();
    assert_eq!(manifest["counters"], counters);
    let inputs = manifest["run_provenance"]["inputs"]
        .as_array()
        .expect("inputs");
    for (record, path) in inputs.iter().zip([&gz, &zst]) {
        assert_eq!(record["sha256"], json!(crate::common::sha256_hex(path)));
        let size = std::fs::metadata(path).expect("size").len();
        assert_eq!(record["size_bytes"], json!(size));
    }
    // The dropped row's warning names the compressed file and its line.
    assert!(
        packed.stderr.contains("konvid.jsonl.gz:2: "),
        "{}",
        packed.stderr
    );

    // A damaged archive stops the run, naming the file; nothing is replaced.
    let mut broken = std::fs::read(&gz).expect("gz");
    broken.truncate(broken.len() - 12);
    std::fs::write(&gz, broken).expect("write");
    let before = std::fs::read(s.path("out.jsonl")).expect("out");
    let failed = s.aggregate(&[&gz, &zst], &[]);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert!(
        failed.stderr.contains("konvid.jsonl.gz"),
        "{}",
        failed.stderr
    );
    assert_eq!(std::fs::read(s.path("out.jsonl")).expect("out"), before);
}

/// A training set larger than a Parquet row group comes out in groups of 131,072 rows
/// (the last holds the rest), every row there once: the encoded groups go to the disk
/// during the run instead of all at its end.
#[test]
fn parquet_is_written_in_row_groups_of_a_fixed_size() {
    const GROUP: i64 = 1 << 17;
    let s = Scratch::new();
    let shard = s.shard_text("in/a.jsonl", &many_rows("konvid-1k", GROUP as usize + 100));
    let out = s.aggregate(&[&shard], &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let reader = SerializedFileReader::new(File::open(s.path("out.parquet")).expect("parquet"))
        .expect("parquet reader");
    let groups: Vec<i64> = reader
        .metadata()
        .row_groups()
        .iter()
        .map(|g| g.num_rows())
        .collect();
    assert_eq!(groups, [GROUP, 100]);
    let jsonl = std::fs::read_to_string(s.path("out.jsonl")).expect("jsonl");
    assert_eq!(jsonl.lines().count() as i64, GROUP + 100);
}
