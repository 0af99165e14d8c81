//! Inputs that are not in the page cache are read straight from the disk; cached ones
//! through the cache. Either way every byte, hash and output is the same.

use std::path::{Path, PathBuf};

use crate::common::{Scratch, TS, many_rows, mosagg, write_gzip};

/// A plain and a gzip shard of a few MiB each.
fn shards(s: &Scratch) -> Vec<PathBuf> {
    let plain = s.shard_text("in/a.jsonl", &many_rows("konvid-1k", 30_000));
    let gz = s.path("in/b.jsonl.gz");
    write_gzip(&gz, many_rows("lsvq", 20_000).as_bytes());
    vec![plain, gz]
}

/// Drops the file's pages from the page cache; true when none is left there.
fn evict(path: &Path) -> bool {
    mosagg::evict_from_page_cache(path).expect("evict")
}

/// Whether this folder's file system takes O_DIRECT reads.
fn takes_direct_reads(path: &Path) -> bool {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
        .is_ok()
}

/// Runs the aggregate; the numbers of its DEBUG line on how the input bytes were read:
/// (through the page cache, straight from the disk).
fn run(inputs: &[PathBuf], out: &Path) -> (u64, u64) {
    let res = mosagg()
        .arg("aggregate")
        .arg("--inputs")
        .args(inputs)
        .arg("--output")
        .arg(out.join("u.jsonl"))
        .arg("--parquet")
        .arg(out.join("u.parquet"))
        .args(["--aggregated-at", TS, "--log-level", "DEBUG"])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(res.status.success(), "{err}");
    let line = err
        .lines()
        .find(|l| l.contains("input bytes:"))
        .unwrap_or_else(|| panic!("no line on the input reads in\n{err}"));
    let numbers: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    match numbers[..] {
        [cached, direct] => (cached, direct),
        _ => panic!("not two numbers: {line}"),
    }
}

#[test]
fn inputs_out_of_the_page_cache_are_read_from_the_disk_with_the_same_outputs() {
    let s = Scratch::new();
    let inputs = shards(&s);
    let stored: u64 = inputs
        .iter()
        .map(|p| std::fs::metadata(p).expect("metadata").len())
        .sum();

    // Cached (just written, then read once): every byte through the page cache.
    for p in &inputs {
        std::fs::read(p).expect("read");
    }
    std::fs::create_dir_all(s.path("warm")).expect("mkdir");
    assert_eq!(run(&inputs, &s.path("warm")), (stored, 0));

    // Out of the page cache, as on a first run: straight from the disk, and left out
    // of it, so a second run reads from the disk again.
    let evicted = inputs.iter().all(|p| evict(p));
    let direct = inputs.iter().all(|p| takes_direct_reads(p));
    for dir in ["cold", "cold-again"] {
        std::fs::create_dir_all(s.path(dir)).expect("mkdir");
        let (cached, from_disk) = run(&inputs, &s.path(dir));
        assert_eq!(cached + from_disk, stored, "{dir}");
        if evicted && direct {
            assert_eq!(from_disk, stored, "{dir}");
        } else {
            // A file system that keeps every file in memory (tmpfs) or refuses O_DIRECT.
            assert_eq!(from_disk, 0, "{dir}");
        }
        for name in ["u.jsonl", "u.parquet"] {
            assert!(
                std::fs::read(s.path(&format!("{dir}/{name}"))).expect("read")
                    == std::fs::read(s.path(&format!("warm/{name}"))).expect("read"),
                "{name} differs in {dir}"
            );
        }
        // The manifest records the same hash of every input.
        let manifest = |d: &str| {
            let text =
                std::fs::read_to_string(s.path(&format!("{d}/u.manifest.json"))).expect("manifest");
            let doc: serde_json::Value = serde_json::from_str(&text).expect("json");
            doc["run_provenance"]["inputs"].clone()
        };
        assert_eq!(manifest(dir), manifest("warm"), "{dir}");
    }

    // verify re-hashes the inputs and outputs the same way, cached or not.
    let manifest = s.path("cold/u.manifest.json");
    for p in inputs
        .iter()
        .chain([&s.path("cold/u.jsonl"), &s.path("cold/u.parquet")])
    {
        evict(p);
    }
    mosagg().arg("verify").arg(&manifest).assert().success();
}
