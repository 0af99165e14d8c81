//! Byte identity with the Python aggregator on five generated corpora.

use std::path::Path;

use crate::common::mosagg;
use serde_json::Value;

fn run_case(name: &str) {
    let case_dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/golden")
        .join(name);
    let case: Value = serde_json::from_str(
        &std::fs::read_to_string(case_dir.join("case.json")).expect("case.json"),
    )
    .expect("case JSON");
    let out_dir = tempfile::tempdir().expect("tempdir");
    let out = out_dir.path().join("out.jsonl");

    let mut cmd = mosagg();
    cmd.current_dir(&case_dir).arg("aggregate").arg("--inputs");
    for i in case["inputs"].as_array().expect("inputs") {
        cmd.arg(i.as_str().expect("input path"));
    }
    cmd.arg("--output").arg(&out);
    cmd.args([
        "--aggregated-at",
        case["aggregated_at"].as_str().expect("ts"),
    ]);
    for (path, label) in case["overrides"].as_object().expect("overrides") {
        cmd.arg("--corpus-source-override")
            .arg(format!("{path}={}", label.as_str().expect("label")));
    }
    let result = cmd.output().expect("run");
    assert!(
        result.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&result.stderr)
    );

    let expected = std::fs::read(case_dir.join("expected.jsonl")).expect("expected");
    let actual = std::fs::read(&out).expect("output");
    if expected != actual {
        let first_diff = String::from_utf8_lossy(&expected)
            .lines()
            .zip(String::from_utf8_lossy(&actual).lines())
            .enumerate()
            .find(|(_, (e, a))| e != a)
            .map(|(i, (e, a))| format!("line {}:\n expected {e}\n actual   {a}", i + 1));
        panic!(
            "{name}: output differs from the reference ({} vs {} bytes) {first_diff:?}",
            expected.len(),
            actual.len()
        );
    }

    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(out_dir.path().join("out.manifest.json")).expect("manifest"),
    )
    .expect("manifest JSON");
    let counters: Value = serde_json::from_str(
        &std::fs::read_to_string(case_dir.join("expected_counters.json")).expect("counters"),
    )
    .expect("counters JSON");
    for (k, v) in counters.as_object().expect("counters object") {
        assert_eq!(&manifest["counters"][k], v, "{name}: counter {k}");
    }
}

#[test]
fn case1_matches_reference() {
    run_case("case1");
}

#[test]
fn case2_matches_reference() {
    run_case("case2");
}

#[test]
fn case3_matches_reference() {
    run_case("case3");
}

#[test]
fn case4_matches_reference() {
    run_case("case4");
}

#[test]
fn case5_matches_reference() {
    run_case("case5");
}
