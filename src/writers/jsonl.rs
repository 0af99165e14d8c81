//! The unified JSONL: one `json.dumps(row, sort_keys=True)` line per kept row.

use std::io::Write;

use arrow::array::{Array, AsArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{Float64Type, Int64Type};

use super::atomic::AtomicOutput;
use crate::error::{Error, Result};
use crate::json::write::{write_float, write_int, write_str};

/// Writes kept rows; `aggregated_at_utc` is the run's single timestamp.
pub struct UnifiedJsonlWriter {
    out: AtomicOutput,
    aggregated_at: Vec<u8>,
    line: Vec<u8>,
    pub rows: u64,
}

/// The columns of one batch, looked up once.
struct Columns<'a> {
    corpus: &'a StringArray,
    corpus_source: &'a StringArray,
    corpus_version: &'a StringArray,
    duration_s: &'a Float64Array,
    encoder_upstream: &'a StringArray,
    framerate: &'a Float64Array,
    height: &'a Int64Array,
    ingested_at_utc: &'a StringArray,
    mos: &'a Float64Array,
    mos_native: &'a Float64Array,
    mos_native_scale: &'a StringArray,
    mos_std_dev: &'a Float64Array,
    n_ratings: &'a Int64Array,
    pix_fmt: &'a StringArray,
    src: &'a StringArray,
    src_sha256: &'a StringArray,
    width: &'a Int64Array,
}

fn col<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a dyn Array> {
    batch
        .column_by_name(name)
        .map(|c| c.as_ref())
        .ok_or_else(|| Error::Internal(format!("kept rows lack column {name}")))
}

impl<'a> Columns<'a> {
    fn of(b: &'a RecordBatch) -> Result<Self> {
        let s = |n| col(b, n).map(|c| c.as_string::<i32>());
        let f = |n| col(b, n).map(|c| c.as_primitive::<Float64Type>());
        let i = |n| col(b, n).map(|c| c.as_primitive::<Int64Type>());
        Ok(Self {
            corpus: s("corpus")?,
            corpus_source: s("corpus_source")?,
            corpus_version: s("corpus_version")?,
            duration_s: f("duration_s")?,
            encoder_upstream: s("encoder_upstream")?,
            framerate: f("framerate")?,
            height: i("height")?,
            ingested_at_utc: s("ingested_at_utc")?,
            mos: f("mos")?,
            mos_native: f("mos_native")?,
            mos_native_scale: s("mos_native_scale")?,
            mos_std_dev: f("mos_std_dev")?,
            n_ratings: i("n_ratings")?,
            pix_fmt: s("pix_fmt")?,
            src: s("src")?,
            src_sha256: s("src_sha256")?,
            width: i("width")?,
        })
    }
}

/// A float field; the reference would write a bare NaN/Infinity, which is not JSON.
fn write_float_or_null(out: &mut Vec<u8>, a: &Float64Array, i: usize) {
    if a.is_null(i) {
        out.extend_from_slice(b"null");
    } else {
        write_float(out, a.value(i));
    }
}

impl UnifiedJsonlWriter {
    pub fn new(out: AtomicOutput, aggregated_at: &str) -> Self {
        let mut ts = Vec::new();
        write_str(&mut ts, aggregated_at);
        Self {
            out,
            aggregated_at: ts,
            line: Vec::with_capacity(1024),
            rows: 0,
        }
    }

    /// Writes a batch already conformed to the unified schema.
    pub fn write_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        let c = Columns::of(batch)?;
        for i in 0..batch.num_rows() {
            let l = &mut self.line;
            l.clear();
            // Keys in sorted order, as sort_keys=True writes them.
            l.extend_from_slice(b"{\"aggregated_at_utc\": ");
            l.extend_from_slice(&self.aggregated_at);
            l.extend_from_slice(b", \"corpus\": ");
            write_str(l, c.corpus.value(i));
            l.extend_from_slice(b", \"corpus_source\": ");
            write_str(l, c.corpus_source.value(i));
            l.extend_from_slice(b", \"corpus_version\": ");
            write_str(l, c.corpus_version.value(i));
            l.extend_from_slice(b", \"duration_s\": ");
            write_float_or_null(l, c.duration_s, i);
            l.extend_from_slice(b", \"encoder_upstream\": ");
            write_str(l, c.encoder_upstream.value(i));
            l.extend_from_slice(b", \"framerate\": ");
            write_float_or_null(l, c.framerate, i);
            l.extend_from_slice(b", \"height\": ");
            write_int(l, c.height.value(i));
            l.extend_from_slice(b", \"ingested_at_utc\": ");
            write_str(l, c.ingested_at_utc.value(i));
            l.extend_from_slice(b", \"mos\": ");
            write_float(l, c.mos.value(i));
            l.extend_from_slice(b", \"mos_native\": ");
            write_float(l, c.mos_native.value(i));
            l.extend_from_slice(b", \"mos_native_scale\": ");
            write_str(l, c.mos_native_scale.value(i));
            l.extend_from_slice(b", \"mos_std_dev\": ");
            write_float_or_null(l, c.mos_std_dev, i);
            l.extend_from_slice(b", \"n_ratings\": ");
            write_int(l, c.n_ratings.value(i));
            l.extend_from_slice(b", \"pix_fmt\": ");
            write_str(l, c.pix_fmt.value(i));
            l.extend_from_slice(b", \"src\": ");
            write_str(l, c.src.value(i));
            l.extend_from_slice(b", \"src_sha256\": ");
            write_str(l, c.src_sha256.value(i));
            l.extend_from_slice(b", \"width\": ");
            write_int(l, c.width.value(i));
            l.extend_from_slice(b"}\n");
            self.out
                .write_all(l)
                .map_err(|e| Error::io(format!("writing {}", self.out.target().display()), e))?;
        }
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    pub fn finish(self) -> Result<super::atomic::Staged> {
        self.out.finish()
    }
}
