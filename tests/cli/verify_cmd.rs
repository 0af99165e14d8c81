//! `mosagg verify MANIFEST`: every input and output re-hashed against the manifest.

use std::path::Path;

use crate::common::{Scratch, mosagg, row};
use serde_json::json;

const TS: &str = "2026-05-09T00:00:00+00:00";

fn run(cmd: &mut assert_cmd::Command) -> (i32, String, String) {
    let out = cmd.output().expect("run mosagg");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Aggregates two shards inside the scratch folder with relative paths, as an operator would.
fn aggregated(s: &Scratch, extra: &[&str]) {
    s.shard("shards/a.jsonl", &[row("k1", "konvid-1k", json!(3.0))]);
    s.shard("shards/b.jsonl", &[row("l1", "lsvq", json!(2.0))]);
    let (code, _, stderr) = run(mosagg()
        .current_dir(s.dir.path())
        .args(["aggregate", "--inputs", "shards/a.jsonl", "shards/b.jsonl"])
        .args(["--output", "out/u.jsonl", "--aggregated-at", TS])
        .args(extra));
    assert_eq!(code, 0, "{stderr}");
}

fn verify(dir: &Path, args: &[&str]) -> (i32, String, String) {
    run(mosagg().current_dir(dir).arg("verify").args(args))
}

#[test]
fn an_untouched_run_verifies() {
    let s = Scratch::new();
    aggregated(&s, &[]);
    let (code, stdout, stderr) = verify(s.dir.path(), &["out/u.manifest.json"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("all 4 file(s) match out/u.manifest.json"),
        "{stdout}"
    );
    for p in [
        "shards/a.jsonl",
        "shards/b.jsonl",
        "out/u.jsonl",
        "out/u.parquet",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with("ok ") && l.ends_with(p)),
            "{p} not reported ok:\n{stdout}"
        );
    }
}

#[test]
fn a_changed_input_fails_naming_it() {
    let s = Scratch::new();
    aggregated(&s, &[]);
    s.shard("shards/b.jsonl", &[row("l1", "lsvq", json!(2.5))]);
    let (code, stdout, stderr) = verify(s.dir.path(), &["out/u.manifest.json"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let line = stdout
        .lines()
        .find(|l| l.ends_with("shards/b.jsonl") || l.contains("shards/b.jsonl ("))
        .expect("a line for b");
    assert!(line.starts_with("CHANGED"), "{line}");
    assert!(
        stderr.contains("1 of 4 file(s)") && stderr.contains("shards/b.jsonl"),
        "{stderr}"
    );
    assert!(!stderr.contains("shards/a.jsonl"), "{stderr}");
}

#[test]
fn vanished_and_changed_outputs_fail_each_named() {
    let s = Scratch::new();
    aggregated(&s, &[]);
    std::fs::remove_file(s.path("out/u.parquet")).expect("rm");
    std::fs::write(s.path("out/u.jsonl"), "tampered\n").expect("write");
    let (code, stdout, stderr) = verify(s.dir.path(), &["out/u.manifest.json"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("MISSING") && l.contains("out/u.parquet")),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("CHANGED") && l.contains("out/u.jsonl")),
        "{stdout}"
    );
    assert!(stderr.contains("2 of 4 file(s)"), "{stderr}");
}

#[test]
fn relative_paths_resolve_from_where_the_run_worked() {
    let s = Scratch::new();
    aggregated(&s, &[]);
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let manifest = s.path("out/u.manifest.json");
    let (code, stdout, stderr) = verify(elsewhere.path(), &[manifest.to_str().expect("utf-8")]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("relative paths resolve from"), "{stdout}");

    // A custom --manifest-out location is read back from the recorded argv.
    let s = Scratch::new();
    aggregated(&s, &["--manifest-out", "meta/run.json"]);
    let manifest = s.path("meta/run.json");
    let (code, stdout, stderr) = verify(elsewhere.path(), &[manifest.to_str().expect("utf-8")]);
    assert_eq!(code, 0, "{stdout}{stderr}");
}

#[test]
fn base_overrides_where_relative_paths_resolve() {
    let s = Scratch::new();
    aggregated(&s, &[]);
    // A copy of the manifest somewhere else: its location says nothing about the run.
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let copy = elsewhere.path().join("copy.json");
    std::fs::copy(s.path("out/u.manifest.json"), &copy).expect("copy");
    let (code, stdout, _) = verify(elsewhere.path(), &["copy.json"]);
    assert_eq!(
        code, 1,
        "relative paths from the current folder do not exist: {stdout}"
    );
    assert!(stdout.contains("MISSING"), "{stdout}");

    let base = s.dir.path().to_str().expect("utf-8");
    let (code, stdout, stderr) = verify(elsewhere.path(), &["copy.json", "--base", base]);
    assert_eq!(code, 0, "{stdout}{stderr}");
}

#[test]
fn inputs_missing_at_aggregation_must_still_be_missing() {
    let s = Scratch::new();
    aggregated(&s, &["--inputs", "shards/later.jsonl"]);
    let (code, stdout, stderr) = verify(s.dir.path(), &["out/u.manifest.json"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("absent") && l.contains("shards/later.jsonl")),
        "{stdout}"
    );

    s.shard("shards/later.jsonl", &[row("x", "lsvq", json!(2.0))]);
    let (code, stdout, _) = verify(s.dir.path(), &["out/u.manifest.json"]);
    assert_eq!(code, 1);
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("APPEARED") && l.contains("later.jsonl")),
        "{stdout}"
    );
}

#[test]
fn the_rejects_ledger_is_verified_too() {
    let s = Scratch::new();
    aggregated(&s, &["--rejects", "out/rejects.jsonl"]);
    let (code, stdout, _) = verify(s.dir.path(), &["out/u.manifest.json"]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("all 5 file(s) match"), "{stdout}");
    std::fs::write(s.path("out/rejects.jsonl"), "x\n").expect("write");
    let (code, stdout, _) = verify(s.dir.path(), &["out/u.manifest.json"]);
    assert_eq!(code, 1);
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("CHANGED") && l.contains("output (rejects)")),
        "{stdout}"
    );
}

#[test]
fn a_missing_manifest_exits_2_and_a_foreign_file_exits_1() {
    let s = Scratch::new();
    let (code, _, stderr) = verify(s.dir.path(), &["nope.json"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("manifest not found: nope.json"), "{stderr}");

    s.shard_text("other.json", "{\"schema\": \"something-else\"}");
    let (code, _, stderr) = verify(s.dir.path(), &["other.json"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("not a mosagg manifest"), "{stderr}");

    s.shard_text("broken.json", "{");
    let (code, _, stderr) = verify(s.dir.path(), &["broken.json"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("broken.json: not valid JSON"), "{stderr}");
}
