//! A JSON-lines file (a shard, a training set, a rejects ledger; plain, gzip or zstd)
//! as a query table, read by mosagg's own Python-compatible parser: `NaN`,
//! `Infinity`, a BOM, CRLF endings and blank lines are fine, as they are for
//! `aggregate`, and a bad line is reported as `PATH:LINE`.
//!
//! The file is read twice: once when the table is registered, to learn its columns
//! (every row counts, so a column that is an integer in one row and a float in another
//! is a float) and to stop on a bad line before any SQL runs; then again, streamed in
//! batches, each time a query scans it. Memory stays at one batch, however large the file.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::json::reader::{Decoder, ReaderBuilder, infer_json_schema_from_iterator};
use datafusion::catalog::streaming::StreamingTable;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::error::{Error, LoadError, Result};
use crate::json::{Value, parse_line};
use crate::loader::scan::for_each_line;
use crate::paths::shown;
use crate::shard_file::ShardReader;
use crate::writers::unified_schema::UNIFIED_SCHEMA;

/// Rows per batch handed to the query.
const BATCH_ROWS: usize = 8192;

/// Builds the table for `path`, reading it once to learn its schema.
pub fn table(path: &Path) -> Result<StreamingTable> {
    let shard = Arc::new(JsonLinesFile {
        path: path.to_path_buf(),
        schema: Arc::new(Schema::empty()),
    });
    let inferred = shard.infer_schema()?;
    let shard = Arc::new(JsonLinesFile {
        path: path.to_path_buf(),
        schema: Arc::new(inferred),
    });
    Ok(StreamingTable::try_new(
        Arc::clone(&shard.schema),
        vec![shard],
    )?)
}

#[derive(Debug)]
struct JsonLinesFile {
    path: PathBuf,
    schema: SchemaRef,
}

/// Reads a file's rows front to back, one parsed object at a time.
struct Rows {
    display: String,
    reader: BufReader<ShardReader>,
    line: Vec<u8>,
    line_no: u64,
}

impl Rows {
    fn open(path: &Path) -> Result<Self> {
        let display = shown(path);
        let shard = ShardReader::open(path).map_err(|source| LoadError::Io {
            path: display.clone(),
            source,
        })?;
        Ok(Self {
            display,
            reader: BufReader::with_capacity(1 << 20, shard),
            line: Vec::with_capacity(4096),
            line_no: 0,
        })
    }

    /// Calls `f` with the next non-blank row and its line number; false at the end.
    fn next(&mut self, mut f: impl FnMut(u64, &Value<'_>) -> Result<()>) -> Result<bool> {
        loop {
            self.line.clear();
            let n = self
                .reader
                .read_until(b'\n', &mut self.line)
                .map_err(|source| LoadError::Io {
                    path: self.display.clone(),
                    source,
                })?;
            if n == 0 {
                return Ok(false);
            }
            self.line_no += 1;
            let mut seen = false;
            let display = &self.display;
            // The aggregate loader's line rules: BOM on line 1, CRLF, blank lines skipped.
            for_each_line(&self.line, self.line_no, |line, text| {
                let value = parse_line(text).map_err(|e| LoadError::InvalidJson {
                    path: display.clone(),
                    line,
                    message: e.to_string(),
                })?;
                if !matches!(value, Value::Object(_)) {
                    return Err(Error::from(LoadError::BadValue {
                        path: display.clone(),
                        line,
                        problem: format!(
                            "a JSON {} is not a row (expected an object)",
                            value.type_name()
                        ),
                    }));
                }
                seen = true;
                f(line, &value)
            })?;
            if seen {
                return Ok(true);
            }
        }
    }
}

impl JsonLinesFile {
    /// Every row's columns and types, merged over all rows.
    fn infer_schema(&self) -> Result<Schema> {
        let mut rows = Rows::open(&self.path)?;
        let mut failure = None;
        let values = std::iter::from_fn(|| {
            let mut out = None;
            match rows.next(|_, v| {
                // serde_json has no NaN; for inferring the type a finite stand-in does.
                out = Some(
                    serde_json::to_value(Finite(v)).map_err(|e| Error::Internal(e.to_string()))?,
                );
                Ok(())
            }) {
                Ok(true) => out.map(Ok),
                Ok(false) => None,
                Err(e) => {
                    failure = Some(e);
                    None
                }
            }
        });
        let inferred = infer_json_schema_from_iterator(values);
        if let Some(e) = failure {
            return Err(e);
        }
        let inferred = inferred.map_err(|e| {
            Error::Load(LoadError::Io {
                path: shown(&self.path),
                source: std::io::Error::other(e),
            })
        })?;
        Ok(settle_null_columns(&inferred))
    }

    /// One scan: batches decoded as the lines are read.
    fn scan(&self) -> Result<Batches> {
        let decoder = ReaderBuilder::new(Arc::clone(&self.schema))
            .with_batch_size(BATCH_ROWS)
            // A number in a text column is read as its text, as inference merged them.
            .with_coerce_primitive(true)
            .build_decoder()?;
        Ok(Batches {
            rows: Rows::open(&self.path)?,
            decoder,
            done: false,
        })
    }
}

/// The batches of one scan, read lazily: one batch in memory at a time.
struct Batches {
    rows: Rows,
    decoder: Decoder,
    done: bool,
}

impl Batches {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        let mut pending = 0;
        while pending < BATCH_ROWS {
            let decoder = &mut self.decoder;
            let display = &self.rows.display.clone();
            let more = self.rows.next(|line, v| {
                decoder.serialize(&[Python(v)]).map_err(|e| {
                    Error::from(LoadError::BadValue {
                        path: display.clone(),
                        line,
                        problem: e.to_string(),
                    })
                })
            })?;
            if !more {
                self.done = true;
                break;
            }
            pending += 1;
        }
        Ok(self.decoder.flush()?)
    }
}

impl Iterator for Batches {
    type Item = datafusion::error::Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_batch() {
            Ok(Some(batch)) => Some(Ok(batch)),
            Ok(None) => None,
            Err(e) => {
                self.done = true;
                Some(Err(datafusion::error::DataFusionError::External(Box::new(
                    e,
                ))))
            }
        }
    }
}

impl PartitionStream for JsonLinesFile {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let batches: Box<dyn Iterator<Item = _> + Send> = match self.scan() {
            Ok(b) => Box::new(b),
            Err(e) => Box::new(std::iter::once(Err(
                datafusion::error::DataFusionError::External(Box::new(e)),
            ))),
        };
        Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            futures::stream::iter(batches),
        ))
    }
}

/// A column that is `null` in every row has no type of its own: a unified training
/// set's column (`mos_std_dev` of an all-NaN run, say) gets its declared type, any
/// other is read as text.
fn settle_null_columns(inferred: &Schema) -> Schema {
    let fields: Vec<Field> = inferred
        .fields()
        .iter()
        .map(|f| {
            if *f.data_type() != DataType::Null {
                return f.as_ref().clone();
            }
            let t = UNIFIED_SCHEMA
                .field_with_name(f.name())
                .map_or(DataType::Utf8, |u| u.data_type().clone());
            Field::new(f.name(), t, true)
        })
        .collect();
    Schema::new(fields)
}

/// A parsed value as serde sees it: integers as integers where they fit, NaN kept.
struct Python<'a, 'v>(&'a Value<'v>);

/// The same, with non-finite floats as 0.0 (for schema inference only).
struct Finite<'a, 'v>(&'a Value<'v>);

fn serialize_value<S: Serializer>(v: &Value<'_>, finite: bool, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Value::Null => s.serialize_unit(),
        Value::Bool(b) => s.serialize_bool(*b),
        Value::Int(text) => {
            if let Ok(i) = text.parse::<i64>() {
                s.serialize_i64(i)
            } else if let Ok(u) = text.parse::<u64>() {
                s.serialize_u64(u)
            } else {
                // Beyond 64 bits: as Python's float(int) would be.
                s.serialize_f64(text.parse::<f64>().unwrap_or(f64::NAN))
            }
        }
        Value::Float(f) if finite && !f.is_finite() => s.serialize_f64(0.0),
        Value::Float(f) => s.serialize_f64(*f),
        Value::Str(t) => s.serialize_str(t),
        Value::Array(items) => {
            let mut seq = s.serialize_seq(Some(items.len()))?;
            for item in items {
                if finite {
                    seq.serialize_element(&Finite(item))?;
                } else {
                    seq.serialize_element(&Python(item))?;
                }
            }
            seq.end()
        }
        Value::Object(members) => {
            let mut map = s.serialize_map(Some(members.len()))?;
            for (k, item) in members {
                if finite {
                    map.serialize_entry(k.as_ref(), &Finite(item))?;
                } else {
                    map.serialize_entry(k.as_ref(), &Python(item))?;
                }
            }
            map.end()
        }
    }
}

impl Serialize for Python<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_value(self.0, false, s)
    }
}

impl Serialize for Finite<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_value(self.0, true, s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_columns_get_a_usable_type() {
        let inferred = Schema::new(vec![
            Field::new("mos_std_dev", DataType::Null, true),
            Field::new("extra", DataType::Null, true),
            Field::new("mos", DataType::Float64, true),
        ]);
        let s = settle_null_columns(&inferred);
        assert_eq!(s.field(0).data_type(), &DataType::Float64);
        assert_eq!(s.field(1).data_type(), &DataType::Utf8);
        assert_eq!(s.field(2).data_type(), &DataType::Float64);
    }
}
