//! Hard errors, missing inputs and the atomic-write guarantee (CONTRACT §1, §6).

use crate::common::{Scratch, row};
use serde_json::json;

fn good_line(sha: &str) -> String {
    row(sha, "lsvq", json!(3.0)).to_string()
}

/// A failed run leaves the folder exactly as it was: no output, no temp file.
fn assert_untouched(s: &Scratch, before: &[String]) {
    assert_eq!(s.files(), before, "a failed run changed the folder");
}

#[test]
fn invalid_json_names_file_and_line_and_writes_nothing() {
    let s = Scratch::new();
    let shard = s.shard_text("in.jsonl", &format!("{}\n\n{{\"src\": \n", good_line("a")));
    let before = s.files();
    let out = s.aggregate(&[&shard], &[]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains(&format!("error: {}:3: invalid JSON", shard.display())),
        "{}",
        out.stderr
    );
    assert_untouched(&s, &before);
}

#[test]
fn invalid_utf8_is_invalid_json() {
    let s = Scratch::new();
    let p = s.path("in.jsonl");
    let mut bytes = format!("{}\n", good_line("a")).into_bytes();
    bytes.extend_from_slice(
        b"{\"src\": \"\xff\xfe\", \"src_sha256\": \"b\", \"mos\": 3, \"corpus\": \"lsvq\"}\n",
    );
    std::fs::write(&p, bytes).expect("write");
    let out = s.aggregate(&[&p], &[]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains(":2: invalid JSON"), "{}", out.stderr);
    assert!(
        out.stderr.to_lowercase().contains("utf-8"),
        "{}",
        out.stderr
    );
}

#[test]
fn missing_required_keys_are_listed_sorted() {
    let s = Scratch::new();
    let shard = s.shard_text(
        "in.jsonl",
        &format!("{}\n{{\"src\": \"x\", \"mos\": null}}\n", good_line("a")),
    );
    let out = s.aggregate(&[&shard], &[]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains(":2: missing required keys: ['corpus', 'src_sha256']"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_non_object_line_is_a_hard_error() {
    let s = Scratch::new();
    let shard = s.shard_text("in.jsonl", "[1, 2, 3]\n");
    let out = s.aggregate(&[&shard], &[]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains(":1: expected JSON object, got list"),
        "{}",
        out.stderr
    );
}

#[test]
fn the_first_error_in_input_order_is_reported() {
    let s = Scratch::new();
    let mut big = String::new();
    for i in 0..30_000 {
        big.push_str(&good_line(&format!("k{i}")));
        big.push('\n');
    }
    let first = s.shard_text("first.jsonl", &format!("{big}not json\n"));
    let second = s.shard_text("second.jsonl", "{broken\n");
    for _ in 0..3 {
        let out = s.aggregate(&[&first, &second], &[]);
        assert_eq!(out.code, 1);
        assert!(
            out.stderr
                .contains(&format!("{}:30001: invalid JSON", first.display())),
            "{}",
            out.stderr
        );
    }
}

#[test]
fn existing_outputs_survive_a_failed_run() {
    let s = Scratch::new();
    let good = s.shard("good.jsonl", &[row("a", "lsvq", json!(3.0))]);
    s.aggregate(&[&good], &[]).ok();
    let before_text = std::fs::read(s.path("out.jsonl")).expect("out");
    let before_manifest = std::fs::read(s.path("out.manifest.json")).expect("manifest");
    let before_files = s.files();
    let bad = s.shard_text("bad.jsonl", "{\"src\": 1}\n");
    let mut with_bad = before_files.clone();
    with_bad.push("bad.jsonl".into());
    with_bad.sort();
    let out = s.aggregate(&[&good, &bad], &[]);
    assert_eq!(out.code, 1);
    assert_eq!(
        std::fs::read(s.path("out.jsonl")).expect("out"),
        before_text
    );
    assert_eq!(
        std::fs::read(s.path("out.manifest.json")).expect("m"),
        before_manifest
    );
    assert_eq!(s.files(), with_bad);
}

#[test]
fn missing_inputs_are_skipped_with_a_warning() {
    let s = Scratch::new();
    let good = s.shard("good.jsonl", &[row("a", "lsvq", json!(3.0))]);
    let absent = s.path("absent.jsonl");
    let folder = s.path("a-folder");
    std::fs::create_dir(&folder).expect("mkdir");
    let out = s.aggregate(&[&absent, &good, &folder], &[]).ok();
    assert!(
        out.stderr.contains(&format!(
            "WARNING input not found, skipping: {}",
            absent.display()
        )),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&format!(
            "input is not a regular file, skipping: {}",
            folder.display()
        )),
        "{}",
        out.stderr
    );
    assert_eq!(out.counter("inputs_missing"), 2);
    assert_eq!(out.counter("inputs_seen"), 1);
    let inputs = out.manifest()["run_provenance"]["inputs"].clone();
    assert_eq!(inputs[0]["exists"], false);
    assert_eq!(inputs[1]["exists"], true);
    assert_eq!(inputs[1]["sha256"], crate::common::sha256_hex(&good));
}

#[test]
fn no_input_at_all_exits_2_and_writes_nothing() {
    let s = Scratch::new();
    let out = s.aggregate(&[&s.path("a.jsonl"), &s.path("b.jsonl")], &[]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains(
            "error: no input JSONL files exist on disk (checked 2 path(s)); refusing to write an empty unified corpus"
        ),
        "{}",
        out.stderr
    );
    assert!(s.files().is_empty());
}

#[test]
fn usage_errors_exit_2() {
    let out = crate::common::mosagg()
        .args(["aggregate", "--output", "x.jsonl"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let out = crate::common::mosagg()
        .args([
            "aggregate",
            "--inputs",
            "a",
            "--output",
            "x.jsonl",
            "--aggregated-at",
            "noon",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--aggregated-at expects"));
}

#[test]
fn an_unreadable_input_is_a_hard_error() {
    // /proc/self/mem is a regular file whose first page cannot be read (EIO), even as root.
    let mem = std::path::Path::new("/proc/self/mem");
    if !mem.is_file() {
        return;
    }
    let s = Scratch::new();
    let good = s.shard("good.jsonl", &[row("a", "lsvq", json!(3.0))]);
    let before = s.files();
    let out = s.aggregate(&[&good, mem], &[]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("error: /proc/self/mem:"),
        "{}",
        out.stderr
    );
    assert_untouched(&s, &before);
}
