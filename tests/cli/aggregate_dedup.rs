//! Deduplication (CONTRACT §5), the counters identity and the rejects ledger.

use crate::common::{Scratch, read_jsonl, row, with};
use serde_json::{Value, json};

fn std_row(sha: &str, corpus: &str, std: Value, src: &str) -> Value {
    with(
        with(row(sha, corpus, json!(3.0)), "mos_std_dev", std),
        "src",
        json!(src),
    )
}

fn kept_src(out: &crate::common::Outcome, sha: &str) -> String {
    let rows = out.rows();
    let hits: Vec<&Value> = rows.iter().filter(|r| r["src_sha256"] == sha).collect();
    assert_eq!(hits.len(), 1, "exactly one row per key");
    hits[0]["src"].as_str().unwrap_or_default().to_owned()
}

/// Each ledger record's input line and reason.
fn reasons(recs: &[Value]) -> Vec<(u64, &str)> {
    recs.iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap_or(0),
                r["reason"].as_str().unwrap_or(""),
            )
        })
        .collect()
}

#[test]
fn tighter_std_dev_wins_across_corpora() {
    let s = Scratch::new();
    let a = s.shard("a.jsonl", &[std_row("k", "konvid-1k", json!(0.8), "loose")]);
    let b = s.shard("b.jsonl", &[std_row("k", "lsvq", json!(0.3), "tight")]);
    let out = s.aggregate(&[&a, &b], &[]).ok();
    assert_eq!(kept_src(&out, "k"), "tight");
    assert_eq!(out.counter("cross_corpus_dedups"), 1);
    // Order of inputs does not change the winner.
    let out = s.aggregate(&[&b, &a], &[]).ok();
    assert_eq!(kept_src(&out, "k"), "tight");
}

#[test]
fn zero_or_missing_std_dev_loses_to_any_positive_one() {
    let s = Scratch::new();
    let mut no_std = std_row("m", "konvid-1k", json!(0.0), "missing");
    no_std.as_object_mut().map(|o| o.remove("mos_std_dev"));
    let a = s.shard(
        "a.jsonl",
        &[std_row("z", "konvid-1k", json!(0.0), "zero"), no_std],
    );
    let b = s.shard(
        "b.jsonl",
        &[
            std_row("z", "lsvq", json!(2.0), "positive"),
            std_row("m", "lsvq", json!(9.0), "positive"),
        ],
    );
    let out = s.aggregate(&[&a, &b], &[]).ok();
    assert_eq!(kept_src(&out, "z"), "positive");
    assert_eq!(kept_src(&out, "m"), "positive");
}

#[test]
fn ties_keep_the_first_seen_row() {
    let s = Scratch::new();
    let a = s.shard("a.jsonl", &[std_row("t", "konvid-1k", json!(0.5), "first")]);
    let b = s.shard("b.jsonl", &[std_row("t", "lsvq", json!(0.5), "second")]);
    let out = s.aggregate(&[&a, &b], &[]).ok();
    assert_eq!(kept_src(&out, "t"), "first");
    let out = s.aggregate(&[&b, &a], &[]).ok();
    assert_eq!(kept_src(&out, "t"), "second");
    // Both unknown: first seen too.
    let c = s.shard("c.jsonl", &[std_row("u", "konvid-1k", json!(0.0), "first")]);
    let d = s.shard("d.jsonl", &[std_row("u", "lsvq", json!("nan"), "second")]);
    let out = s.aggregate(&[&c, &d], &[]).ok();
    assert_eq!(kept_src(&out, "u"), "first");
}

#[test]
fn rows_without_a_hash_never_merge_across_corpora() {
    let s = Scratch::new();
    let a = s.shard(
        "a.jsonl",
        &[std_row("", "konvid-1k", json!(0.5), "same.mp4")],
    );
    let b = s.shard("b.jsonl", &[std_row("", "lsvq", json!(0.2), "same.mp4")]);
    let out = s.aggregate(&[&a, &b], &[]).ok();
    assert_eq!(out.counter("rows_out"), 2);
    assert_eq!(out.counter("cross_corpus_dedups"), 0);
}

#[test]
fn same_corpus_repeats_are_counted_and_counters_reconcile() {
    let s = Scratch::new();
    // One key, 4 rows, 2 corpora: 1 cross-corpus, 2 same-corpus.
    let a = s.shard(
        "a.jsonl",
        &[
            std_row("k", "lsvq", json!(0.9), "l1"),
            std_row("k", "lsvq", json!(0.4), "l2"),
            std_row("k", "konvid-1k", json!(0.7), "k1"),
            std_row("k", "konvid-1k", json!(0.2), "k2"),
            row("bad", "lsvq", json!(9.0)),
            row("unk", "nope", json!(3.0)),
            with(row("bv", "lsvq", json!(3.0)), "height", json!("tall")),
        ],
    );
    let out = s.aggregate(&[&a], &[]).ok();
    assert_eq!(kept_src(&out, "k"), "k2");
    let m = out.manifest();
    let c = &m["counters"];
    assert_eq!(c["cross_corpus_dedups"], 1);
    assert_eq!(c["same_corpus_dups"], 2);
    assert_eq!(c["dropped_bad_scale"], 1);
    assert_eq!(c["dropped_unknown_corpus"], 1);
    assert_eq!(c["dropped_bad_value"], 1);
    let sum: u64 = [
        "rows_out",
        "cross_corpus_dedups",
        "same_corpus_dups",
        "dropped_unknown_corpus",
        "dropped_bad_scale",
        "dropped_bad_value",
    ]
    .iter()
    .map(|k| c[k].as_u64().unwrap_or(0))
    .sum();
    assert_eq!(c["rows_in"].as_u64(), Some(sum));
    assert_eq!(c["rows_in"], 7);
    let summary = out.summary();
    assert!(
        summary.starts_with("[mosagg] inputs_seen=1 inputs_missing=0 rows_in=7 rows_out=1 cross_corpus_dedups=1 same_corpus_dups=2 dropped_unknown_corpus=1 dropped_bad_scale=1 dropped_bad_value=1 -> "),
        "{summary}"
    );
}

#[test]
fn contested_keys_are_told_apart_from_lone_ones_and_dropped_rows() {
    let s = Scratch::new();
    // In dedup order the usable rows come first: a lone key ("0", "1" or "2") opens
    // each bucket with no row before it, "zz" is the last usable row, followed by the
    // dropped rows, one of them on "zz" too. Only "a" and "m" are contested; a dropped
    // row never is, and never competes.
    let a = s.shard(
        "a.jsonl",
        &[
            row("zz", "lsvq", json!(3.0)),
            row("zz", "lsvq", json!(9.0)),
            std_row("a", "lsvq", json!(0.9), "a-lsvq"),
            std_row("a", "konvid-1k", json!(0.3), "a-konvid"),
            std_row("m", "lsvq", json!(0.2), "m-lsvq-1"),
            std_row("m", "lsvq", json!(0.5), "m-lsvq-2"),
            std_row("m", "konvid-1k", json!(0.6), "m-konvid-1"),
            std_row("m", "konvid-1k", json!(0.7), "m-konvid-2"),
            row("b", "lsvq", json!(3.0)),
            row("a", "lsvq", json!(0.0)),
            row("0", "lsvq", json!(3.0)),
            row("1", "konvid-1k", json!(3.0)),
            row("2", "lsvq", json!(3.0)),
        ],
    );
    let ledger = s.path("rejects.jsonl");
    let out = s
        .aggregate(&[&a], &["--rejects", ledger.to_str().expect("utf8 path")])
        .ok();
    assert_eq!(kept_src(&out, "a"), "a-konvid");
    assert_eq!(kept_src(&out, "m"), "m-lsvq-1");
    assert_eq!(kept_src(&out, "zz"), "zz.mp4");
    assert_eq!(kept_src(&out, "b"), "b.mp4");
    for lone in ["0", "1", "2"] {
        assert_eq!(kept_src(&out, lone), format!("{lone}.mp4"));
    }
    assert_eq!(out.counter("rows_in"), 13);
    assert_eq!(out.counter("rows_out"), 7);
    assert_eq!(out.counter("cross_corpus_dedups"), 2);
    assert_eq!(out.counter("same_corpus_dups"), 2);
    assert_eq!(out.counter("dropped_bad_scale"), 2);
    assert_eq!(
        reasons(&read_jsonl(&ledger)),
        [
            (2, "bad_scale"),
            (3, "cross_corpus_dup"),
            (6, "same_corpus_dup"),
            (7, "cross_corpus_dup"),
            (8, "same_corpus_dup"),
            (10, "bad_scale"),
        ]
    );
}

#[test]
fn rejects_ledger_explains_every_missing_row() {
    let s = Scratch::new();
    let a = s.shard(
        "a.jsonl",
        &[
            std_row("k", "lsvq", json!(0.9), "l1"),
            std_row("k", "lsvq", json!(0.4), "l2"),
            std_row("k", "konvid-1k", json!(0.2), "k1"),
            row("bad", "lsvq", json!(9.0)),
            row("unk", "nope", json!(3.0)),
            with(row("bv", "lsvq", json!(3.0)), "width", json!([1920])),
            row("ok", "lsvq", json!(3.0)),
        ],
    );
    let ledger = s.path("rejects.jsonl");
    let out = s
        .aggregate(&[&a], &["--rejects", ledger.to_str().expect("utf8 path")])
        .ok();
    let recs = read_jsonl(&ledger);
    assert_eq!(
        reasons(&recs),
        vec![
            (1, "same_corpus_dup"),
            (2, "cross_corpus_dup"),
            (4, "bad_scale"),
            (5, "unknown_corpus"),
            (6, "bad_value"),
        ]
    );
    for r in &recs[..2] {
        assert_eq!(r["kept_line"], 3);
        assert_eq!(r["kept_path"], a.display().to_string());
    }
    assert!(recs[2].get("kept_line").is_none());
    assert!(
        recs[4]["detail"]
            .as_str()
            .unwrap_or("")
            .contains("field 'width'")
    );
    // Output rows + ledger rows = every input row.
    assert_eq!(out.rows().len() + recs.len(), 7);
    let outputs = out.manifest()["run_provenance"]["outputs"].clone();
    assert!(
        outputs
            .as_array()
            .is_some_and(|o| o.iter().any(|x| x["kind"] == "rejects" && x["rows"] == 5)),
        "{outputs}"
    );
}

#[test]
fn output_is_sorted_by_corpus_then_hash_then_key() {
    let s = Scratch::new();
    let a = s.shard(
        "a.jsonl",
        &[
            row("b", "lsvq", json!(3.0)),
            row("c", "konvid-1k", json!(3.0)),
            row("a", "lsvq", json!(3.0)),
            with(row("", "lsvq", json!(3.0)), "src", json!("z.mp4")),
            with(row("", "lsvq", json!(3.0)), "src", json!("y.mp4")),
        ],
    );
    let out = s.aggregate(&[&a], &[]).ok();
    let order: Vec<String> = out
        .rows()
        .iter()
        .map(|r| {
            format!(
                "{}/{}/{}",
                r["corpus_source"].as_str().unwrap_or(""),
                r["src_sha256"].as_str().unwrap_or(""),
                r["src"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        order,
        vec![
            "konvid-1k/c/c.mp4",
            "lsvq//y.mp4",
            "lsvq//z.mp4",
            "lsvq/a/a.mp4",
            "lsvq/b/b.mp4"
        ]
    );
}

/// Three corpora's rows, the same in every run: lowercase hex hashes (as the adapters
/// write them), many shared across and within corpora with tied spreads, rows without
/// a hash (empty or null), and a few keys of other shapes among the hex ones.
fn mixed_keys(corpus: &str, seed: usize) -> String {
    let mut text = String::new();
    for i in 0..6000 {
        // A fifth of the clips are in every corpus, and some twice in one.
        let clip = if i % 5 == 0 {
            i % 1200
        } else {
            seed * 100_000 + i
        };
        let sha = match i % 211 {
            0 => String::new(),
            1 => "ZZZZ-not-hex".to_owned(),
            2 => format!("__nokey__/clip{clip}.mp4/{corpus}"),
            3 => "0a:".to_owned(),
            _ => sha256_of(&clip.to_string()),
        };
        let mut r = with(
            row(&sha, corpus, json!(1.0 + (i % 300) as f64 / 100.0)),
            "mos_std_dev",
            json!((i % 7) as f64 / 10.0),
        );
        r = with(r, "src", json!(format!("clip{clip}.mp4")));
        if i % 307 == 0 {
            r = with(r, "src_sha256", Value::Null);
        }
        text.push_str(&format!("{r}\n"));
    }
    text
}

fn sha256_of(text: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The run spreads keys over its buckets by range when the first content hashes of the
/// inputs are lowercase hex, else by a hash (README, "Scan into buckets"); the rows it
/// keeps and their order are the same bytes either way. Each shard starts with rows
/// of a corpus no scale knows (dropped whichever way), whose hashes are what the run
/// looks at to choose: hex in one run, names in the other.
#[test]
fn buckets_by_range_or_by_hash_keep_the_same_rows_in_the_same_order() {
    let runs = [("range", true), ("hash", false)].map(|(name, hex)| {
        let s = Scratch::new();
        let shards: Vec<_> = ["konvid-1k", "lsvq", "youtube-ugc"]
            .iter()
            .enumerate()
            .map(|(n, corpus)| {
                let mut text = String::new();
                for i in 0..300 {
                    let sha = if hex {
                        sha256_of(&format!("padding{i}"))
                    } else {
                        format!("padding-{i}")
                    };
                    text.push_str(&format!("{}\n", row(&sha, "no-such-corpus", json!(3.0))));
                }
                text.push_str(&mixed_keys(corpus, n));
                s.shard_text(&format!("{corpus}.jsonl"), &text)
            })
            .collect();
        let inputs: Vec<&std::path::Path> = shards.iter().map(|p| p.as_path()).collect();
        // A small limit: the rows go to several buckets.
        let out = s
            .aggregate(&inputs, &["--memory-limit", "32M", "--log-level", "debug"])
            .ok();
        let plan = out
            .stderr
            .lines()
            .find(|l| l.contains("BucketPlan"))
            .unwrap_or_default()
            .to_owned();
        (name, s, out, plan)
    });
    let [
        (_, _range_dir, by_range, range_plan),
        (_, _hash_dir, by_hash, hash_plan),
    ] = runs;
    assert!(range_plan.contains("spread: Range"), "{range_plan}");
    assert!(hash_plan.contains("spread: Hash"), "{hash_plan}");
    for plan in [&range_plan, &hash_plan] {
        assert!(
            !plan.contains("buckets: 2,"),
            "one bucket per core only: {plan}"
        );
    }
    assert_eq!(by_range.text(), by_hash.text());
    assert_eq!(
        by_range.manifest()["counters"],
        by_hash.manifest()["counters"]
    );
    // Cross-corpus duplicates, same-corpus repeats and rows without a hash were there.
    for counter in ["cross_corpus_dedups", "same_corpus_dups"] {
        assert!(by_range.counter(counter) > 100, "{counter}");
    }
    assert!(by_range.text().contains("\"src_sha256\": \"\""));
    assert!(by_range.text().contains("ZZZZ-not-hex"));
}
