//! `mosagg scales` through the real binary, checked against the contract's table and
//! against the table an aggregation records in its manifest.

use serde_json::{Value, json};

use crate::common::mosagg;

fn scales(format: &str) -> String {
    let out = mosagg()
        .args(["scales", "--format", format])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf8")
}

/// CONTRACT §3: label, slope, intercept, native range, scale label.
const CONTRACT: [(&str, f64, f64, f64, f64, &str); 6] = [
    ("konvid-1k", 25.0, -25.0, 1.0, 5.0, "1-5-acr"),
    ("konvid-150k", 25.0, -25.0, 1.0, 5.0, "1-5-acr"),
    ("lsvq", 25.0, -25.0, 1.0, 5.0, "1-5-acr"),
    ("youtube-ugc", 25.0, -25.0, 1.0, 5.0, "1-5-acr"),
    ("waterloo-ivc-4k", 1.0, 0.0, 0.0, 100.0, "0-100-dcr"),
    ("netflix-public", 1.0, 0.0, 0.0, 100.0, "vmaf"),
];

#[test]
fn json_is_an_object_keyed_by_label_with_every_field() {
    let v: Value = serde_json::from_str(&scales("json")).expect("JSON");
    let obj = v.as_object().expect("object");
    assert_eq!(obj.len(), CONTRACT.len());
    for (label, slope, intercept, lo, hi, scale) in CONTRACT {
        let e = &obj[label];
        let mut keys: Vec<&str> = e
            .as_object()
            .expect("entry")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "intercept",
                "native_max",
                "native_min",
                "scale_label",
                "slope",
                "source"
            ]
        );
        assert_eq!(e["slope"], json!(slope), "{label}");
        assert_eq!(e["intercept"], json!(intercept), "{label}");
        assert_eq!(e["native_min"], json!(lo), "{label}");
        assert_eq!(e["native_max"], json!(hi), "{label}");
        assert_eq!(e["scale_label"], scale, "{label}");
        assert!(
            e["source"].as_str().is_some_and(|s| s.len() > 10),
            "{label} cites its source"
        );
    }
}

#[test]
fn json_agrees_with_the_table_an_aggregation_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shard = dir.path().join("k.jsonl");
    std::fs::write(
        &shard,
        "{\"src\": \"a.mp4\", \"src_sha256\": \"a\", \"mos\": 3.0, \"corpus\": \"konvid-1k\"}\n",
    )
    .expect("write");
    mosagg()
        .arg("aggregate")
        .arg("--inputs")
        .arg(&shard)
        .arg("--output")
        .arg(dir.path().join("u.jsonl"))
        .args(["--aggregated-at", "2026-05-09T00:00:00+00:00"])
        .assert()
        .success();
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("u.manifest.json")).expect("manifest"),
    )
    .expect("JSON");
    let listed: Value = serde_json::from_str(&scales("json")).expect("JSON");
    let recorded = manifest["scale_conversions"]
        .as_object()
        .expect("manifest has scale_conversions");
    assert_eq!(recorded.len(), listed.as_object().map_or(0, |o| o.len()));
    for (label, spec) in recorded {
        for field in [
            "slope",
            "intercept",
            "native_min",
            "native_max",
            "scale_label",
        ] {
            assert_eq!(listed[label][field], spec[field], "{label}.{field}");
        }
    }
}

#[test]
fn table_lists_every_label_with_its_citation() {
    let text = scales("table");
    for (label, ..) in CONTRACT {
        assert!(text.contains(label), "{label} missing:\n{text}");
    }
    for header in [
        "slope",
        "intercept",
        "native_min",
        "native_max",
        "scale_label",
        "source",
    ] {
        assert!(text.contains(header), "{header} missing");
    }
    assert!(text.contains("KonViD-1k"), "citations are shown");
    assert_eq!(text, scales("table"), "deterministic");
}

#[test]
fn an_unknown_format_is_a_usage_error() {
    let out = mosagg()
        .args(["scales", "--format", "yaml"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("yaml"));
}
