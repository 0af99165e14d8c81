//! Result batches on stdout as a terminal table, CSV, a JSON array or JSON lines.
//!
//! The machine formats stream batch by batch, so `mosagg query … --format ndjson`
//! over a whole training set never holds it in memory. The terminal table must measure
//! every cell before drawing, so it collects the rows it shows, and only those when
//! given a row limit: the rest are counted as they stream past, never kept.

use std::collections::VecDeque;
use std::io::{self, Write};

use std::sync::Arc;

use arrow::array::{
    Array, ArrayAccessor, ArrayRef, AsArray, Int64Array, RecordBatch, StringArray, StringViewArray,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float32Type, Float64Type, Int64Type, SchemaRef};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use comfy_table::{CellAlignment, ContentArrangement, Table, presets};
use futures::{Stream, StreamExt};

use crate::error::{Error, Result};

/// How result rows are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A table drawn for the terminal, wrapped to its width.
    #[default]
    Table,
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON array of row objects.
    Json,
    /// One JSON object per line.
    Ndjson,
}

/// How floats appear in the terminal table (machine formats always carry every digit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FloatStyle {
    /// Shortest text that reads back as the same f64, as Python's `repr` prints it.
    #[default]
    RoundTrip,
    /// Fixed decimals, for summaries meant to be read rather than re-parsed.
    Fixed(usize),
}

/// Writes batches in one format; call `finish` once after the last batch.
pub struct Renderer<W: Write> {
    format: Format,
    float_style: FloatStyle,
    out: W,
    schema: SchemaRef,
    /// Rows so far (for the JSON array's separators, and the table's footer).
    rows: u64,
    /// The terminal table's cells, drawn at `finish`.
    table_rows: Vec<Vec<String>>,
    /// The most rows the terminal table keeps and draws; None draws every row.
    max_table_rows: Option<usize>,
    /// Each column's name as a JSON string.
    json_names: Arc<Vec<String>>,
    /// Whether what comes before the rows (`open`) is written.
    opened: bool,
}

impl<W: Write> Renderer<W> {
    pub fn new(format: Format, float_style: FloatStyle, schema: SchemaRef, out: W) -> Self {
        Self {
            format,
            float_style,
            out,
            rows: 0,
            table_rows: Vec::new(),
            max_table_rows: None,
            json_names: Arc::new(
                schema
                    .fields()
                    .iter()
                    .map(|f| json_string(f.name()))
                    .collect(),
            ),
            schema,
            opened: false,
        }
    }

    /// Draws at most `max` rows in the terminal table (the first ones), and says below it
    /// how many there were in all. Other formats are unaffected.
    pub fn with_max_table_rows(mut self, max: Option<usize>) -> Self {
        self.max_table_rows = max;
        self
    }

    /// Writes what comes before the rows (the CSV header, the JSON array's `[`), once:
    /// with the first rows, or at `finish` for a result without any. A query that fails
    /// before its first row (a sort out of memory) so prints nothing at all, rather than a
    /// header with nothing under it.
    fn open(&mut self) -> Result<()> {
        if self.opened {
            return Ok(());
        }
        self.opened = true;
        match self.format {
            Format::Csv => {
                let header: Vec<String> = self
                    .schema
                    .fields()
                    .iter()
                    .map(|f| csv_field(f.name()))
                    .collect();
                writeln!(self.out, "{}", header.join(",")).map_err(write_err)
            }
            Format::Json => write!(self.out, "[").map_err(write_err),
            Format::Table | Format::Ndjson => Ok(()),
        }
    }

    pub fn push(&mut self, batch: &RecordBatch) -> Result<()> {
        match self.format {
            Format::Table => {
                // Only the rows the table still has room for become text; the rest are
                // counted for the footer.
                let room = self
                    .max_table_rows
                    .map_or(usize::MAX, |max| max.saturating_sub(self.table_rows.len()));
                let shown = batch.num_rows().min(room);
                if shown > 0 {
                    let columns = text_columns(&batch.slice(0, shown))?;
                    let cells = CellText::new(&columns, self.float_style, "NULL")?;
                    for row in 0..shown {
                        self.table_rows.push(cells.row(row)?);
                    }
                }
                self.rows += batch.num_rows() as u64;
            }
            Format::Csv | Format::Json | Format::Ndjson => {
                let text = self.batch_text().of(batch, self.rows == 0)?;
                self.push_text(&text, batch.num_rows())?;
            }
        }
        Ok(())
    }

    /// Writes every batch of `batches`, in order. In the machine formats each batch is
    /// turned into text on the blocking pool, a few at once, so the text of a whole
    /// training set is made on every core (the writing alone was one core, the
    /// bottleneck of `query --format csv` on ten million rows).
    pub async fn push_stream<S>(&mut self, mut batches: S) -> Result<()>
    where
        S: Stream<Item = Result<RecordBatch>> + Unpin,
    {
        if self.format == Format::Table {
            while let Some(batch) = batches.next().await {
                self.push(&batch?)?;
            }
            return Ok(());
        }
        let mut pending = VecDeque::new();
        let mut rows = self.rows;
        while let Some(batch) = batches.next().await {
            let batch = batch?;
            let (text, first, n) = (self.batch_text(), rows == 0, batch.num_rows());
            rows += n as u64;
            pending.push_back((
                n,
                tokio::task::spawn_blocking(move || text.of(&batch, first)),
            ));
            if pending.len() >= BATCHES_IN_FLIGHT {
                self.write_next(&mut pending).await?;
            }
        }
        while !pending.is_empty() {
            self.write_next(&mut pending).await?;
        }
        Ok(())
    }

    /// Waits for the oldest batch's text and writes it.
    async fn write_next(&mut self, pending: &mut VecDeque<(usize, Formatting)>) -> Result<()> {
        if let Some((rows, job)) = pending.pop_front() {
            let text = job
                .await
                .map_err(|e| Error::Internal(format!("formatting rows failed: {e}")))??;
            self.push_text(&text, rows)?;
        }
        Ok(())
    }

    /// What turns a batch into this renderer's text (a machine format's).
    fn batch_text(&self) -> BatchText {
        BatchText {
            format: self.format,
            names: Arc::clone(&self.json_names),
        }
    }

    fn push_text(&mut self, text: &[u8], rows: usize) -> Result<()> {
        self.open()?;
        self.out.write_all(text).map_err(write_err)?;
        self.rows += rows as u64;
        Ok(())
    }

    pub fn finish(mut self) -> Result<()> {
        self.open()?;
        match self.format {
            Format::Table => {
                let header: Vec<String> = self
                    .schema
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect();
                let right: Vec<bool> = self
                    .schema
                    .fields()
                    .iter()
                    .map(|f| f.data_type().is_numeric())
                    .collect();
                let shown = self.table_rows.len() as u64;
                let drawn = draw_table(header, &right, std::mem::take(&mut self.table_rows));
                writeln!(self.out, "{drawn}").map_err(write_err)?;
                if self.rows > shown {
                    writeln!(
                        self.out,
                        "{} rows; the first {} shown (--max-rows sets how many; --format csv prints every row)",
                        indicatif::HumanCount(self.rows),
                        indicatif::HumanCount(shown)
                    )
                    .map_err(write_err)?;
                }
            }
            Format::Json => {
                let close = if self.rows == 0 { "]" } else { "\n]" };
                writeln!(self.out, "{close}").map_err(write_err)?;
            }
            Format::Csv | Format::Ndjson => {}
        }
        self.out.flush().map_err(write_err)
    }
}

/// Batches a machine format turns into text at once, on as many threads.
const BATCHES_IN_FLIGHT: usize = 4;

/// A batch's text being made on the blocking pool.
type Formatting = tokio::task::JoinHandle<Result<Vec<u8>>>;

/// Turns one batch into the text of a machine format (CSV, JSON, JSON lines), on any
/// thread: each batch's text depends only on the batch and on whether its first row is
/// the first of the output.
#[derive(Clone)]
struct BatchText {
    format: Format,
    /// Each column's name as a JSON string.
    names: Arc<Vec<String>>,
}

impl BatchText {
    fn of(&self, batch: &RecordBatch, first_of_output: bool) -> Result<Vec<u8>> {
        let columns = text_columns(batch)?;
        let mut text = Vec::new();
        // One cell buffer for the whole batch: a text per cell and a list per row cost
        // more than the formatting (2M rows of 18 columns).
        let mut cell = Vec::new();
        if self.format == Format::Csv {
            let cells = CellText::new(&columns, FloatStyle::RoundTrip, "")?;
            for row in 0..batch.num_rows() {
                for col in 0..columns.len() {
                    if col > 0 {
                        text.push(b',');
                    }
                    // Written in place, and quoted after the fact in the rare field
                    // that needs it: a copy of every field through a buffer was a
                    // tenth of the time.
                    let start = text.len();
                    cells.write(col, row, &mut text)?;
                    if cells.may_need_quotes(col) && needs_csv_quotes(&text[start..]) {
                        cell.clear();
                        cell.extend_from_slice(&text[start..]);
                        text.truncate(start);
                        quoted_csv_field_into(&mut text, &cell);
                    }
                }
                text.push(b'\n');
            }
            return Ok(text);
        }
        let cells = CellText::new(&columns, FloatStyle::RoundTrip, "null")?;
        let nested: Vec<bool> = batch
            .columns()
            .iter()
            .map(|c| c.data_type().is_nested())
            .collect();
        for row in 0..batch.num_rows() {
            if self.format == Format::Json {
                let first = first_of_output && row == 0;
                text.extend_from_slice(if first { b"\n  " } else { b",\n  " });
            }
            text.push(b'{');
            for (i, col) in columns.iter().enumerate() {
                if i > 0 {
                    text.extend_from_slice(b", ");
                }
                text.extend_from_slice(self.names[i].as_bytes());
                text.extend_from_slice(b": ");
                if nested[i] && !col.is_null(row) {
                    // Already JSON text: written as it is.
                    text.extend_from_slice(col.as_string::<i32>().value(row).as_bytes());
                } else {
                    json_value(&mut text, col, row, &cells, i, &mut cell)?;
                }
            }
            text.push(b'}');
            if self.format == Format::Ndjson {
                text.push(b'\n');
            }
        }
        Ok(text)
    }
}

/// A comfy-table with one header row, fitted to the terminal when there is one.
/// `right` marks the columns to right-align: numbers, so digits of equal weight line up.
pub fn draw_table(header: Vec<String>, right: &[bool], rows: Vec<Vec<String>>) -> String {
    let mut table = Table::new();
    table
        .load_style(presets::UTF8_FULL_CONDENSED)
        // Dynamic wraps cells to the terminal's width; piped output is not wrapped.
        .set_content_arrangement(ContentArrangement::Dynamic);
    table.set_header(header);
    for row in rows {
        table.add_row(row);
    }
    for (c, _) in right.iter().enumerate().filter(|(_, r)| **r) {
        if let Some(col) = table.column_mut(c) {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
    table.to_string()
}

/// For commands that print to stdout and flush themselves.
pub fn print_text(text: &str) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("writing to stdout", e))
}

/// A closed pipe (`mosagg query … | head`) is the reader saying "enough", not a failure.
pub fn is_broken_pipe(e: &Error) -> bool {
    matches!(e, Error::Io { source, .. } if source.kind() == io::ErrorKind::BrokenPipe)
}

fn write_err(e: io::Error) -> Error {
    Error::io("writing results to stdout", e)
}

/// Columns with the rarer string flavours (large, dictionary) turned into plain Utf8, so
/// the cell code below handles two string types, Utf8 and the views a Parquet file is
/// read as (cast, a copy of every text: 3 % of `query --format csv`); nested values
/// (lists, structs, maps) become their JSON text, which the JSON formats then write as
/// JSON, not as a string.
fn text_columns(batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
    batch
        .columns()
        .iter()
        .map(|c| {
            if c.data_type().is_nested() {
                return nested_as_json(c);
            }
            let stringy = match c.data_type() {
                DataType::LargeUtf8 => true,
                DataType::Dictionary(_, v) => matches!(
                    v.as_ref(),
                    DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
                ),
                _ => false,
            };
            Ok(if stringy {
                cast(c, &DataType::Utf8)?
            } else {
                c.clone()
            })
        })
        .collect()
}

/// Each value of a nested column as JSON text, by arrow's JSON writer (null stays null).
fn nested_as_json(col: &ArrayRef) -> Result<ArrayRef> {
    let one = RecordBatch::try_from_iter([("v", Arc::clone(col))])?;
    let mut writer = arrow::json::LineDelimitedWriter::new(Vec::new());
    writer.write(&one)?;
    writer.finish()?;
    let text = writer.into_inner();
    let values: Vec<Option<String>> = text
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|line| {
            let row: serde_json::Value =
                serde_json::from_slice(line).map_err(|e| Error::Internal(e.to_string()))?;
            // The writer leaves a null value's key out.
            Ok(row.get("v").map(serde_json::Value::to_string))
        })
        .collect::<Result<_>>()?;
    Ok(Arc::new(StringArray::from(values)))
}

/// The text of every cell of one batch, column by column.
struct CellText<'a> {
    columns: Vec<ColumnText<'a>>,
    null: &'static str,
}

enum ColumnText<'a> {
    Float(Vec<Option<f64>>, FloatStyle),
    /// Texts and integers are written as they are, without the formatter's machinery
    /// (a third of the time of a CSV of a training set).
    Text(&'a StringArray),
    View(&'a StringViewArray),
    Int(&'a Int64Array),
    Other(&'a dyn Array, ArrayFormatter<'a>),
}

impl<'a> CellText<'a> {
    fn new(columns: &'a [ArrayRef], style: FloatStyle, null: &'static str) -> Result<Self> {
        let columns = columns
            .iter()
            .map(|c| -> Result<ColumnText<'a>> {
                Ok(match c.data_type() {
                    DataType::Float64 => {
                        ColumnText::Float(c.as_primitive::<Float64Type>().iter().collect(), style)
                    }
                    DataType::Float32 => ColumnText::Float(
                        c.as_primitive::<Float32Type>()
                            .iter()
                            .map(|v| v.map(f64::from))
                            .collect(),
                        style,
                    ),
                    DataType::Utf8 => ColumnText::Text(c.as_string::<i32>()),
                    DataType::Utf8View => ColumnText::View(c.as_string_view()),
                    DataType::Int64 => ColumnText::Int(c.as_primitive::<Int64Type>()),
                    _ => ColumnText::Other(
                        c.as_ref(),
                        ArrayFormatter::try_new(c.as_ref(), &FormatOptions::default())?,
                    ),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { columns, null })
    }

    /// Whether a cell of the column can hold a byte that needs quotes in CSV: numbers
    /// never do.
    fn may_need_quotes(&self, col: usize) -> bool {
        !matches!(
            self.columns[col],
            ColumnText::Float(..) | ColumnText::Int(_)
        )
    }

    /// Appends the text of one cell to `out` (nothing for NULL); false for NULL.
    fn write(&self, col: usize, row: usize, out: &mut Vec<u8>) -> Result<bool> {
        match &self.columns[col] {
            ColumnText::Float(v, style) => match v[row] {
                Some(f) => {
                    match style {
                        FloatStyle::Fixed(digits) if f.is_finite() => {
                            write!(out, "{f:.digits$}").map_err(write_err)?;
                        }
                        _ => crate::json::text::write_py_float_str(out, f),
                    }
                    Ok(true)
                }
                None => Ok(false),
            },
            ColumnText::Text(texts) => Ok(copy_text(out, *texts, row)),
            ColumnText::View(texts) => Ok(copy_text(out, *texts, row)),
            ColumnText::Int(ints) => {
                if ints.is_null(row) {
                    return Ok(false);
                }
                crate::json::write::write_int(out, ints.value(row));
                Ok(true)
            }
            ColumnText::Other(array, fmt) => {
                if array.is_null(row) {
                    return Ok(false);
                }
                write!(out, "{}", fmt.value(row)).map_err(write_err)?;
                Ok(true)
            }
        }
    }

    /// The text of one cell, or None for NULL.
    fn cell(&self, col: usize, row: usize) -> Result<Option<String>> {
        let mut text = Vec::new();
        if !self.write(col, row, &mut text)? {
            return Ok(None);
        }
        String::from_utf8(text)
            .map(Some)
            .map_err(|e| Error::Internal(format!("a cell's text is not UTF-8: {e}")))
    }

    fn row(&self, row: usize) -> Result<Vec<String>> {
        (0..self.columns.len())
            .map(|c| Ok(self.cell(c, row)?.unwrap_or_else(|| self.null.to_owned())))
            .collect()
    }
}

/// Appends a text cell as it is; false for NULL.
fn copy_text<'t>(out: &mut Vec<u8>, texts: impl ArrayAccessor<Item = &'t str>, row: usize) -> bool {
    if texts.is_null(row) {
        return false;
    }
    out.extend_from_slice(texts.value(row).as_bytes());
    true
}

/// One JSON value appended to `out`: numbers and booleans as themselves, text quoted,
/// non-finite floats and nulls as `null` (a bare NaN is not JSON), anything nested as its
/// display text. `cell` is scratch space, kept across calls. The common columns are
/// read through `cells`, typed once a batch, not through the array's type a cell.
fn json_value(
    out: &mut Vec<u8>,
    col: &ArrayRef,
    row: usize,
    cells: &CellText<'_>,
    idx: usize,
    cell: &mut Vec<u8>,
) -> Result<()> {
    let json = |e: serde_json::Error| Error::Internal(format!("writing a JSON value: {e}"));
    let text = |out: &mut Vec<u8>, s: &str| serde_json::to_writer(out, s).map_err(json);
    match &cells.columns[idx] {
        ColumnText::Float(values, _) => match values[row].and_then(serde_json::Number::from_f64) {
            Some(n) => serde_json::to_writer(&mut *out, &n).map_err(json)?,
            None => out.extend_from_slice(b"null"),
        },
        ColumnText::Text(texts) if texts.is_valid(row) => text(out, texts.value(row))?,
        ColumnText::View(texts) if texts.is_valid(row) => text(out, texts.value(row))?,
        ColumnText::Int(ints) if ints.is_valid(row) => {
            crate::json::write::write_int(out, ints.value(row))
        }
        ColumnText::Text(_) | ColumnText::View(_) | ColumnText::Int(_) => {
            out.extend_from_slice(b"null")
        }
        ColumnText::Other(..) if col.is_null(row) => out.extend_from_slice(b"null"),
        ColumnText::Other(..) => match col.data_type() {
            DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
            | DataType::Boolean => {
                cells.write(idx, row, out)?;
            }
            _ => {
                cell.clear();
                cells.write(idx, row, cell)?;
                text(out, &String::from_utf8_lossy(cell))?;
            }
        },
    }
    Ok(())
}

fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// RFC 4180: quote a field holding a comma, quote, or line break; double inner quotes.
fn csv_field(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len());
    csv_field_into(&mut out, s.as_bytes());
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether a CSV field holds a byte that needs quotes. Inline, sixteen bytes a step:
/// most fields are a few bytes to a 64-character hash, where two `memchr` calls a field
/// cost more in setting up than in scanning (a tenth of `query --format csv`).
fn needs_csv_quotes(field: &[u8]) -> bool {
    crate::json::word::any_flagged(field, b' ', crate::json::word::csv_specials)
}

/// [`csv_field`] appended to `out`.
fn csv_field_into(out: &mut Vec<u8>, field: &[u8]) {
    if needs_csv_quotes(field) {
        quoted_csv_field_into(out, field);
    } else {
        out.extend_from_slice(field);
    }
}

/// `field` in quotes, its quotes doubled, appended to `out`.
fn quoted_csv_field_into(out: &mut Vec<u8>, field: &[u8]) {
    out.push(b'"');
    for &b in field {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Float64Array, Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};

    use super::*;

    fn batch() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("name", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
            Field::new("mos", DataType::Float64, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec![Some("a,\"b\""), None])),
                Arc::new(Int64Array::from(vec![Some(3), None])),
                Arc::new(Float64Array::from(vec![Some(75.0), Some(f64::NAN)])),
            ],
        )
        .expect("batch")
    }

    /// `batches` (at least one) written one by one in `format`, as text.
    fn pushed(format: Format, style: FloatStyle, batches: &[RecordBatch]) -> String {
        let mut out = Vec::new();
        let mut r = Renderer::new(format, style, batches[0].schema(), &mut out);
        for b in batches {
            r.push(b).expect("push");
        }
        r.finish().expect("finish");
        String::from_utf8(out).expect("utf8")
    }

    fn render(format: Format) -> String {
        pushed(format, FloatStyle::RoundTrip, &[batch()])
    }

    #[test]
    fn csv_quotes_and_leaves_nulls_empty() {
        assert_eq!(
            render(Format::Csv),
            "name,n,mos\n\"a,\"\"b\"\"\",3,75.0\n,,nan\n"
        );
    }

    /// Every length up to three words, with each byte that needs quotes (and a few that
    /// do not) at every place: in the eight-byte words and in the tail after them.
    #[test]
    fn a_field_is_quoted_exactly_when_it_holds_a_special_byte() {
        for len in 0..24 {
            assert!(!needs_csv_quotes(&vec![b'a'; len]), "{len}");
            for at in 0..len {
                for byte in [b',', b'"', b'\n', b'\r', b';', b'\t', b'\'', 0x80, 0x2b] {
                    let mut field = vec![b'x'; len];
                    field[at] = byte;
                    let special = matches!(byte, b',' | b'"' | b'\n' | b'\r');
                    assert_eq!(needs_csv_quotes(&field), special, "{len} {at} {byte:#x}");
                }
            }
        }
    }

    #[test]
    fn json_keeps_column_order_and_turns_nan_into_null() {
        let text = render(Format::Json);
        let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(v[0]["name"], "a,\"b\"");
        assert_eq!(v[0]["n"], 3);
        assert_eq!(v[0]["mos"], 75.0);
        assert!(v[1]["mos"].is_null() && v[1]["n"].is_null());
        assert!(text.find("\"name\"") < text.find("\"mos\""));
    }

    #[test]
    fn ndjson_is_one_object_per_line() {
        let text = render(Format::Ndjson);
        assert_eq!(text.lines().count(), 2);
        for line in text.lines() {
            serde_json::from_str::<serde_json::Value>(line).expect("each line is JSON");
        }
    }

    /// One row of awkward cells in every format but the table, as text.
    fn render_awkward(format: Format, style: FloatStyle) -> String {
        use arrow::array::{BooleanArray, StringViewArray};
        let schema = Arc::new(Schema::new(vec![
            Field::new("text", DataType::Utf8, true),
            Field::new("view", DataType::Utf8View, true),
            Field::new("int", DataType::Int64, true),
            Field::new("flag", DataType::Boolean, true),
            Field::new("x", DataType::Float64, true),
        ]));
        let b = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(StringArray::from(vec!["cr\rhere", "plain"])),
                Arc::new(StringViewArray::from(vec![
                    "é \"q\"\u{1}\nline",
                    "a view longer than twelve bytes",
                ])),
                Arc::new(Int64Array::from(vec![i64::MIN, 0])),
                Arc::new(BooleanArray::from(vec![Some(true), None])),
                Arc::new(Float64Array::from(vec![1e-5, f64::INFINITY])),
            ],
        )
        .expect("batch");
        pushed(format, style, &[b])
    }

    #[test]
    fn csv_quotes_every_field_that_needs_it_and_writes_numbers_exactly() {
        assert_eq!(
            render_awkward(Format::Csv, FloatStyle::RoundTrip),
            "text,view,int,flag,x\n\
             \"cr\rhere\",\"é \"\"q\"\"\u{1}\nline\",-9223372036854775808,true,1e-05\n\
             plain,a view longer than twelve bytes,0,,inf\n"
        );
    }

    #[test]
    fn json_lines_escape_texts_and_keep_every_value() {
        let text = render_awkward(Format::Ndjson, FloatStyle::RoundTrip);
        let rows: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is JSON"))
            .collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["text"], "cr\rhere");
        assert_eq!(rows[0]["view"], "é \"q\"\u{1}\nline");
        assert_eq!(rows[0]["int"], i64::MIN);
        assert_eq!(rows[0]["flag"], true);
        assert_eq!(rows[0]["x"], 1e-5);
        assert!(rows[1]["flag"].is_null() && rows[1]["x"].is_null());
        assert_eq!(rows[1]["view"], "a view longer than twelve bytes");
    }

    #[test]
    fn the_table_rounds_finite_floats_only() {
        let b = render_awkward(Format::Table, FloatStyle::Fixed(3));
        assert!(b.contains("0.000") && b.contains("inf"), "{b}");
    }

    /// Many batches (an empty one first) through the formatting threads give the bytes
    /// that writing them one by one gives, in every format.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batches_formatted_at_once_are_written_in_order() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("i", DataType::Int64, false),
            Field::new("x", DataType::Float64, true),
            Field::new("s", DataType::Utf8, true),
        ]));
        let batch = |from: i64, n: i64| {
            RecordBatch::try_new(
                Arc::clone(&schema),
                vec![
                    Arc::new(Int64Array::from_iter_values(from..from + n)),
                    Arc::new(Float64Array::from_iter_values(
                        (from..from + n).map(|i| i as f64 / 8.0),
                    )),
                    Arc::new(StringArray::from_iter_values(
                        (from..from + n).map(|i| format!("row, {i}")),
                    )),
                ],
            )
            .expect("batch")
        };
        let batches: Vec<RecordBatch> = std::iter::once(batch(0, 0))
            .chain((0..23).map(|b| batch(b * 97, 97)))
            .collect();
        for format in [Format::Csv, Format::Json, Format::Ndjson, Format::Table] {
            let one_by_one = pushed(format, FloatStyle::RoundTrip, &batches);
            let at_once = {
                let mut out = Vec::new();
                let mut r =
                    Renderer::new(format, FloatStyle::RoundTrip, Arc::clone(&schema), &mut out);
                r.push_stream(futures::stream::iter(batches.iter().cloned().map(Ok)))
                    .await
                    .expect("push");
                r.finish().expect("finish");
                String::from_utf8(out).expect("utf8")
            };
            assert_eq!(one_by_one, at_once, "{format:?}");
            let text = at_once;
            assert!(text.contains("row, 2230"), "{format:?}");
            if format == Format::Json {
                let rows: serde_json::Value = serde_json::from_str(&text).expect("JSON");
                let i: Vec<i64> = rows
                    .as_array()
                    .expect("array")
                    .iter()
                    .map(|r| r["i"].as_i64().expect("i"))
                    .collect();
                assert_eq!(i, (0..23 * 97).collect::<Vec<_>>());
            }
        }
    }

    #[test]
    fn empty_json_result_is_an_empty_array() {
        let b = batch();
        let mut out = Vec::new();
        let r = Renderer::new(Format::Json, FloatStyle::RoundTrip, b.schema(), &mut out);
        r.finish().expect("finish");
        assert_eq!(String::from_utf8(out).expect("utf8"), "[]\n");
    }

    /// A result whose first batch is an error (a sort out of memory) prints nothing: not
    /// the CSV header, not the JSON array's `[`. Without rows, finishing prints them.
    #[tokio::test]
    async fn nothing_is_printed_before_the_first_row() {
        for (format, empty) in [
            (Format::Csv, "name,n,mos\n"),
            (Format::Json, "[]\n"),
            (Format::Ndjson, ""),
        ] {
            let mut out = Vec::new();
            let mut r = Renderer::new(format, FloatStyle::RoundTrip, batch().schema(), &mut out);
            let failed = futures::stream::iter([Err(Error::Internal("out of memory".into()))]);
            assert!(r.push_stream(failed).await.is_err());
            drop(r);
            assert!(
                out.is_empty(),
                "{format:?}: {}",
                String::from_utf8_lossy(&out)
            );

            let mut out = Vec::new();
            let r = Renderer::new(format, FloatStyle::RoundTrip, batch().schema(), &mut out);
            r.finish().expect("finish");
            assert_eq!(String::from_utf8(out).expect("utf8"), empty, "{format:?}");
        }
    }
}
