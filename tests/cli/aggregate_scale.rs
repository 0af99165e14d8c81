//! Scale conversion, range checks and corpus labels (CONTRACT §2–3), through the binary.

use crate::common::{Scratch, row, with};
use serde_json::{Value, json};

/// Aggregates one row per (corpus, native MOS) and returns the unified MOS by src.
fn convert(cases: &[(&str, Value)]) -> Vec<(String, Option<Value>)> {
    let s = Scratch::new();
    let rows: Vec<Value> = cases
        .iter()
        .enumerate()
        .map(|(i, (corpus, mos))| row(&format!("clip{i:02}"), corpus, mos.clone()))
        .collect();
    let shard = s.shard("in.jsonl", &rows);
    let out = s.aggregate(&[&shard], &[]).ok();
    let got = out.rows();
    (0..cases.len())
        .map(|i| {
            let sha = format!("clip{i:02}");
            let hit = got.iter().find(|r| r["src_sha256"] == sha.as_str());
            (sha, hit.map(|r| r["mos"].clone()))
        })
        .collect()
}

#[test]
fn acr_corpora_map_1_to_5_onto_0_to_100() {
    for corpus in ["konvid-1k", "konvid-150k", "lsvq", "youtube-ugc"] {
        let got = convert(&[
            (corpus, json!(1.0)),
            (corpus, json!(3.0)),
            (corpus, json!(5.0)),
            (corpus, json!(2.5)),
        ]);
        let mos: Vec<f64> = got
            .iter()
            .map(|(_, m)| m.as_ref().and_then(Value::as_f64).expect("kept"))
            .collect();
        assert_eq!(mos, vec![0.0, 50.0, 100.0, 37.5], "{corpus}");
    }
}

#[test]
fn conversion_is_bit_exact_with_the_reference_order_of_operations() {
    let s = Scratch::new();
    let shard = s.shard(
        "in.jsonl",
        &[
            row("a", "konvid-1k", json!(2.2615)),
            row("b", "lsvq", json!(3.4)),
        ],
    );
    let out = s.aggregate(&[&shard], &[]).ok();
    let text = out.text();
    // 25 * 2.2615 - 25 in f64, printed as Python's repr.
    assert!(text.contains("\"mos\": 31.537499999999994"), "{text}");
    let rows = out.rows();
    let b = rows.iter().find(|r| r["src_sha256"] == "b").expect("b");
    assert!((b["mos"].as_f64().expect("mos") - 60.0).abs() < 1e-9);
    assert_eq!(b["mos_native"], json!(3.4));
    assert_eq!(b["mos_native_scale"], "1-5-acr");
}

#[test]
fn identity_corpora_keep_their_value() {
    let got = convert(&[
        ("waterloo-ivc-4k", json!(73.5)),
        ("netflix-public", json!(95.4)),
    ]);
    assert_eq!(got[0].1, Some(json!(73.5)));
    assert_eq!(got[1].1, Some(json!(95.4)));
}

#[test]
fn slack_admits_dataset_rounding_but_never_clips() {
    let got = convert(&[
        ("konvid-1k", json!(5.001)),
        ("konvid-1k", json!(5.05)),
        ("konvid-1k", json!(0.95)),
        ("konvid-1k", json!(5.0500001)),
        ("konvid-1k", json!(6.0)),
        ("konvid-1k", json!(0.0)),
        ("waterloo-ivc-4k", json!(-0.05)),
        ("netflix-public", json!(100.2)),
    ]);
    let kept: Vec<bool> = got.iter().map(|(_, m)| m.is_some()).collect();
    assert_eq!(
        kept,
        vec![true, true, true, false, false, false, true, false]
    );
    // Within the slack the value is converted, not clipped to 100.
    assert!(
        got[0]
            .1
            .as_ref()
            .and_then(Value::as_f64)
            .is_some_and(|m| m > 100.0)
    );
}

#[test]
fn out_of_range_rows_are_counted_and_warned_with_file_and_line() {
    let s = Scratch::new();
    let shard = s.shard(
        "in.jsonl",
        &[row("a", "lsvq", json!(4.0)), row("b", "lsvq", json!(6.0))],
    );
    let out = s.aggregate(&[&shard], &[]).ok();
    assert_eq!(out.counter("dropped_bad_scale"), 1);
    assert_eq!(out.counter("rows_out"), 1);
    let warn = format!(
        "WARNING {}:2: native MOS 6.0 for lsvq is outside the published [1.0, 5.0] range",
        shard.display()
    );
    assert!(out.stderr.contains(&warn), "{}", out.stderr);
}

#[test]
fn mos_forms_numbers_strings_and_non_numbers() {
    let got = convert(&[
        ("lsvq", json!(" 4.5 ")),
        ("lsvq", json!(3)),
        ("lsvq", json!("abc")),
        ("lsvq", json!(null)),
        ("lsvq", json!(true)),
        ("lsvq", json!([3])),
        ("lsvq", json!("nan")),
        ("lsvq", json!("")),
    ]);
    let mos: Vec<Option<f64>> = got
        .iter()
        .map(|(_, m)| m.as_ref().and_then(Value::as_f64))
        .collect();
    assert_eq!(
        mos,
        vec![Some(87.5), Some(50.0), None, None, None, None, None, None]
    );
}

#[test]
fn nan_and_infinity_tokens_are_read_and_dropped_as_bad_scale() {
    let s = Scratch::new();
    let base = row("x", "lsvq", json!(1.0)).to_string();
    let text = [
        base.replace("\"mos\":1.0", "\"mos\":NaN"),
        base.replace("\"mos\":1.0", "\"mos\":Infinity")
            .replace("\"x\"", "\"y\""),
        base.replace("\"mos\":1.0", "\"mos\":-Infinity")
            .replace("\"x\"", "\"z\""),
    ]
    .join("\n");
    assert!(text.contains("NaN") && text.contains("-Infinity"), "{text}");
    let shard = s.shard_text("in.jsonl", &text);
    let out = s.aggregate(&[&shard], &[]).ok();
    assert_eq!(out.counter("dropped_bad_scale"), 3);
    assert_eq!(out.counter("rows_out"), 0);
}

#[test]
fn unknown_labels_are_dropped_and_named() {
    let s = Scratch::new();
    let shard = s.shard(
        "in.jsonl",
        &[
            row("a", "live-vqc", json!(50.0)),
            row("b", "lsvq", json!(2.0)),
            with(row("c", "lsvq", json!(2.0)), "corpus", json!(null)),
        ],
    );
    let out = s.aggregate(&[&shard], &[]).ok();
    assert_eq!(out.counter("dropped_unknown_corpus"), 2);
    assert!(
        out.stderr.contains(":1: unknown corpus label 'live-vqc'"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains(":3: no corpus label"), "{}", out.stderr);
}

#[test]
fn corpus_source_field_beats_corpus_and_override_beats_both() {
    let s = Scratch::new();
    let a = s.shard(
        "a.jsonl",
        &[with(
            row("a", "konvid-1k-raw", json!(3.0)),
            "corpus_source",
            json!("konvid-1k"),
        )],
    );
    let b = s.shard("b.jsonl", &[row("b", "mystery", json!(3.0))]);
    let spelled = format!("{}/./b.jsonl=waterloo-ivc-4k", s.dir.path().display());
    let out = s
        .aggregate(&[&a, &b], &["--corpus-source-override", &spelled])
        .ok();
    let rows = out.rows();
    let ra = rows
        .iter()
        .find(|r| r["src_sha256"] == "a")
        .expect("a kept");
    assert_eq!(ra["corpus_source"], "konvid-1k");
    assert_eq!(ra["corpus"], "konvid-1k-raw");
    let rb = rows
        .iter()
        .find(|r| r["src_sha256"] == "b")
        .expect("b kept via override");
    assert_eq!(rb["corpus_source"], "waterloo-ivc-4k");
    assert_eq!(rb["mos"], json!(3.0));
    assert_eq!(
        out.manifest()["corpus_source_overrides"]
            .as_object()
            .map(|m| m.len()),
        Some(1)
    );
}

#[test]
fn null_corpus_is_written_as_the_resolved_label() {
    let s = Scratch::new();
    let a = s.shard(
        "a.jsonl",
        &[with(row("a", "x", json!(3.0)), "corpus", json!(null))],
    );
    let ov = format!("{}=lsvq", a.display());
    let out = s.aggregate(&[&a], &["--corpus-source-override", &ov]).ok();
    assert_eq!(out.rows()[0]["corpus"], "lsvq");
}

#[test]
fn override_usage_errors_exit_2() {
    let s = Scratch::new();
    let a = s.shard("a.jsonl", &[row("a", "lsvq", json!(3.0))]);
    let no_eq = s.aggregate(&[&a], &["--corpus-source-override", "a.jsonl"]);
    assert_eq!(no_eq.code, 2);
    assert!(
        no_eq.stderr.contains("expects PATH=LABEL"),
        "{}",
        no_eq.stderr
    );
    let bad = s.aggregate(&[&a], &["--corpus-source-override", "a.jsonl=nope"]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr
            .contains("valid labels: konvid-150k, konvid-1k, lsvq"),
        "{}",
        bad.stderr
    );
    assert!(!s.path("out.jsonl").exists());
}

#[test]
fn override_for_a_path_not_among_inputs_warns() {
    let s = Scratch::new();
    let a = s.shard("a.jsonl", &[row("a", "lsvq", json!(3.0))]);
    let out = s
        .aggregate(&[&a], &["--corpus-source-override", "elsewhere.jsonl=lsvq"])
        .ok();
    assert!(
        out.stderr
            .contains("elsewhere.jsonl, which is not among --inputs"),
        "{}",
        out.stderr
    );
}
