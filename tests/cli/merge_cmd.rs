//! `mosagg merge` (CONTRACT §8): encode-grid shards, natural-key dedup, first seen wins,
//! rows passed through unchanged and written as `json.dumps(row, sort_keys=True)`.

use std::path::{Path, PathBuf};

use crate::common::{Scratch, mosagg};
use serde_json::{Map, Value, json};

/// The vmaf-tune v3 row keys; fixtures carry all of them, since the default check requires every one.
use mosagg::VMAF_TUNE_ROW_KEYS as SCHEMA_KEYS;

/// A complete encode-grid row, numbered like the reference's test fixture.
fn grid_row(idx: u32) -> Value {
    let mut m = Map::new();
    for k in SCHEMA_KEYS {
        m.insert(k.to_owned(), json!(0.0));
    }
    let mut row = Value::Object(m);
    row["schema_version"] = json!(3);
    row["run_id"] = json!(format!("run{idx:04x}"));
    row["src"] = json!(format!("/tmp/src_{idx}.yuv"));
    row["src_sha256"] = json!(format!("{idx:064x}"));
    row["encoder"] = json!("libx264");
    row["preset"] = json!("medium");
    row["crf"] = json!(23 + idx % 4);
    row["vmaf_score"] = json!(90.0 + f64::from(idx) * 0.1);
    row["hdr_forced"] = json!(false);
    row
}

fn set(mut row: Value, key: &str, v: Value) -> Value {
    row[key] = v;
    row
}

struct Merged {
    code: i32,
    stderr: String,
    out: PathBuf,
}

impl Merged {
    fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.out)
            .expect("merged output")
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn rows(&self) -> Vec<Value> {
        self.lines()
            .iter()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect()
    }

    fn summary(&self) -> &str {
        self.stderr.lines().last().unwrap_or("")
    }
}

fn merge(s: &Scratch, inputs: &[&Path], extra: &[&str]) -> Merged {
    let out = s.path("merged.jsonl");
    let o = mosagg()
        .arg("merge")
        .arg("--inputs")
        .args(inputs)
        .arg("--output")
        .arg(&out)
        .args(extra)
        .output()
        .expect("run mosagg");
    Merged {
        code: o.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        out,
    }
}

#[test]
fn five_and_five_with_one_collision_gives_nine() {
    let s = Scratch::new();
    let a = s.shard("a.jsonl", &(0..5).map(grid_row).collect::<Vec<_>>());
    // b's first row has a's last row's natural key, with a different score.
    let b = s.shard(
        "b.jsonl",
        &(4..9)
            .map(|i| {
                if i == 4 {
                    set(grid_row(4), "vmaf_score", json!(1.5))
                } else {
                    grid_row(i)
                }
            })
            .collect::<Vec<_>>(),
    );
    let m = merge(&s, &[&a, &b], &[]);
    assert_eq!(m.code, 0, "{}", m.stderr);
    assert_eq!(
        m.summary(),
        format!(
            "[mosagg merge] rows_in=10 rows_out=9 duplicates=1 unique_sources=9 -> {}",
            m.out.display()
        )
    );
    let rows = m.rows();
    assert_eq!(rows.len(), 9);
    // First seen wins, and rows come out in input order.
    assert_eq!(rows[4]["vmaf_score"], json!(90.4));
    let runs: Vec<&str> = rows
        .iter()
        .map(|r| r["run_id"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        runs,
        [
            "run0000", "run0001", "run0002", "run0003", "run0004", "run0005", "run0006", "run0007",
            "run0008"
        ]
    );
    for r in &rows {
        assert_eq!(r.as_object().map(Map::len), Some(54));
    }
}

#[test]
fn rows_pass_through_unchanged_in_python_json_form() {
    let s = Scratch::new();
    let base = grid_row(1);
    // Extra keys, nesting, non-ASCII and a NaN all survive; keys come out sorted at every level.
    let mut line = base.to_string();
    line.pop();
    line.push_str(r#", "zz_extra": {"b": [1, 2.50, "é😀"], "a": null}, "vmaf_std": NaN}"#);
    let a = s.shard_text("a.jsonl", &format!("{line}\n"));
    let b = s.shard("b.jsonl", &[grid_row(2)]);
    let m = merge(&s, &[&a, &b], &[]);
    assert_eq!(m.code, 0, "{}", m.stderr);
    let lines = m.lines();
    assert_eq!(lines.len(), 2);
    let first = &lines[0];
    assert!(first.starts_with(r#"{"adm2_mean": 0.0, "adm2_std": 0.0, "bitrate_kbps": 0.0, "clip_mode": 0.0, "crf": 24, "#), "{first}");
    assert!(first.contains(r#""hdr_forced": false"#), "{first}");
    assert!(
        first.contains(r#""vmaf_score": 90.1, "vmaf_std": NaN, "width": 0.0"#),
        "{first}"
    );
    assert!(
        first.ends_with(
            r#""width": 0.0, "zz_extra": {"a": null, "b": [1, 2.5, "\u00e9\ud83d\ude00"]}}"#
        ),
        "{first}"
    );
}

#[test]
fn key_equality_follows_python() {
    let s = Scratch::new();
    let r = |crf: Value, preset: Value| set(set(grid_row(7), "crf", crf), "preset", preset);
    let a = s.shard(
        "a.jsonl",
        &[
            r(json!(23), json!("medium")),
            r(json!("23"), json!("medium")),
            r(json!(1), json!(null)),
        ],
    );
    let b_text = [
        r(json!(23.0), json!("medium")).to_string(), // == 23: duplicate
        r(json!("23"), json!("medium")).to_string(), // same string: duplicate
        r(json!(true), json!(null)).to_string(),     // True == 1: duplicate
        r(json!(23), json!("slow")).to_string(),     // other preset: kept
    ]
    .join("\n");
    // json.loads hands out one shared NaN object and Python compares identity first,
    // so NaN keys collide: the second NaN row is a duplicate.
    let nan = r(json!(0), json!("medium"))
        .to_string()
        .replace(r#""crf":0"#, r#""crf":NaN"#);
    let b = s.shard_text("b.jsonl", &format!("{b_text}\n{nan}\n{nan}\n"));
    let m = merge(&s, &[&a, &b], &[]);
    assert_eq!(m.code, 0, "{}", m.stderr);
    assert!(
        m.summary()
            .contains("rows_in=9 rows_out=5 duplicates=4 unique_sources=1"),
        "{}",
        m.summary()
    );
}

#[test]
fn same_source_under_other_settings_is_not_a_duplicate() {
    let s = Scratch::new();
    let a = s.shard(
        "a.jsonl",
        &[grid_row(1), set(grid_row(1), "crf", json!(40))],
    );
    let b = s.shard(
        "b.jsonl",
        &[
            set(grid_row(1), "encoder", json!("libx265")),
            set(grid_row(2), "src_sha256", json!("")),
        ],
    );
    let m = merge(&s, &[&a, &b], &[]);
    assert_eq!(m.code, 0, "{}", m.stderr);
    // One distinct non-empty src_sha256; the empty one does not count as a source.
    assert!(
        m.summary()
            .contains("rows_in=4 rows_out=4 duplicates=0 unique_sources=1"),
        "{}",
        m.summary()
    );
}

#[test]
fn the_same_file_twice_is_all_duplicates() {
    let s = Scratch::new();
    let a = s.shard("a.jsonl", &[grid_row(1), grid_row(2)]);
    let m = merge(&s, &[&a, &a], &[]);
    assert_eq!(m.code, 0, "{}", m.stderr);
    assert!(
        m.summary()
            .contains("rows_in=4 rows_out=2 duplicates=2 unique_sources=2")
    );
}

#[test]
fn a_row_missing_a_required_key_exits_1_naming_the_line() {
    let s = Scratch::new();
    let a = s.shard("a.jsonl", &[grid_row(0)]);
    let mut bad = grid_row(1);
    bad.as_object_mut().map(|o| o.remove("src_sha256"));
    bad.as_object_mut().map(|o| o.remove("crf"));
    // A blank line still counts: the bad row is on line 3.
    let b = s.shard_text("b.jsonl", &format!("{}\n\n{bad}\n", grid_row(2)));
    std::fs::write(s.path("merged.jsonl"), "previous\n").expect("seed output");
    let m = merge(&s, &[&a, &b], &[]);
    assert_eq!(m.code, 1, "{}", m.stderr);
    assert!(
        m.stderr.contains(&format!(
            "{}:3: missing required keys: ['crf', 'src_sha256']",
            b.display()
        )),
        "{}",
        m.stderr
    );
    // Nothing replaced, nothing left behind.
    assert_eq!(std::fs::read_to_string(&m.out).expect("out"), "previous\n");
    assert_eq!(s.files(), ["a.jsonl", "b.jsonl", "merged.jsonl"]);
}

#[test]
fn minimal_key_check_accepts_trimmed_rows() {
    let s = Scratch::new();
    let trimmed = json!({"src_sha256": "aa", "encoder": "libx264", "preset": "fast", "crf": 30, "vmaf_score": 80.0});
    let a = s.shard("a.jsonl", std::slice::from_ref(&trimmed));
    let b = s.shard("b.jsonl", &[trimmed]);
    let m = merge(&s, &[&a, &b], &[]);
    assert_eq!(m.code, 1, "the full schema is the default");
    assert!(
        m.stderr.contains("missing required keys: ['adm2_mean'"),
        "{}",
        m.stderr
    );

    let m = merge(&s, &[&a, &b], &["--required-keys", "minimal"]);
    assert_eq!(m.code, 0, "{}", m.stderr);
    assert!(
        m.summary()
            .contains("rows_in=2 rows_out=1 duplicates=1 unique_sources=1")
    );
    assert_eq!(
        m.lines(),
        [
            r#"{"crf": 30, "encoder": "libx264", "preset": "fast", "src_sha256": "aa", "vmaf_score": 80.0}"#
        ]
    );

    let short = s.shard(
        "c.jsonl",
        &[json!({"src_sha256": "aa", "encoder": "x", "preset": "p", "crf": 1})],
    );
    let m = merge(&s, &[&a, &short], &["--required-keys", "minimal"]);
    assert_eq!(m.code, 1);
    assert!(
        m.stderr
            .contains("c.jsonl:1: missing required keys: ['vmaf_score']"),
        "{}",
        m.stderr
    );
}

#[test]
fn fewer_than_two_inputs_is_a_usage_error() {
    let s = Scratch::new();
    let a = s.shard("a.jsonl", &[grid_row(0)]);
    let m = merge(&s, &[&a], &[]);
    assert_eq!(m.code, 2);
    assert!(
        m.stderr.contains("--inputs requires at least 2 paths"),
        "{}",
        m.stderr
    );
    assert!(!m.out.exists());
}

#[test]
fn a_missing_input_exits_2_before_anything_is_written() {
    let s = Scratch::new();
    let a = s.shard("a.jsonl", &[grid_row(0)]);
    let gone = s.path("gone.jsonl");
    let m = merge(&s, &[&a, &gone], &[]);
    assert_eq!(m.code, 2, "{}", m.stderr);
    assert!(
        m.stderr
            .contains(&format!("input not found: {}", gone.display())),
        "{}",
        m.stderr
    );
    assert!(!m.out.exists());

    let m = merge(&s, &[&a, s.dir.path()], &[]);
    assert_eq!(m.code, 2, "{}", m.stderr);
    assert!(m.stderr.contains("not a regular file"), "{}", m.stderr);
}

#[test]
fn bad_lines_exit_1_naming_path_and_line() {
    let s = Scratch::new();
    let a = s.shard("a.jsonl", &[grid_row(0)]);
    let cases = [
        ("{oops}\n".to_owned(), ":1: invalid JSON"),
        ("[1, 2]\n".to_owned(), ":1: expected JSON object, got list"),
        (
            format!("{}\n", set(grid_row(1), "preset", json!(["slow"]))),
            ":1: preset is a list",
        ),
        (
            format!("{}\n", set(grid_row(1), "crf", json!({"q": 1}))),
            ":1: crf is a dict",
        ),
    ];
    for (text, needle) in cases {
        let b = s.shard_text("b.jsonl", &text);
        let m = merge(&s, &[&a, &b], &[]);
        assert_eq!(m.code, 1, "{text}: {}", m.stderr);
        assert!(
            m.stderr.contains(&format!("b.jsonl{needle}")),
            "{text}: {}",
            m.stderr
        );
        assert!(!m.out.exists());
    }
}

#[test]
fn crlf_bom_and_blank_lines_are_tolerated() {
    let s = Scratch::new();
    let a = s.shard_text(
        "a.jsonl",
        &format!("\u{feff}{}\r\n\r\n   \n{}\r\n", grid_row(0), grid_row(1)),
    );
    let b = s.shard("b.jsonl", &[grid_row(1)]);
    let m = merge(&s, &[&a, &b], &[]);
    assert_eq!(m.code, 0, "{}", m.stderr);
    assert!(
        m.summary().contains("rows_in=3 rows_out=2 duplicates=1"),
        "{}",
        m.summary()
    );
}

#[test]
fn many_rows_span_several_batches() {
    let s = Scratch::new();
    // More rows than one key batch holds (65,536), with every other row repeated in b.
    let n = 70_000u32;
    let row = |i: u32| {
        format!(
            r#"{{"src_sha256": "s{}", "encoder": "e", "preset": "p", "crf": {}, "vmaf_score": 1.0}}"#,
            i / 3,
            i % 3
        )
    };
    let a_text: String = (0..n).map(|i| row(i) + "\n").collect();
    let b_text: String = (0..n)
        .step_by(2)
        .map(|i| row(i) + "\n")
        .chain([row(n) + "\n"])
        .collect();
    let a = s.shard_text("a.jsonl", &a_text);
    let b = s.shard_text("b.jsonl", &b_text);
    let m = merge(&s, &[&a, &b], &["--required-keys", "minimal"]);
    assert_eq!(m.code, 0, "{}", m.stderr);
    let expected = format!(
        "rows_in={} rows_out={} duplicates={} unique_sources={}",
        n + n / 2 + 1,
        n + 1,
        n / 2,
        n / 3 + 1
    );
    assert!(
        m.summary().contains(&expected),
        "{} vs {expected}",
        m.summary()
    );
    let lines = m.lines();
    assert_eq!(lines.len() as u32, n + 1);
    assert_eq!(
        lines[0],
        r#"{"crf": 0, "encoder": "e", "preset": "p", "src_sha256": "s0", "vmaf_score": 1.0}"#
    );
    assert!(lines[n as usize].contains(&format!(r#""src_sha256": "s{}""#, n / 3)));
}

#[test]
fn no_progress_bar_when_stderr_is_not_a_terminal() {
    let s = Scratch::new();
    let a = s.shard("a.jsonl", &[grid_row(0)]);
    let b = s.shard("b.jsonl", &[grid_row(1)]);
    let m = merge(&s, &[&a, &b], &[]);
    assert_eq!(m.code, 0);
    assert_eq!(
        m.stderr.lines().count(),
        1,
        "only the summary: {:?}",
        m.stderr
    );
}

#[test]
fn compressed_shards_merge_like_plain_ones() {
    let s = Scratch::new();
    let a_rows: Vec<Value> = (0..5).map(grid_row).collect();
    let b_rows: Vec<Value> = (3..9).map(grid_row).collect();
    let a = s.shard("a.jsonl", &a_rows);
    let b = s.shard("b.jsonl", &b_rows);
    let plain = merge(&s, &[&a, &b], &[]);
    assert_eq!(plain.code, 0, "{}", plain.stderr);
    let expected = std::fs::read(&plain.out).expect("plain output");

    let gz = s.path("a.jsonl.gz");
    crate::common::write_gzip(&gz, &std::fs::read(&a).expect("a"));
    let zst = s.path("b.jsonl.zst");
    crate::common::write_zstd(&zst, &std::fs::read(&b).expect("b"));
    let packed = merge(&s, &[&gz, &zst], &[]);
    assert_eq!(packed.code, 0, "{}", packed.stderr);
    assert_eq!(std::fs::read(&packed.out).expect("output"), expected);
    assert_eq!(packed.summary(), plain.summary());

    // A damaged archive is an error naming the file, and nothing is written.
    std::fs::remove_file(&packed.out).expect("rm");
    let mut broken = std::fs::read(&gz).expect("gz");
    broken.truncate(broken.len() / 2);
    std::fs::write(&gz, broken).expect("write");
    let bad = merge(&s, &[&gz, &zst], &[]);
    assert_eq!(bad.code, 1, "{}", bad.stderr);
    assert!(bad.stderr.contains("a.jsonl.gz"), "{}", bad.stderr);
    assert!(!bad.out.exists());
}
