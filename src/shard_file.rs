//! A shard as it is stored: plain JSON lines, or compressed with gzip (`.jsonl.gz`) or
//! zstd (`.jsonl.zst`). The format is told by the file's first bytes (its magic
//! number), not its name, so a misnamed file is still read right. Whatever the format,
//! the SHA-256 and the byte count are of the bytes as stored, which is what the
//! manifest records and `verify` re-hashes.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;
use sha2::{Digest, Sha256};

use crate::file_bytes::{FileBytes, ReadCounts};

/// How a shard's bytes are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    Plain,
    Gzip,
    Zstd,
}

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

impl Storage {
    /// Tells the storage from the first bytes of a file (at least four, if it has them).
    pub fn sniff(head: &[u8]) -> Self {
        if head.starts_with(ZSTD_MAGIC) {
            Storage::Zstd
        } else if head.starts_with(GZIP_MAGIC) {
            Storage::Gzip
        } else {
            Storage::Plain
        }
    }

    /// Tells the storage of the file at `path` from its first bytes.
    pub fn of_file(path: &Path) -> io::Result<Self> {
        let mut head = [0u8; 4];
        let got = read_up_to(&mut File::open(path)?, &mut head)?;
        Ok(Storage::sniff(&head[..got]))
    }
}

/// Reads until `buf` is full or the reader ends; returns the bytes read.
pub fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match reader.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Passes bytes through, hashing and counting them.
pub struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

impl Hashing<FileBytes> {
    /// Hashes whatever the reader above did not need (a gzip member's padding, say),
    /// so the digest always covers the whole file; then how its bytes were read.
    fn finish(mut self) -> io::Result<((String, u64), ReadCounts)> {
        io::copy(&mut self, &mut io::sink())?;
        let digest = (crate::sha::hex(&self.hasher.finalize()), self.bytes);
        Ok((digest, self.inner.counts()))
    }
}

/// The decoded text of a shard, read front to back once.
pub enum ShardReader {
    Plain(Hashing<FileBytes>),
    // Boxed: the decoder's state is large, and a reader is made once per file.
    Gzip(Box<MultiGzDecoder<Hashing<FileBytes>>>),
    Zstd(zstd::stream::read::Decoder<'static, BufReader<Hashing<FileBytes>>>),
}

impl ShardReader {
    pub fn open(path: &Path) -> io::Result<Self> {
        let storage = Storage::of_file(path)?;
        // Start again from byte 0, so the hash covers the magic number too.
        let file = FileBytes::open(path)?;
        let hashing = Hashing {
            inner: file,
            hasher: Sha256::new(),
            bytes: 0,
        };
        Ok(match storage {
            Storage::Plain => ShardReader::Plain(hashing),
            // Multi-member: `cat a.gz b.gz` is a valid gzip file of both.
            Storage::Gzip => ShardReader::Gzip(Box::new(MultiGzDecoder::new(hashing))),
            Storage::Zstd => ShardReader::Zstd(zstd::stream::read::Decoder::new(hashing)?),
        })
    }

    /// Stored bytes read so far (for progress against the file's size).
    pub fn stored_bytes(&self) -> u64 {
        match self {
            ShardReader::Plain(h) => h.bytes,
            ShardReader::Gzip(d) => d.get_ref().bytes,
            ShardReader::Zstd(d) => d.get_ref().get_ref().bytes,
        }
    }

    /// The sha256 (hex) and size of the file as stored; call after the text is read.
    pub fn finish(self) -> io::Result<(String, u64)> {
        self.finish_counted().map(|(digest, _)| digest)
    }

    /// As `finish`, with how the stored bytes were read (page cache or disk).
    pub fn finish_counted(self) -> io::Result<((String, u64), ReadCounts)> {
        match self {
            ShardReader::Plain(h) => h.finish(),
            ShardReader::Gzip(d) => d.into_inner().finish(),
            ShardReader::Zstd(d) => {
                let mut buffered = d.finish();
                // Bytes the BufReader holds were hashed when it read them; the rest are not.
                io::copy(&mut buffered, &mut io::sink())?;
                buffered.into_inner().finish()
            }
        }
    }
}

impl Read for ShardReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            ShardReader::Plain(r) => r.read(buf),
            ShardReader::Gzip(r) => r.read(buf),
            ShardReader::Zstd(r) => r.read(buf),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn read_all(path: &Path) -> (Vec<u8>, String, u64) {
        let mut r = ShardReader::open(path).expect("open");
        let mut text = Vec::new();
        r.read_to_end(&mut text).expect("read");
        let ((sha, bytes), counts) = r.finish_counted().expect("finish");
        // Every stored byte is counted as read one way or the other, the ones only
        // `finish` reads (a decoder's leftovers) too.
        assert_eq!(counts.cached + counts.direct, bytes, "{path:?}");
        (text, sha, bytes)
    }

    fn sha(bytes: &[u8]) -> String {
        crate::sha::hex(&Sha256::digest(bytes))
    }

    #[test]
    fn every_storage_reads_the_same_text_and_hashes_the_stored_bytes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = b"{\"a\": 1}\n{\"a\": 2}\n".repeat(1000);
        let plain = dir.path().join("s.jsonl");
        std::fs::write(&plain, &text).expect("write");

        let gz = dir.path().join("s.jsonl.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&text).expect("gz");
        let gz_bytes = enc.finish().expect("gz");
        std::fs::write(&gz, &gz_bytes).expect("write");

        let zst = dir.path().join("s.jsonl.zst");
        let zst_bytes = zstd::encode_all(&text[..], 3).expect("zstd");
        std::fs::write(&zst, &zst_bytes).expect("write");

        for (path, stored) in [(&plain, &text), (&gz, &gz_bytes), (&zst, &zst_bytes)] {
            let (read, digest, bytes) = read_all(path);
            assert_eq!(read, text, "{path:?}");
            assert_eq!(digest, sha(stored), "{path:?}");
            assert_eq!(bytes, stored.len() as u64, "{path:?}");
        }
    }

    #[test]
    fn storage_is_told_by_magic_number() {
        assert_eq!(Storage::sniff(b"{\"a\""), Storage::Plain);
        assert_eq!(Storage::sniff(&[0x1f, 0x8b, 8, 0]), Storage::Gzip);
        assert_eq!(Storage::sniff(&[0x28, 0xb5, 0x2f, 0xfd]), Storage::Zstd);
        assert_eq!(Storage::sniff(b""), Storage::Plain);
    }
}
