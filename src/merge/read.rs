//! Reading encode-grid shards line by line: the first pass checks every row and
//! collects its natural key; the second hands back the rows that survived.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;

use crate::error::{Error, LoadError, Result};
use crate::json::{Value, parse_line};
use crate::loader::scan::for_each_line;
use crate::shard_file::ShardReader;

/// Bytes buffered per read; lines are cut from this buffer.
const READ_BUFFER: usize = 1 << 20;
/// Progress is reported after this many bytes, not after every line.
const TICK_BYTES: u64 = 1 << 18;

/// One `--inputs` entry that exists and opened.
#[derive(Debug, Clone)]
pub struct MergeInput {
    pub index: u32,
    pub display: String,
    pub path: PathBuf,
    pub bytes: u64,
}

/// Calls `f` with the number and text of every non-blank line of `input` (plain, gzip
/// or zstd), and `tick` now and then with the stored bytes read so far. Returns the
/// sha256 of the file as stored, so a second pass can prove it read the same bytes.
pub fn for_each_line_of(
    input: &MergeInput,
    mut tick: impl FnMut(u64),
    mut f: impl FnMut(u64, &[u8]) -> Result<()>,
) -> Result<String> {
    let io_err = |source| {
        Error::from(LoadError::Io {
            path: input.display.clone(),
            source,
        })
    };
    let shard = ShardReader::open(&input.path).map_err(io_err)?;
    let mut reader = BufReader::with_capacity(READ_BUFFER, shard);
    let mut line = Vec::with_capacity(4096);
    let mut line_no = 0u64;
    let mut ticked = 0u64;
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).map_err(io_err)?;
        if n == 0 {
            break;
        }
        line_no += 1;
        // The aggregate loader's line rules: BOM on line 1, CRLF, blank lines skipped.
        for_each_line(&line, line_no, &mut f)?;
        let stored = reader.get_ref().stored_bytes();
        if stored - ticked >= TICK_BYTES {
            tick(stored);
            ticked = stored;
        }
    }
    let (sha256, stored) = reader.into_inner().finish().map_err(io_err)?;
    tick(stored);
    Ok(sha256)
}

/// Parses one line; the error names the file and line.
pub fn parse<'a>(input: &MergeInput, line: u64, text: &'a [u8]) -> Result<Value<'a>> {
    parse_line(text).map_err(|e| {
        LoadError::InvalidJson {
            path: input.display.clone(),
            line,
            message: e.to_string(),
        }
        .into()
    })
}
