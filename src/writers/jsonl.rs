//! The unified JSONL: one `json.dumps(row, sort_keys=True)` line per kept row.
//!
//! The line is driven by the unified schema: its columns in sorted key order, each key's
//! bytes (`, "name": `) prepared once, each value written by its Arrow type. A column
//! added to the schema is written without touching this file.

use std::io::Write;

use arrow::array::{Array, AsArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Float64Type, Int64Type};

use super::atomic::AtomicOutput;
use super::unified_schema::UNIFIED_SCHEMA;
use crate::error::{Error, Result};
use crate::json::float_memo::FloatMemo;
use crate::json::write::{write_int, write_str};
use crate::paths::shown;

/// Rows ahead whose float texts are asked of memory while a line is written: a line
/// takes about as long as a miss to memory.
const MEMO_AHEAD: usize = 4;

/// Bytes of lines gathered before they go to the file in one write: one copy of a large
/// run of bytes rather than a call and a copy per line.
const CHUNK: usize = 128 << 10;

/// One key of the line: its position in the schema, type, and the text before its value.
struct Key {
    index: usize,
    kind: DataType,
    prefix: Prefix,
    /// For a float column, the texts of its recent values (made at its first batch).
    memo: Option<FloatMemo>,
}

/// The text before a value (`{"name": ` for the first key, `, "name": ` after), padded
/// to a fixed length: written as a copy of that fixed length and cut back, which the
/// compiler turns into two moves where a copy of any length is a call.
struct Prefix {
    padded: [u8; PREFIX_ROOM],
    len: usize,
}

const PREFIX_ROOM: usize = 32;

impl Prefix {
    fn new(text: &[u8]) -> Option<Self> {
        let mut padded = [b' '; PREFIX_ROOM];
        padded.get_mut(..text.len())?.copy_from_slice(text);
        Some(Self {
            padded,
            len: text.len(),
        })
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.padded);
        out.truncate(out.len() - (PREFIX_ROOM - self.len));
    }
}

/// Writes kept rows already conformed to the unified schema.
pub struct UnifiedJsonlWriter {
    out: AtomicOutput,
    keys: Vec<Key>,
    /// Lines not yet written to `out`.
    chunk: Vec<u8>,
    pub rows: u64,
}

/// One column of a batch, typed once per batch.
enum Column<'a> {
    Text(&'a StringArray),
    Float(&'a Float64Array, &'a mut FloatMemo),
    Int(&'a Int64Array),
}

impl UnifiedJsonlWriter {
    pub fn new(out: AtomicOutput) -> Result<Self> {
        let schema = UNIFIED_SCHEMA.clone();
        // sort_keys=True: byte order of the (ASCII) names.
        let mut fields: Vec<(usize, &arrow::datatypes::Field)> = schema
            .fields()
            .iter()
            .map(|f| f.as_ref())
            .enumerate()
            .collect();
        fields.sort_by(|a, b| a.1.name().cmp(b.1.name()));
        let keys = fields
            .into_iter()
            .enumerate()
            .map(|(n, (index, f))| {
                let mut text = if n == 0 {
                    b"{".to_vec()
                } else {
                    b", ".to_vec()
                };
                write_str(&mut text, f.name());
                text.extend_from_slice(b": ");
                let prefix = Prefix::new(&text).ok_or_else(|| {
                    Error::Internal(format!("the column name {} is too long", f.name()))
                })?;
                Ok(Key {
                    index,
                    kind: f.data_type().clone(),
                    prefix,
                    memo: None,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            out,
            keys,
            chunk: Vec::with_capacity(CHUNK + (16 << 10)),
            rows: 0,
        })
    }

    /// Writes a batch already conformed to the unified schema.
    pub fn write_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        let mut columns = columns(&mut self.keys, batch)?;
        for i in 0..batch.num_rows() {
            for (_, col) in &columns {
                if let Column::Float(a, memo) = col
                    && i + MEMO_AHEAD < a.len()
                {
                    memo.prefetch(a.value(i + MEMO_AHEAD));
                }
            }
            let l = &mut self.chunk;
            for (prefix, col) in &mut columns {
                prefix.write(l);
                match col {
                    Column::Text(a) => write_str(l, a.value(i)),
                    // Non-finite values arrive as null: the reference would write a
                    // bare NaN/Infinity, which is not JSON.
                    Column::Float(a, _) if a.is_null(i) => l.extend_from_slice(b"null"),
                    Column::Float(a, memo) => memo.write(l, a.value(i)),
                    Column::Int(a) => write_int(l, a.value(i)),
                }
            }
            l.extend_from_slice(b"}\n");
            if l.len() >= CHUNK {
                write_chunk(&mut self.out, l)?;
            }
        }
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    pub fn finish(mut self) -> Result<super::atomic::Staged> {
        write_chunk(&mut self.out, &mut self.chunk)?;
        self.out.finish()
    }
}

/// Writes the lines gathered in `chunk` to `out`, and empties it.
fn write_chunk(out: &mut AtomicOutput, chunk: &mut Vec<u8>) -> Result<()> {
    out.write_all(chunk)
        .map_err(|e| Error::io(format!("writing {}", shown(out.target())), e))?;
    chunk.clear();
    Ok(())
}

/// Each key's text and column in `batch`, typed once per batch.
fn columns<'a>(
    keys: &'a mut [Key],
    batch: &'a RecordBatch,
) -> Result<Vec<(&'a Prefix, Column<'a>)>> {
    keys.iter_mut()
        .map(|k| {
            let col = batch
                .columns()
                .get(k.index)
                .ok_or_else(|| Error::Internal(format!("kept rows lack column {}", k.index)))?;
            let column = match k.kind {
                DataType::Utf8 => Column::Text(col.as_string::<i32>()),
                DataType::Float64 => Column::Float(
                    col.as_primitive::<Float64Type>(),
                    k.memo.get_or_insert_with(FloatMemo::default),
                ),
                DataType::Int64 => Column::Int(col.as_primitive::<Int64Type>()),
                ref other => {
                    return Err(Error::Internal(format!(
                        "the unified schema has a {other} column the JSONL writer cannot write"
                    )));
                }
            };
            Ok((&k.prefix, column))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writers::parquet::tests::rows;

    fn written(path: &std::path::Path, batches: &[RecordBatch]) -> Vec<u8> {
        let out = AtomicOutput::create(path).expect("create");
        let w = UnifiedJsonlWriter::new(out).expect("writer");
        crate::writers::unified::written_through(w, path, batches)
    }

    #[test]
    fn lines_gathered_past_a_chunk_come_out_whole_and_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let all = rows(3_000);
        let whole = written(&dir.path().join("whole.jsonl"), std::slice::from_ref(&all));
        // Several chunks' worth of lines, in batches that end anywhere in a chunk.
        assert!(whole.len() > 4 * CHUNK, "{}", whole.len());
        let pieces: Vec<RecordBatch> = [(0, 1), (1, 1_000), (1_001, 1_999)]
            .iter()
            .map(|&(at, len)| all.slice(at, len))
            .collect();
        assert_eq!(written(&dir.path().join("pieces.jsonl"), &pieces), whole);
        let text = String::from_utf8(whole).expect("utf8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3_000);
        let mut names: Vec<String> = UNIFIED_SCHEMA
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        names.sort();
        for (i, line) in lines.iter().enumerate() {
            let row: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            assert_eq!(row.as_object().map(|o| o.len()), Some(names.len()));
            // Every key once, in sorted order, each value the row's own.
            let at: Vec<usize> = names
                .iter()
                .map(|n| line.find(&format!("\"{n}\": ")).expect("key"))
                .collect();
            assert!(at.windows(2).all(|w| w[0] < w[1]), "{line}");
            assert!(
                line.starts_with(r#"{"aggregated_at_utc": "aggregated_at_utc-"#),
                "{line}"
            );
            assert_eq!(row["width"], serde_json::json!(i as i64 % 977), "row {i}");
        }
    }
}
