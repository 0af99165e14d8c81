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

/// One key of the line: its position in the schema, type, and the text before its value.
struct Key {
    index: usize,
    kind: DataType,
    prefix: Vec<u8>,
    /// For a float column, the texts of its recent values (made at its first batch).
    memo: Option<FloatMemo>,
}

/// Writes kept rows already conformed to the unified schema.
pub struct UnifiedJsonlWriter {
    out: AtomicOutput,
    keys: Vec<Key>,
    line: Vec<u8>,
    pub rows: u64,
}

/// One column of a batch, typed once per batch.
enum Column<'a> {
    Text(&'a StringArray),
    Float(&'a Float64Array, &'a mut FloatMemo),
    Int(&'a Int64Array),
}

impl UnifiedJsonlWriter {
    pub fn new(out: AtomicOutput) -> Self {
        let schema = UNIFIED_SCHEMA.clone();
        let mut keys: Vec<Key> = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(index, f)| {
                let mut prefix = Vec::new();
                write_str(&mut prefix, f.name());
                prefix.extend_from_slice(b": ");
                Key {
                    index,
                    kind: f.data_type().clone(),
                    prefix,
                    memo: None,
                }
            })
            .collect();
        // sort_keys=True: byte order of the (ASCII) names.
        keys.sort_by(|a, b| {
            schema
                .field(a.index)
                .name()
                .cmp(schema.field(b.index).name())
        });
        Self {
            out,
            keys,
            line: Vec::with_capacity(1024),
            rows: 0,
        }
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
            let l = &mut self.line;
            l.clear();
            for (n, (prefix, col)) in columns.iter_mut().enumerate() {
                l.extend_from_slice(if n == 0 { b"{" } else { b", " });
                l.extend_from_slice(prefix);
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
            self.out
                .write_all(l)
                .map_err(|e| Error::io(format!("writing {}", shown(self.out.target())), e))?;
        }
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    pub fn finish(self) -> Result<super::atomic::Staged> {
        self.out.finish()
    }
}

/// Each key's text and column in `batch`, typed once per batch.
fn columns<'a>(keys: &'a mut [Key], batch: &'a RecordBatch) -> Result<Vec<(&'a [u8], Column<'a>)>> {
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
            Ok((k.prefix.as_slice(), column))
        })
        .collect()
}
