//! `mosagg query` through the real binary, on shards and a training set built here.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{Value, json};

use crate::common::mosagg;

/// Clips per corpus in the fixture; the konvid-1k ones carry native 1..5 ratings.
const CLIPS: [(&str, usize); 2] = [("konvid-1k", 5), ("waterloo-ivc-4k", 3)];

/// Writes one shard per corpus and aggregates them; returns (shards, jsonl, parquet).
fn training_set(dir: &Path) -> (Vec<PathBuf>, PathBuf, PathBuf) {
    let natives: Vec<(&str, Vec<f64>)> = CLIPS
        .iter()
        .map(|(corpus, clips)| {
            let scores = (0..*clips)
                .map(|i| {
                    if *corpus == "konvid-1k" {
                        1.0 + i as f64
                    } else {
                        10.0 * (i + 1) as f64
                    }
                })
                .collect();
            (*corpus, scores)
        })
        .collect();
    let corpora: Vec<(&str, &[f64])> = natives.iter().map(|(c, v)| (*c, &v[..])).collect();
    let set = crate::common::training_set(dir, &corpora, |corpus, i, native| {
        json!({
            "src": format!("{corpus}_{i}.mp4"),
            "src_sha256": format!("{corpus}-{i}"),
            "mos": native,
            "mos_std_dev": 0.25,
            "corpus": corpus,
            "pix_fmt": "yuv420p, \"10-bit\"",
        })
    });
    (set.shards, set.jsonl, set.parquet)
}

fn table_arg(name: &str, path: &Path) -> String {
    format!("{name}={}", path.display())
}

fn query(sql: &str, tables: &[String], format: &str) -> Output {
    let mut cmd = mosagg();
    cmd.args(["query", sql, "--format", format]);
    for t in tables {
        cmd.args(["--table", t]);
    }
    cmd.output().expect("run mosagg")
}

fn stdout_ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf8")
}

const PER_CORPUS: &str = "SELECT corpus_source, COUNT(*) AS n, MAX(mos) AS top FROM u GROUP BY corpus_source ORDER BY corpus_source";

#[test]
fn csv_has_a_header_and_quotes_what_needs_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, _, parquet) = training_set(dir.path());
    let text = stdout_ok(query(PER_CORPUS, &[table_arg("u", &parquet)], "csv"));
    // konvid-1k tops out at native 5 -> 100.0; waterloo at 30.0.
    assert_eq!(
        text,
        "corpus_source,n,top\nkonvid-1k,5,100.0\nwaterloo-ivc-4k,3,30.0\n"
    );
    let text = stdout_ok(query(
        "SELECT pix_fmt FROM u LIMIT 1",
        &[table_arg("u", &parquet)],
        "csv",
    ));
    assert_eq!(text, "pix_fmt\n\"yuv420p, \"\"10-bit\"\"\"\n");
}

#[test]
fn json_and_ndjson_carry_the_same_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, jsonl, _) = training_set(dir.path());
    let tables = [table_arg("u", &jsonl)];
    let array: Value =
        serde_json::from_str(&stdout_ok(query(PER_CORPUS, &tables, "json"))).expect("JSON");
    let lines: Vec<Value> = stdout_ok(query(PER_CORPUS, &tables, "ndjson"))
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is a JSON object"))
        .collect();
    assert_eq!(array, Value::Array(lines));
    assert_eq!(
        array,
        json!([
            {"corpus_source": "konvid-1k", "n": 5, "top": 100.0},
            {"corpus_source": "waterloo-ivc-4k", "n": 3, "top": 30.0}
        ])
    );
    let empty = stdout_ok(query("SELECT * FROM u WHERE mos > 1000", &tables, "json"));
    assert_eq!(
        serde_json::from_str::<Value>(&empty).expect("JSON"),
        json!([])
    );
}

#[test]
fn table_format_draws_header_and_cells() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, _, parquet) = training_set(dir.path());
    let text = stdout_ok(query(PER_CORPUS, &[table_arg("u", &parquet)], "table"));
    for cell in [
        "corpus_source",
        "top",
        "konvid-1k",
        "waterloo-ivc-4k",
        "100.0",
    ] {
        assert!(text.contains(cell), "{cell} missing from\n{text}");
    }
    assert!(text.lines().count() >= 5, "header, rule, two rows, borders");
}

#[test]
fn table_format_draws_only_the_first_rows_and_counts_the_rest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, _, parquet) = training_set(dir.path());
    // 8 rows cubed: 512 rows, numbered so the drawn ones can be told apart.
    let sql = "SELECT ROW_NUMBER() OVER (ORDER BY a.src, b.src, c.src) AS k \
               FROM u AS a CROSS JOIN u AS b CROSS JOIN u AS c ORDER BY k";
    let drawn = |extra: &[&str]| {
        let mut cmd = mosagg();
        cmd.args(["query", sql, "--table", &table_arg("u", &parquet)]);
        cmd.args(extra);
        let text = stdout_ok(cmd.output().expect("run mosagg"));
        let keys: Vec<u64> = text
            .lines()
            .filter_map(|l| l.trim_matches(|c: char| !c.is_ascii_digit()).parse().ok())
            .collect();
        (keys, text)
    };
    let (keys, text) = drawn(&[]);
    assert_eq!(keys, (1..=100).collect::<Vec<_>>(), "{text}");
    assert!(
        text.contains("512 rows; the first 100 shown"),
        "footer missing:\n{text}"
    );
    let (keys, text) = drawn(&["--max-rows", "3"]);
    assert_eq!(keys, vec![1, 2, 3], "{text}");
    assert!(text.contains("512 rows; the first 3 shown"), "{text}");
    let (keys, text) = drawn(&["--max-rows", "0"]);
    assert_eq!(keys, (1..=512).collect::<Vec<_>>());
    assert!(!text.contains("shown"), "no footer when every row is drawn");
    // The machine formats are never cut.
    let mut cmd = mosagg();
    cmd.args([
        "query",
        sql,
        "--table",
        &table_arg("u", &parquet),
        "--format",
        "csv",
        "--max-rows",
        "3",
    ]);
    assert_eq!(
        stdout_ok(cmd.output().expect("run mosagg")).lines().count(),
        513
    );
}

#[test]
fn several_tables_of_each_kind_can_be_joined() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (shards, jsonl, parquet) = training_set(dir.path());
    // A folder of Parquet files is one table: two copies, twice the rows.
    let folder = dir.path().join("parts");
    std::fs::create_dir(&folder).expect("mkdir");
    std::fs::copy(&parquet, folder.join("a.parquet")).expect("copy");
    std::fs::copy(&parquet, folder.join("b.parquet")).expect("copy");
    // A raw shard, as .ndjson, with its schema inferred.
    let ndjson = dir.path().join("konvid.ndjson");
    std::fs::copy(&shards[0], &ndjson).expect("copy");

    let sql = "SELECT \
        (SELECT COUNT(*) FROM p JOIN j ON p.src_sha256 = j.src_sha256) AS joined, \
        (SELECT COUNT(*) FROM parts) AS folder_rows, \
        (SELECT SUM(mos) FROM raw) AS raw_native_sum";
    let tables = [
        table_arg("p", &parquet),
        table_arg("j", &jsonl),
        table_arg("parts", &folder),
        table_arg("raw", &ndjson),
    ];
    let v: Value = serde_json::from_str(&stdout_ok(query(sql, &tables, "json"))).expect("JSON");
    assert_eq!(
        v,
        json!([{"joined": 8, "folder_rows": 16, "raw_native_sum": 15.0}])
    );
}

#[test]
fn unified_is_registered_from_the_work_folder_by_default() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, _, parquet) = training_set(dir.path());
    let work = dir.path().join("project");
    std::fs::create_dir_all(work.join(".workingdir2/aggregated")).expect("mkdir");
    std::fs::copy(
        &parquet,
        work.join(".workingdir2/aggregated/unified_corpus.parquet"),
    )
    .expect("copy");
    let out = mosagg()
        .current_dir(&work)
        .args([
            "query",
            "SELECT COUNT(*) AS n FROM unified",
            "--format",
            "csv",
        ])
        .output()
        .expect("run");
    assert_eq!(stdout_ok(out), "n\n8\n");

    // Without that file there is no `unified`, and the message says how to add tables.
    let out = mosagg()
        .current_dir(dir.path())
        .args(["query", "SELECT COUNT(*) FROM unified"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--table NAME=PATH"));
}

#[test]
fn a_column_null_for_the_first_thousand_rows_still_reads() {
    // Schema inference samples the first rows; the later value must not break the read.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("late.jsonl");
    let mut text: String = (0..1500)
        .map(|i| format!("{{\"i\": {i}, \"mos_std_dev\": null}}\n"))
        .collect();
    text.push_str("{\"i\": 1500, \"mos_std_dev\": 0.5}\n");
    std::fs::write(&path, text).expect("write");
    let out = query(
        "SELECT COUNT(*) AS n, MAX(mos_std_dev) AS s FROM t",
        &[table_arg("t", &path)],
        "csv",
    );
    assert_eq!(stdout_ok(out), "n,s\n1501,0.5\n");
}

fn assert_fails(out: Output, code: i32, needles: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        out.stdout.is_empty(),
        "nothing on stdout for a failed query"
    );
}

#[test]
fn errors_are_clear_and_never_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, _, parquet) = training_set(dir.path());
    let u = [table_arg("u", &parquet)];

    assert_fails(
        query("SELEC 1", &u, "table"),
        2,
        &["invalid query", "SELEC"],
    );
    assert_fails(
        query("SELECT * FROM nope", &u, "csv"),
        2,
        &["nope", "not found", "tables: u"],
    );
    assert_fails(query("SELECT colour FROM u", &u, "csv"), 2, &["colour"]);
    let missing = dir.path().join("gone.parquet");
    assert_fails(
        query("SELECT 1", &[table_arg("g", &missing)], "csv"),
        2,
        &["gone.parquet", "no such file"],
    );
    let unknown_kind = dir.path().join("data.csv");
    std::fs::write(&unknown_kind, "a\n1\n").expect("write");
    assert_fails(
        query("SELECT 1", &[table_arg("c", &unknown_kind)], "csv"),
        2,
        &["data.csv", ".parquet"],
    );
    let corrupt = dir.path().join("corrupt.parquet");
    std::fs::write(&corrupt, "not parquet at all").expect("write");
    assert_fails(
        query("SELECT 1", &[table_arg("c", &corrupt)], "csv"),
        1,
        &["corrupt.parquet"],
    );
    assert_fails(
        query("SELECT 1", &["u".to_owned()], "csv"),
        2,
        &["NAME=PATH"],
    );
    assert_fails(
        query("SELECT 1", &[table_arg("Big", &parquet)], "csv"),
        2,
        &["lower-case"],
    );
    // Read-only: nothing can be created or written.
    let target = dir.path().join("copy.parquet");
    assert_fails(
        query(&format!("COPY u TO '{}'", target.display()), &u, "csv"),
        2,
        &["invalid query"],
    );
    assert!(!target.exists());
    assert_fails(
        query("CREATE TABLE t AS SELECT 1", &u, "csv"),
        2,
        &["only reads"],
    );
}

#[test]
fn shards_are_queryable_as_python_wrote_them_plain_or_compressed() {
    let dir = tempfile::tempdir().expect("tempdir");
    // What json.dumps writes for non-finite floats, plus a BOM, CRLF and a blank line.
    let text = "\u{feff}{\"src\": \"a.mp4\", \"mos\": NaN, \"mos_std_dev\": Infinity, \"n\": 1}\r\n\
                \n\
                {\"src\": \"b.mp4\", \"mos\": 3.5, \"mos_std_dev\": -Infinity, \"n\": 2.5}\n";
    let plain = dir.path().join("s.jsonl");
    std::fs::write(&plain, text).expect("write");
    let gz = dir.path().join("s.jsonl.gz");
    crate::common::write_gzip(&gz, text.as_bytes());
    let zst = dir.path().join("s.jsonl.zst");
    crate::common::write_zstd(&zst, text.as_bytes());
    let sql = "SELECT src, isnan(mos) AS nan_mos, mos_std_dev > 0 AS pos, n FROM s ORDER BY src";
    let expected = "src,nan_mos,pos,n\na.mp4,true,true,1.0\nb.mp4,false,false,2.5\n";
    for path in [&plain, &gz, &zst] {
        let out = stdout_ok(query(sql, &[table_arg("s", path)], "csv"));
        assert_eq!(out, expected, "{path:?}");
    }
}

#[test]
fn a_bad_shard_line_names_the_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("bad.jsonl");
    std::fs::write(&p, "{\"a\": 1}\n\n{\"a\": \n").expect("write");
    assert_fails(
        query("SELECT * FROM s", &[table_arg("s", &p)], "csv"),
        1,
        &["bad.jsonl:3", "invalid JSON"],
    );
    std::fs::write(&p, "{\"a\": 1}\n[1, 2]\n").expect("write");
    assert_fails(
        query("SELECT * FROM s", &[table_arg("s", &p)], "csv"),
        1,
        &["bad.jsonl:2", "not a row"],
    );
}

#[test]
fn nested_values_are_written_as_real_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("n.jsonl");
    std::fs::write(
        &p,
        "{\"src\": \"a\", \"tags\": [\"x\", \"y\"], \"meta\": {\"fps\": 30, \"hdr\": false}}\n\
         {\"src\": \"b\", \"tags\": null, \"meta\": {\"fps\": 25, \"hdr\": true}}\n",
    )
    .expect("write");
    let out = stdout_ok(query(
        "SELECT src, tags, meta FROM s ORDER BY src",
        &[table_arg("s", &p)],
        "ndjson",
    ));
    let rows: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(rows[0]["tags"], json!(["x", "y"]));
    assert_eq!(rows[0]["meta"], json!({"fps": 30, "hdr": false}));
    assert_eq!(rows[1]["tags"], Value::Null);
    assert_eq!(rows[1]["meta"]["hdr"], json!(true));
}

/// A sort runs within `--memory-limit` and leaves `--spill-dir` empty after; under a
/// limit too small for it, it says which flag to raise and prints nothing; a spill
/// folder that does not exist is a usage error.
#[test]
fn a_large_sort_keeps_to_the_memory_limit_or_names_the_flag() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("rows.jsonl");
    let rows = 60_000;
    let mut text = String::new();
    for i in 0..rows {
        // Every key once, in a scrambled order (7919 is prime to 60,000).
        let k = (i * 7919) % rows;
        text.push_str(&format!(
            "{{\"k\": {k}, \"pad\": \"{}-{i}\"}}\n",
            "x".repeat(80)
        ));
    }
    std::fs::write(&path, text).expect("write");
    let spill = dir.path().join("spill");
    std::fs::create_dir(&spill).expect("spill folder");
    let t = table_arg("t", &path);
    let sorted = |limit: &str, spill_dir: &Path| {
        mosagg()
            .args([
                "query",
                "SELECT k, pad FROM t ORDER BY k DESC",
                "--format",
                "csv",
            ])
            .args(["--table", &t, "--memory-limit", limit, "--spill-dir"])
            .arg(spill_dir)
            .output()
            .expect("run mosagg")
    };

    let text = stdout_ok(sorted("64M", &spill));
    let keys: Vec<usize> = text
        .lines()
        .skip(1)
        .map(|l| {
            l.split(',')
                .next()
                .and_then(|k| k.parse().ok())
                .expect("key")
        })
        .collect();
    assert_eq!(keys, (0..rows).rev().collect::<Vec<_>>());
    assert_eq!(std::fs::read_dir(&spill).expect("spill").count(), 0);

    assert_fails(
        sorted("1M", &spill),
        1,
        &["--memory-limit 1M", "raise --memory-limit"],
    );
    assert_eq!(std::fs::read_dir(&spill).expect("spill").count(), 0);

    assert_fails(
        sorted("64M", &dir.path().join("no-such-folder")),
        2,
        &["--spill-dir"],
    );
}
