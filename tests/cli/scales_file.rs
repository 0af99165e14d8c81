//! `--scales FILE`: extra conversions laid over the built-in table for `aggregate`,
//! `run` and `scales`; a malformed file is a usage error naming the file and the problem.

use std::path::PathBuf;

use crate::common::{Scratch, mosagg, row};
use serde_json::{Value, json};

const LIVE_VQC: &str = r#"{
  "live-vqc": {"slope": 1.0, "intercept": 0.0, "native_min": 0.0, "native_max": 100.0,
               "scale_label": "0-100-live", "source": "Sinno & Bovik 2019"}
}"#;

fn scales_file(s: &Scratch, text: &str) -> PathBuf {
    s.shard_text("scales.json", text)
}

fn arg(p: &std::path::Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn a_new_corpus_is_converted_and_recorded() {
    let s = Scratch::new();
    let shard = s.shard(
        "live.jsonl",
        &[
            row("v1", "live-vqc", json!(63.5)),
            row("k1", "konvid-1k", json!(2.0)),
        ],
    );
    let file = scales_file(&s, LIVE_VQC);

    // Without the file the label is unknown and the row is dropped.
    let out = s.aggregate(&[&shard], &[]).ok();
    assert_eq!(out.counter("dropped_unknown_corpus"), 1);

    let out = s.aggregate(&[&shard], &["--scales", arg(&file)]).ok();
    assert_eq!(out.counter("dropped_unknown_corpus"), 0);
    let rows = out.rows();
    let live = rows
        .iter()
        .find(|r| r["corpus_source"] == "live-vqc")
        .expect("live row");
    assert_eq!(live["mos"], json!(63.5));
    assert_eq!(live["mos_native_scale"], "0-100-live");
    let table = &out.manifest()["scale_conversions"];
    assert_eq!(table["live-vqc"]["scale_label"], "0-100-live");
    assert_eq!(table["live-vqc"]["native_max"], json!(100.0));
    // The built-in entries are still in force beside it.
    assert_eq!(table["konvid-1k"]["slope"], json!(25.0));
    assert_eq!(table.as_object().map(|t| t.len()), Some(7));
}

#[test]
fn an_entry_replaces_the_builtin_one_of_the_same_label() {
    let s = Scratch::new();
    let shard = s.shard("k.jsonl", &[row("k1", "konvid-1k", json!(6.0))]);
    let file = scales_file(
        &s,
        r#"{"konvid-1k": {"slope": 10, "intercept": 0, "native_min": 0, "native_max": 10, "scale_label": "0-10"}}"#,
    );
    let out = s.aggregate(&[&shard], &["--scales", arg(&file)]).ok();
    // 6.0 is outside the built-in 1-5 range but inside the file's 0-10.
    assert_eq!(out.rows()[0]["mos"], json!(60.0));
    assert_eq!(
        out.manifest()["scale_conversions"]["konvid-1k"]["scale_label"],
        "0-10"
    );
}

#[test]
fn a_file_label_can_be_an_override_target() {
    let s = Scratch::new();
    let shard = s.shard("x.jsonl", &[row("x1", "whatever", json!(50.0))]);
    let file = scales_file(&s, LIVE_VQC);
    let ov = format!("{}=live-vqc", shard.display());
    let out = s
        .aggregate(
            &[&shard],
            &["--scales", arg(&file), "--corpus-source-override", &ov],
        )
        .ok();
    assert_eq!(out.rows()[0]["corpus_source"], "live-vqc");
}

#[test]
fn malformed_files_exit_2_naming_the_file_and_the_problem() {
    let entry = |fields: &str| format!(r#"{{"new": {{{fields}}}}}"#);
    let ok =
        r#""slope": 25, "intercept": -25, "native_min": 1, "native_max": 5, "scale_label": "acr""#;
    let cases: Vec<(String, &str)> = vec![
        ("{".into(), "not valid JSON"),
        (
            "[1, 2]".into(),
            "invalid type: sequence, expected a map at line 1",
        ),
        (
            r#"{"new": 3}"#.into(),
            "invalid type: integer `3`, expected struct ScaleSpec",
        ),
        (
            entry(&ok.replace(r#""intercept": -25, "#, "")),
            "missing field `intercept`",
        ),
        (
            entry(&ok.replace(r#""slope": 25"#, r#""slope": "25""#)),
            "invalid type: string \"25\", expected f64",
        ),
        (
            entry(&ok.replace(r#""slope": 25"#, r#""slope": 0"#)),
            "\"slope\" is 0",
        ),
        (
            entry(&ok.replace(r#""native_min": 1"#, r#""native_min": 5"#)),
            "must be below \"native_max\"",
        ),
        (
            entry(&ok.replace(r#""native_min": 1"#, r#""native_min": 9"#)),
            "must be below \"native_max\"",
        ),
        (
            entry(&ok.replace(r#""native_max": 5"#, r#""native_max": null"#)),
            "invalid type: null, expected f64",
        ),
        (
            entry(&ok.replace(r#""native_max": 5"#, r#""native_max": 1e999"#)),
            "not valid JSON",
        ),
        (
            entry(&ok.replace(r#""scale_label": "acr""#, r#""scale_label": 1"#)),
            "invalid type: integer `1`, expected a string",
        ),
        (entry(&format!("{ok}, \"slop\": 1")), "unknown field `slop`"),
    ];
    for (text, problem) in cases {
        let s = Scratch::new();
        let shard = s.shard("k.jsonl", &[row("k1", "konvid-1k", json!(3.0))]);
        let file = scales_file(&s, &text);
        let out = s.aggregate(&[&shard], &["--scales", arg(&file)]);
        assert_eq!(out.code, 2, "{text}: {}", out.stderr);
        assert!(
            out.stderr
                .contains(&format!("--scales {}:", file.display()))
                && out.stderr.contains(problem),
            "{text}: expected {problem:?} in {}",
            out.stderr
        );
        assert!(!out.out_path.exists(), "nothing may be written");
    }
}

#[test]
fn a_missing_file_exits_2() {
    let s = Scratch::new();
    let shard = s.shard("k.jsonl", &[row("k1", "konvid-1k", json!(3.0))]);
    let out = s.aggregate(&[&shard], &["--scales", arg(&s.path("none.json"))]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("none.json: cannot read it"),
        "{}",
        out.stderr
    );
}

#[test]
fn run_takes_the_file_too() {
    let s = Scratch::new();
    s.shard("wd/lsvq/lsvq.jsonl", &[row("v1", "live-vqc", json!(40.0))]);
    let file = scales_file(&s, LIVE_VQC);
    let o = mosagg()
        .current_dir(s.dir.path())
        .env_remove("VMAF_AGG_OUT")
        .args(["run", "--workdir", "wd", "--dry-run", "--scales"])
        .arg(&file)
        .output()
        .expect("run");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let m: Value = serde_json::from_str(
        &std::fs::read_to_string(s.path("wd/aggregated/unified_corpus.manifest.json"))
            .expect("manifest"),
    )
    .expect("json");
    assert_eq!(m["counters"]["rows_out"], 1);
    assert_eq!(m["scale_conversions"]["live-vqc"]["slope"], json!(1.0));
}

#[test]
fn the_manifest_table_round_trips_as_a_scales_file() {
    let s = Scratch::new();
    let shard = s.shard("live.jsonl", &[row("v1", "live-vqc", json!(63.5))]);
    let file = scales_file(&s, LIVE_VQC);
    let out = s.aggregate(&[&shard], &["--scales", arg(&file)]).ok();
    let table = out.manifest()["scale_conversions"].to_string();
    let again = s.shard_text("from-manifest.json", &table);
    let out = s.aggregate(&[&shard], &["--scales", arg(&again)]).ok();
    assert_eq!(out.counter("rows_out"), 1);
}

#[test]
fn scales_lists_the_table_in_force() {
    let s = Scratch::new();
    let file = scales_file(&s, LIVE_VQC);
    let o = mosagg()
        .args(["scales", "--format", "json", "--scales"])
        .arg(&file)
        .output()
        .expect("run");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let listed: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(listed["live-vqc"]["source"], "Sinno & Bovik 2019");
    assert_eq!(listed["lsvq"]["slope"], json!(25.0));

    let bad = s.shard_text("bad.json", r#"{"x": {}}"#);
    let o = mosagg()
        .args(["scales", "--scales"])
        .arg(&bad)
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2));
}

/// The ranking sorts kept rows by a number per corpus (its place among the scales
/// table's labels) and the first bytes of the hash; past 254 corpora the numbers stop
/// growing and the label itself must order the rows. With 300 corpora, rows of corpora
/// on both sides of that line (and of unknown ones, dropped) still come out byte-wise
/// by corpus, then hash.
#[test]
fn hundreds_of_corpora_still_come_out_in_corpus_then_hash_order() {
    let s = Scratch::new();
    let table: serde_json::Map<String, Value> = (0..300)
        .map(|i| {
            let spec = json!({"slope": 1.0, "intercept": 0.0, "native_min": 0.0,
                              "native_max": 100.0, "scale_label": "0-100"});
            (format!("c{i:03}"), spec)
        })
        .collect();
    let file = scales_file(&s, &Value::Object(table).to_string());
    // Corpora early and late in the order, around the 254th label, and past it; in
    // each, hashes alike across corpora (the same seven characters after the first),
    // whose first characters put a later corpus's hashes before an earlier one's.
    let picked = [3, 120, 252, 253, 254, 255, 256, 280, 299];
    let mut rows = Vec::new();
    for (n, corpus) in picked.iter().enumerate() {
        for k in 0..6 {
            let hash = format!("{:x}{:07x}{:056x}", (k * 5 + n) % 16, 0xabcdef0 + k, n);
            rows.push(row(&hash, &format!("c{corpus:03}"), json!(50.0 + k as f64)));
        }
    }
    rows.push(row("ffff0000", "not-in-the-table", json!(50.0)));
    rows.push(row("00000000", "aaa-not-in-the-table", json!(50.0)));
    // Interleaved, so no input order happens to be the output order.
    rows.sort_by_key(|r| {
        r["src_sha256"]
            .as_str()
            .map(|h| h.chars().rev().collect::<String>())
    });
    let shard = s.shard("many.jsonl", &rows);

    let out = s.aggregate(&[&shard], &["--scales", arg(&file)]).ok();
    assert_eq!(out.counter("dropped_unknown_corpus"), 2);
    let got: Vec<(String, String)> = out
        .rows()
        .iter()
        .map(|r| {
            let text = |k: &str| r[k].as_str().expect(k).to_string();
            (text("corpus_source"), text("src_sha256"))
        })
        .collect();
    assert_eq!(got.len(), picked.len() * 6);
    let mut sorted = got.clone();
    sorted.sort_by(|a, b| (a.0.as_bytes(), a.1.as_bytes()).cmp(&(b.0.as_bytes(), b.1.as_bytes())));
    assert_eq!(got, sorted);
}
