//! `mosagg stats` through the real binary, on a training set `mosagg aggregate` builds
//! from shards written here. Expected numbers are computed in this file from the
//! native scores, by the textbook definitions, never copied from mosagg's output.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{Value, json};

use crate::common::mosagg;

/// Native scores per corpus and how each maps to the unified scale (CONTRACT §3).
const KONVID: [f64; 7] = [1.2, 2.0, 2.35, 3.1, 4.0, 4.4, 4.95];
const WATERLOO: [f64; 4] = [80.0, 10.5, 55.25, 20.0];
const NETFLIX: [f64; 1] = [42.0];

fn unified(corpus: &str, native: f64) -> f64 {
    if corpus == "konvid-1k" {
        25.0 * native - 25.0
    } else {
        native
    }
}

/// Shards for three corpora in `dir`, aggregated; returns (jsonl, parquet).
fn training_set(dir: &Path) -> (PathBuf, PathBuf) {
    let corpora = [
        ("konvid-1k", &KONVID[..]),
        ("waterloo-ivc-4k", &WATERLOO[..]),
        ("netflix-public", &NETFLIX[..]),
    ];
    let set = crate::common::training_set(dir, &corpora, |corpus, i, native| {
        json!({
            "src": format!("{corpus}_{i}.mp4"),
            "src_sha256": format!("{corpus}-{i}"),
            "mos": native,
            "mos_std_dev": 0.3,
            "corpus": corpus,
            "width": 1920,
            "height": 1080,
        })
    });
    (set.jsonl, set.parquet)
}

/// Each quantile column and its fraction (min and max are the quantiles 0 and 1).
const QUANTILES: [(&str, f64); 7] = [
    ("min", 0.0),
    ("p05", 0.05),
    ("p25", 0.25),
    ("median", 0.5),
    ("p75", 0.75),
    ("p95", 0.95),
    ("max", 1.0),
];

/// numpy's default (linear) quantile, written out from its definition.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - pos.floor())
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

fn run(args: &[&str]) -> Output {
    mosagg().args(args).output().expect("run mosagg")
}

fn stats_json(path: &Path, extra: &[&str]) -> Vec<Value> {
    let out = mosagg()
        .arg("stats")
        .arg(path)
        .args(["--format", "json"])
        .args(extra)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("stats JSON parses");
    v.as_array().expect("an array").clone()
}

#[test]
fn json_stats_match_the_definitions_for_parquet_and_jsonl() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (jsonl, parquet) = training_set(dir.path());
    let from_parquet = stats_json(&parquet, &[]);
    let from_jsonl = stats_json(&jsonl, &[]);
    assert_eq!(from_parquet, from_jsonl, "same rows, same statistics");

    let keys = [
        "corpus_source",
        "n",
        "mean",
        "std",
        "min",
        "p05",
        "p25",
        "median",
        "p75",
        "p95",
        "max",
        "scale_label",
        "native_min",
        "native_max",
    ];
    let groups: Vec<&str> = from_parquet
        .iter()
        .map(|g| g["corpus_source"].as_str().expect("label"))
        .collect();
    assert_eq!(groups, ["konvid-1k", "netflix-public", "waterloo-ivc-4k"]);

    for (g, (corpus, natives, scale)) in from_parquet.iter().zip([
        ("konvid-1k", &KONVID[..], "1-5-acr"),
        ("netflix-public", &NETFLIX[..], "vmaf"),
        ("waterloo-ivc-4k", &WATERLOO[..], "0-100-dcr"),
    ]) {
        let obj = g.as_object().expect("object");
        let mut got: Vec<&str> = obj.keys().map(String::as_str).collect();
        let mut want = keys.to_vec();
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want, "exactly the documented keys");

        let mut mos: Vec<f64> = natives.iter().map(|&x| unified(corpus, x)).collect();
        mos.sort_by(f64::total_cmp);
        let n = mos.len() as f64;
        let mean = mos.iter().sum::<f64>() / n;
        assert_eq!(g["n"], json!(mos.len()));
        assert!(
            close(g["mean"].as_f64().expect("mean"), mean),
            "{corpus} mean"
        );
        if mos.len() > 1 {
            let var = mos.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
            assert!(
                close(g["std"].as_f64().expect("std"), var.sqrt()),
                "{corpus} std"
            );
        } else {
            assert!(g["std"].is_null(), "sample std of one value is undefined");
        }
        for (key, q) in QUANTILES {
            let got = g[key].as_f64().expect("number");
            assert!(
                close(got, quantile(&mos, q)),
                "{corpus} {key}: {got} vs {}",
                quantile(&mos, q)
            );
        }
        assert_eq!(g["scale_label"], scale);
        let (lo, hi) = natives
            .iter()
            .fold((f64::MAX, f64::MIN), |(l, h), &x| (l.min(x), h.max(x)));
        assert_eq!(g["native_min"].as_f64(), Some(lo));
        assert_eq!(g["native_max"].as_f64(), Some(hi));
    }
}

/// A group large enough to be ranked by bucket counts (more than 2^16 values), beside a
/// small one, their rows interleaved in runs short and long: the quantiles still equal
/// the definition's, to the last digit.
#[test]
fn quantiles_of_a_large_group_are_exact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("big.jsonl");
    let small = |i: usize| i % 1000 < 3 || (20_000..20_300).contains(&i);
    // Every value distinct (7919 is prime to 100,003), so a rank off by one shows.
    let mos = |i: usize| ((i * 7919) % 100_003) as f64 / 1000.0 - 20.0;
    let mut text = String::new();
    for i in 0..100_000 {
        let corpus = if small(i) { "small" } else { "big" };
        text.push_str(&format!(
            "{{\"corpus_source\": \"{corpus}\", \"mos\": {}}}\n",
            mos(i)
        ));
    }
    std::fs::write(&path, text).expect("write");
    let groups = stats_json(&path, &[]);
    assert_eq!(groups.len(), 2);
    for (g, name) in groups.iter().zip(["big", "small"]) {
        assert_eq!(g["corpus_source"], name);
        let mut values: Vec<f64> = (0..100_000)
            .filter(|&i| small(i) == (name == "small"))
            .map(mos)
            .collect();
        values.sort_by(f64::total_cmp);
        assert_eq!(g["n"], json!(values.len()));
        for (key, q) in QUANTILES {
            assert_eq!(g[key].as_f64(), Some(quantile(&values, q)), "{name} {key}");
        }
    }
}

/// A group per clip (`--by src`): 200,000 groups of one value each. Each group's bin
/// counts are one pair, so the statistics fit the default memory limit (a count for
/// each of 200 bins took 1.6 KB a group, and sorting the result of 183k groups ran
/// out of memory).
#[test]
fn a_group_per_clip_fits_in_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("clips.jsonl");
    let mos = |i: usize| (i % 1000) as f64 / 10.0;
    let mut text = String::new();
    for i in 0..200_000 {
        text.push_str(&format!(
            "{{\"src\": \"clip_{i:06}.mp4\", \"corpus_source\": \"c\", \"mos\": {}}}\n",
            mos(i)
        ));
    }
    std::fs::write(&path, text).expect("write");
    let out = run(&[
        "stats",
        path.to_str().expect("utf8"),
        "--by",
        "src",
        "--format",
        "csv",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf8");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 200_001);
    assert!(
        lines[0].starts_with("src,n,mean,std,min,p05"),
        "{}",
        lines[0]
    );
    // Sorted by clip: row 1 + i is clip i, one value, every quantile that value.
    let clip: Vec<&str> = lines[1 + 12_345].split(',').collect();
    assert_eq!(clip[0], "clip_012345.mp4");
    assert_eq!(clip[1], "1");
    assert_eq!(clip[7].parse::<f64>().ok(), Some(mos(12_345)));
    assert_eq!(clip[3], "", "no spread for one value");

    // Under a limit too small for so many groups: exit 1, the flag named, nothing printed.
    let out = run(&[
        "stats",
        path.to_str().expect("utf8"),
        "--by",
        "src",
        "--memory-limit",
        "2M",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("raise --memory-limit"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn the_table_draws_the_first_groups_and_counts_the_rest() {
    // 250 groups: more than the table draws by default, fewer than it could.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("clips.jsonl");
    let text: String = (0..250)
        .map(|i| {
            format!("{{\"src\": \"clip_{i:03}.mp4\", \"corpus_source\": \"c\", \"mos\": {i}.5}}\n")
        })
        .collect();
    std::fs::write(&path, text).expect("write");
    let table = |extra: &[&str]| -> String {
        let mut args = vec!["stats", path.to_str().expect("utf8"), "--by", "src"];
        args.extend_from_slice(extra);
        let out = run(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf8")
    };
    let drawn = table(&[]);
    assert!(
        drawn.contains("clip_000.mp4") && drawn.contains("clip_099.mp4"),
        "{drawn}"
    );
    assert!(!drawn.contains("clip_100.mp4"), "{drawn}");
    assert!(drawn.contains("250 rows; the first 100 shown"), "{drawn}");
    let few = table(&["--max-rows", "3"]);
    assert!(
        few.contains("clip_002.mp4") && !few.contains("clip_003.mp4"),
        "{few}"
    );
    assert!(few.contains("250 rows; the first 3 shown"), "{few}");
    let all = table(&["--max-rows", "0"]);
    assert!(
        all.contains("clip_249.mp4") && !all.contains("rows; the first"),
        "{all}"
    );
    // The machine formats print every group whatever the limit.
    let csv = table(&["--format", "csv", "--max-rows", "3"]);
    assert_eq!(csv.lines().count(), 251);
}

#[test]
fn csv_has_a_header_and_one_row_per_group() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, parquet) = training_set(dir.path());
    let out = run(&["stats", parquet.to_str().expect("utf8"), "--format", "csv"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf8");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "corpus_source,n,mean,std,min,p05,p25,median,p75,p95,max,scale_label,native_min,native_max"
    );
    assert_eq!(lines.len(), 4);
    let konvid: Vec<&str> = lines[1].split(',').collect();
    assert_eq!(konvid[0], "konvid-1k");
    assert_eq!(konvid[1], "7");
    // Every digit in CSV: the median is exactly the middle clip, native 3.1.
    assert_eq!(konvid[7].parse::<f64>().ok(), Some(25.0 * 3.1 - 25.0));
}

#[test]
fn table_names_every_group_and_statistic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (jsonl, _) = training_set(dir.path());
    let out = run(&["stats", jsonl.to_str().expect("utf8")]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf8");
    for word in [
        "konvid-1k",
        "waterloo-ivc-4k",
        "netflix-public",
        "median",
        "p95",
        "scale_label",
    ] {
        assert!(text.contains(word), "table lacks {word}:\n{text}");
    }
    // Mean of konvid-1k, to the table's 3 decimals.
    let mean = KONVID.iter().map(|&x| 25.0 * x - 25.0).sum::<f64>() / 7.0;
    assert!(text.contains(&format!("{mean:.3}")), "{text}");
}

#[test]
fn by_groups_on_another_column() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, parquet) = training_set(dir.path());
    let groups = stats_json(&parquet, &["--by", "mos_native_scale"]);
    let labels: Vec<&str> = groups
        .iter()
        .map(|g| g["mos_native_scale"].as_str().expect("group key"))
        .collect();
    assert_eq!(labels, ["0-100-dcr", "1-5-acr", "vmaf"]);
    assert!(groups.iter().all(|g| g.get("corpus_source").is_none()));

    // An integer column works too, and a group mixing scales lists them all.
    let by_width = stats_json(&parquet, &["--by", "width"]);
    assert_eq!(by_width.len(), 1);
    assert_eq!(by_width[0]["width"], 1920);
    assert_eq!(by_width[0]["n"], 12);
    assert_eq!(by_width[0]["scale_label"], "0-100-dcr+1-5-acr+vmaf");
}

#[test]
fn plot_is_an_svg_naming_every_corpus_with_its_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, parquet) = training_set(dir.path());
    let svg_path = dir.path().join("pics/dist.svg");
    let out = mosagg()
        .arg("stats")
        .arg(&parquet)
        .arg("--plot")
        .arg(&svg_path)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let svg = std::fs::read_to_string(&svg_path).expect("svg written");
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    for (corpus, n) in [
        ("konvid-1k", 7),
        ("waterloo-ivc-4k", 4),
        ("netflix-public", 1),
    ] {
        assert!(
            svg.contains(&format!("{corpus} (n = {n})")),
            "legend lacks {corpus}"
        );
    }
    assert!(svg.contains("unified MOS"), "x axis label");
    assert!(svg.contains("share of the group"), "y axis label");
    // Written atomically: nothing but the picture is left in its folder.
    let names: Vec<_> = std::fs::read_dir(dir.path().join("pics"))
        .expect("ls")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, ["dist.svg"]);
}

fn assert_fails(args: &[&str], code: i32, needle: &str) {
    let out = run(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert!(err.contains(needle), "stderr lacks {needle:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn errors_are_clear_and_never_panics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, parquet) = training_set(dir.path());
    let p = parquet.to_str().expect("utf8");

    let missing = dir.path().join("nope.parquet");
    assert_fails(
        &["stats", missing.to_str().expect("utf8")],
        2,
        "no such file",
    );
    assert_fails(&["stats", p, "--by", "colour"], 2, "no such column");
    assert_fails(
        &["stats", p, "--by", "median"],
        2,
        "statistics' own columns",
    );

    let not_unified = dir.path().join("other.jsonl");
    std::fs::write(&not_unified, "{\"a\": 1}\n").expect("write");
    assert_fails(
        &["stats", not_unified.to_str().expect("utf8")],
        2,
        "no column mos",
    );

    let garbage = dir.path().join("broken.parquet");
    std::fs::write(&garbage, "not parquet").expect("write");
    assert_fails(
        &["stats", garbage.to_str().expect("utf8")],
        1,
        "broken.parquet",
    );
}
