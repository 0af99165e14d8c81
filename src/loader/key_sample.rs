//! The first content hashes of the inputs, read before the scan: from them the run
//! judges how to spread its keys over buckets (`Spread::judged`,
//! src/engine/key_bucket.rs). Only speed depends on it, never a row or a byte.

use std::io;
use std::path::Path;

use super::InputFile;
use crate::shard_file::{ShardReader, read_up_to};

/// Text looked at from the start of each input: a few hundred rows of adapter output.
const SAMPLE_BYTES: usize = 64 << 10;

/// The non-empty `src_sha256` strings of the first rows of every input. An input that
/// cannot be read is left out here; the scan reports it.
pub fn first_hashes(inputs: &[InputFile]) -> Vec<String> {
    let mut hashes = Vec::new();
    for input in inputs.iter().filter(|i| i.is_present()) {
        if let Ok(text) = head_text(&input.path) {
            hashes.extend(content_hashes(&text));
        }
    }
    hashes
}

/// The first `SAMPLE_BYTES` of the input's text (decompressed when it is stored so).
fn head_text(path: &Path) -> io::Result<Vec<u8>> {
    // Read by the scan's own reader: bytes the page cache does not hold come straight
    // from the disk and stay out of it, so the scan still finds them out of it and reads
    // them so. (It also hashes the bytes it reads: a few tens of microseconds here.)
    let mut reader = ShardReader::open(path)?;
    let mut text = vec![0u8; SAMPLE_BYTES];
    let got = read_up_to(&mut reader, &mut text)?;
    text.truncate(got);
    Ok(text)
}

/// The non-empty `src_sha256` strings of the whole lines of `text` (a line cut off at
/// the end, or one that does not parse, is skipped).
fn content_hashes(text: &[u8]) -> Vec<String> {
    let whole = match text.iter().rposition(|&b| b == b'\n') {
        Some(end) => &text[..end],
        None => &[][..],
    };
    whole
        .split(|&b| b == b'\n')
        .filter_map(|line| serde_json::from_slice::<serde_json::Value>(line).ok())
        .filter_map(|row| match row.get("src_sha256") {
            Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn sha(i: u32) -> String {
        crate::sha::hex(&Sha256::digest(i.to_le_bytes()))
    }

    #[test]
    fn the_hashes_are_read_from_whole_lines_of_plain_and_compressed_shards() {
        let dir = tempfile::tempdir().expect("dir");
        let mut text = String::new();
        for i in 0..100 {
            text.push_str(&format!(
                "{{\"src\":\"c{i}.mp4\",\"src_sha256\":\"{}\",\"mos\":3.0}}\n",
                sha(i)
            ));
        }
        text.push_str("{\"src\":\"x.mp4\",\"src_sha256\":\"\"}\n{\"src\":\"y.mp4\"}\nnot json\n");
        let plain = dir.path().join("a.jsonl");
        std::fs::write(&plain, &text).expect("write");
        let zst = dir.path().join("a.jsonl.zst");
        std::fs::write(&zst, zstd::encode_all(text.as_bytes(), 3).expect("zstd")).expect("write");
        for path in [&plain, &zst] {
            let got = content_hashes(&head_text(path).expect("read"));
            assert_eq!(got.len(), 100, "{}", path.display());
            assert_eq!(got[7], sha(7));
        }
        // A line cut off by the sample's end is not read.
        assert_eq!(
            content_hashes(b"{\"src_sha256\":\"ab\"}\n{\"src_sha256\":\"cd\"}").len(),
            1
        );
    }
}
