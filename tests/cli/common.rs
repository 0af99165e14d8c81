//! Helpers shared by the integration tests: shards in a temp folder, the real binary.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

pub const TS: &str = "2026-05-09T00:00:00+00:00";

pub fn mosagg() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mosagg"));
    c.env_remove("SOURCE_DATE_EPOCH");
    c
}

/// A scratch folder holding shards and outputs.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes raw text as a shard.
    pub fn shard_text(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, text).expect("write shard");
        p
    }

    /// Writes JSON values as a shard, one per line.
    pub fn shard(&self, name: &str, rows: &[Value]) -> PathBuf {
        let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
        self.shard_text(name, &text)
    }

    /// Runs `aggregate` on the given shards into `out.jsonl`; extra flags appended.
    pub fn aggregate(&self, inputs: &[&Path], extra: &[&str]) -> Outcome {
        let mut cmd = mosagg();
        cmd.arg("aggregate").arg("--inputs");
        for i in inputs {
            cmd.arg(i);
        }
        cmd.arg("--output")
            .arg(self.path("out.jsonl"))
            .args(["--aggregated-at", TS])
            .args(extra);
        let out = cmd.output().expect("run mosagg");
        Outcome {
            code: out.status.code().unwrap_or(-1),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            out_path: self.path("out.jsonl"),
        }
    }

    /// Every file left in the scratch folder, recursively (to catch stray temp files).
    pub fn files(&self) -> Vec<String> {
        let mut out = Vec::new();
        walk(self.dir.path(), self.dir.path(), &mut out);
        out.sort();
        out
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(root, &p, out);
        } else {
            out.push(p.strip_prefix(root).unwrap_or(&p).display().to_string());
        }
    }
}

pub struct Outcome {
    pub code: i32,
    pub stderr: String,
    pub out_path: PathBuf,
}

impl Outcome {
    pub fn ok(self) -> Self {
        assert_eq!(self.code, 0, "mosagg failed:\n{}", self.stderr);
        self
    }

    /// The output rows, parsed.
    pub fn rows(&self) -> Vec<Value> {
        read_jsonl(&self.out_path)
    }

    pub fn text(&self) -> String {
        std::fs::read_to_string(&self.out_path).expect("output")
    }

    pub fn manifest(&self) -> Value {
        let p = self.out_path.with_file_name("out.manifest.json");
        serde_json::from_str(&std::fs::read_to_string(p).expect("manifest")).expect("manifest JSON")
    }

    pub fn counter(&self, name: &str) -> u64 {
        self.manifest()["counters"][name]
            .as_u64()
            .unwrap_or_else(|| panic!("no counter {name}"))
    }

    pub fn summary(&self) -> &str {
        self.stderr.lines().last().unwrap_or("")
    }
}

/// A well-formed input row; tweak fields with `with`.
pub fn row(sha: &str, corpus: &str, mos: Value) -> Value {
    serde_json::json!({
        "src": format!("{sha}.mp4"),
        "src_sha256": sha,
        "width": 1920,
        "height": 1080,
        "framerate": 30.0,
        "duration_s": 8.0,
        "pix_fmt": "yuv420p",
        "encoder_upstream": "h264",
        "mos": mos,
        "mos_std_dev": 0.5,
        "n_ratings": 30,
        "corpus": corpus,
        "corpus_version": "v1",
        "ingested_at_utc": "2026-05-08T00:00:00+00:00",
    })
}

pub fn with(mut v: Value, key: &str, val: Value) -> Value {
    v[key] = val;
    v
}

/// The text of a shard of `rows` distinct clips of one corpus, with spreads and scores
/// that vary row to row: big enough that a debug build needs a few seconds for 60k rows.
pub fn many_rows(corpus: &str, rows: usize) -> String {
    let mut text = String::with_capacity(rows * 200);
    for i in 0..rows {
        let r = with(
            row(
                &format!("{corpus}{i:08}"),
                corpus,
                serde_json::json!(1.0 + (i % 400) as f64 / 100.0),
            ),
            "mos_std_dev",
            serde_json::json!((i % 97) as f64 / 100.0),
        );
        text.push_str(&r.to_string());
        text.push('\n');
    }
    text
}

pub fn sha256_hex(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(path).expect("read for hash");
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Writes `text` gzip-compressed to `path`.
pub fn write_gzip(path: &Path, text: &[u8]) {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(text).expect("gzip");
    std::fs::write(path, enc.finish().expect("gzip")).expect("write gzip");
}

/// Writes `text` zstd-compressed to `path`.
pub fn write_zstd(path: &Path, text: &[u8]) {
    std::fs::write(path, zstd::encode_all(text, 3).expect("zstd")).expect("write zstd");
}

/// A training set built the way a user builds one: one shard per corpus from its
/// native scores (`row` makes each line), aggregated into `dir/set/unified.*`.
pub struct TrainingSet {
    pub shards: Vec<PathBuf>,
    pub jsonl: PathBuf,
    pub parquet: PathBuf,
}

pub fn training_set(
    dir: &Path,
    corpora: &[(&str, &[f64])],
    row: impl Fn(&str, usize, f64) -> Value,
) -> TrainingSet {
    let mut shards = Vec::new();
    for (corpus, natives) in corpora {
        let text: String = natives
            .iter()
            .enumerate()
            .map(|(i, native)| row(corpus, i, *native).to_string() + "\n")
            .collect();
        let p = dir.join(format!("{corpus}.jsonl"));
        std::fs::write(&p, text).expect("write shard");
        shards.push(p);
    }
    let jsonl = dir.join("set/unified.jsonl");
    mosagg()
        .arg("aggregate")
        .arg("--inputs")
        .args(&shards)
        .arg("--output")
        .arg(&jsonl)
        .args(["--aggregated-at", TS])
        .assert()
        .success();
    TrainingSet {
        shards,
        parquet: dir.join("set/unified.parquet"),
        jsonl,
    }
}

/// A JSON-lines file's records, in file order.
pub fn read_jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}
