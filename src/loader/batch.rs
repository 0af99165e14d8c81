//! One parsed shard line → one row of the `shards` table, validated and typed.

use std::borrow::Cow;
use std::sync::{Arc, LazyLock};

use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, RecordBatch, StringBuilder, UInt32Builder,
    UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use super::fields::{FieldError, float_field, int_field, mos_value, text_or_empty, text_raw};
use super::rare_text::RareText;
use super::wide::{WideError, WideRow, WideWriter};
use crate::json::parse::ParseError;
use crate::json::text::{py_repr, py_text};
use crate::json::{Record, Value, parse_record};

/// The `shards` table: lineage, the fields any decision needs, and what could not be
/// read. The descriptive fields of a row wait in the wide store (`row_ref` points there)
/// until the kept rows are written: the query's sorts move only these narrow columns.
pub static SHARDS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let utf8 = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        Field::new("input_idx", DataType::UInt32, false),
        Field::new("line", DataType::UInt64, false),
        // Where the row's descriptive fields are (see `loader::wide`).
        Field::new("row_ref", DataType::UInt64, false),
        // The operator's label for the row's input (`--corpus-source-override`), if any.
        // Each row carries it, rather than a join with the `inputs` table adding it: a
        // join copies every column of every row, a null costs a bit.
        utf8("override_label", true),
        // The row's own `corpus_source` when it is a non-empty string.
        utf8("row_corpus_source", true),
        // Python text of `corpus`; null when the row says null.
        utf8("row_corpus", true),
        Field::new("mos_native", DataType::Float64, true),
        // Why `mos` is not a number, when it is not.
        utf8("mos_problem", true),
        // The first optional field that could not be read, with why.
        utf8("bad_value", true),
        utf8("src_sha256", false),
        // Only a string hash identifies content; anything else falls back to the no-key namespace.
        Field::new("sha_is_key", DataType::Boolean, false),
        // `src`, only for rows without a content hash: their dedup key is built from it.
        utf8("src_if_no_key", true),
        Field::new("mos_std_dev", DataType::Float64, false),
    ]))
});

/// A line that stops the run: it is not a JSON object with the required keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    #[error("expected JSON object, got {0}")]
    NotAnObject(&'static str),
    #[error("missing required keys: [{}]", .0.iter().map(|k| format!("'{k}'")).collect::<Vec<_>>().join(", "))]
    MissingKeys(Vec<&'static str>),
}

/// Arrow builders for batches of the `shards` table, and the wide store's writer.
///
/// The rows can be split by the wide store's groups of keys, which are the buckets the
/// ranking splits them into (`key_bucket`): each batch then holds the rows of one bucket
/// (or, the last set, the rows without a content hash, whose bucket the query decides),
/// and goes to its bucket whole instead of being taken apart row by row.
pub struct ShardBatchBuilder {
    /// One set of columns per group of the wide store when split, else one for all.
    sets: Vec<Option<NarrowColumns>>,
    /// Rows each set is made with room for.
    capacity: usize,
    wide: WideWriter,
}

/// The columns of one batch of the `shards` table, as they fill.
struct NarrowColumns {
    input_idx: UInt32Builder,
    line: UInt64Builder,
    row_ref: UInt64Builder,
    override_label: RareText,
    row_corpus_source: StringBuilder,
    row_corpus: StringBuilder,
    mos_native: Float64Builder,
    mos_problem: RareText,
    bad_value: RareText,
    src_sha256: StringBuilder,
    sha_is_key: BooleanBuilder,
    src_if_no_key: RareText,
    mos_std_dev: Float64Builder,
    rows: usize,
}

/// Why a line could not be added to the batch.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error(transparent)]
    Row(#[from] RowError),
    #[error(transparent)]
    Wide(#[from] WideError),
}

/// Names the members of a row the loader reads, once: their slots in the parsed record
/// (`RowField`, `row_field_slot`) and the row's view by name (`RowFields`).
macro_rules! row_fields {
    ($($name:ident),+ $(,)?) => {
        /// The slot of each member the loader reads, in [`parse_row`]'s record.
        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone, Copy)]
        pub enum RowField {
            $($name),+
        }

        /// How many members of a row the loader reads.
        pub const ROW_FIELDS: usize = [$(RowField::$name),+].len();

        /// The slot of the member `key`, when the loader reads it.
        pub fn row_field_slot(key: &str) -> Option<usize> {
            match key {
                $(stringify!($name) => Some(RowField::$name as usize),)+
                _ => None,
            }
        }

        /// The fields of a row the loader reads, sorted into their slots by the parser
        /// (a repeated key keeps its last value, as in Python).
        struct RowFields<'v, 'a> {
            $($name: Option<&'v Value<'a>>,)+
        }

        impl<'v, 'a> RowFields<'v, 'a> {
            fn named(slots: &'v [Option<Value<'a>>; ROW_FIELDS]) -> Self {
                Self {
                    $($name: slots[RowField::$name as usize].as_ref(),)+
                }
            }
        }
    };
}

row_fields!(
    src,
    src_sha256,
    corpus,
    corpus_source,
    mos,
    width,
    height,
    framerate,
    duration_s,
    pix_fmt,
    encoder_upstream,
    mos_std_dev,
    n_ratings,
    corpus_version,
    ingested_at_utc,
);

/// Parses a shard line into the members the loader reads.
pub fn parse_row(line: &[u8]) -> Result<Record<'_, ROW_FIELDS>, ParseError> {
    parse_record(line, row_field_slot)
}

impl<'v, 'a> RowFields<'v, 'a> {
    /// Checks the hard rules (an object carrying every required key) and names the fields.
    fn of(row: &'v Record<'a, ROW_FIELDS>) -> Result<Self, RowError> {
        let slots = match row {
            Record::Object(slots) => slots,
            Record::Other(value) => return Err(RowError::NotAnObject(value.type_name())),
        };
        let f = Self::named(slots);
        // The keys a row must carry (present, even if null) or the whole run stops,
        // sorted, as the reference prints the missing ones.
        let required = [
            ("corpus", f.corpus),
            ("mos", f.mos),
            ("src", f.src),
            ("src_sha256", f.src_sha256),
        ];
        let missing: Vec<&'static str> = required
            .iter()
            .filter(|(_, v)| v.is_none())
            .map(|(k, _)| *k)
            .collect();
        if missing.is_empty() {
            Ok(f)
        } else {
            Err(RowError::MissingKeys(missing))
        }
    }
}

/// The optional fields, read in the reference's order so the first failure named is the one it would hit.
struct Optional<'v> {
    width: i64,
    height: i64,
    framerate: f64,
    duration_s: f64,
    pix_fmt: Cow<'v, str>,
    encoder_upstream: Cow<'v, str>,
    mos_std_dev: f64,
    n_ratings: i64,
    corpus_version: Cow<'v, str>,
    ingested_at_utc: Cow<'v, str>,
}

fn read_optional<'v>(row: &RowFields<'v, '_>) -> Result<Optional<'v>, String> {
    fn at<T>(name: &str, r: Result<T, FieldError>) -> Result<T, String> {
        r.map_err(|e| format!("field '{name}': {e}"))
    }
    Ok(Optional {
        width: at("width", int_field(row.width))?,
        height: at("height", int_field(row.height))?,
        framerate: at("framerate", float_field(row.framerate))?,
        duration_s: at("duration_s", float_field(row.duration_s))?,
        pix_fmt: at("pix_fmt", text_or_empty(row.pix_fmt))?,
        encoder_upstream: at("encoder_upstream", text_or_empty(row.encoder_upstream))?,
        mos_std_dev: at("mos_std_dev", float_field(row.mos_std_dev))?,
        n_ratings: at("n_ratings", int_field(row.n_ratings))?,
        corpus_version: at("corpus_version", text_or_empty(row.corpus_version))?,
        ingested_at_utc: at("ingested_at_utc", text_or_empty(row.ingested_at_utc))?,
    })
}

impl NarrowColumns {
    fn with_capacity(rows: usize) -> Self {
        // The two corpus columns: labels such as "konvid-150k" or "waterloo-ivc-4k".
        let s = || StringBuilder::with_capacity(rows, rows * 16);
        Self {
            input_idx: UInt32Builder::with_capacity(rows),
            line: UInt64Builder::with_capacity(rows),
            row_ref: UInt64Builder::with_capacity(rows),
            override_label: RareText::default(),
            row_corpus_source: s(),
            row_corpus: s(),
            mos_native: Float64Builder::with_capacity(rows),
            mos_problem: RareText::default(),
            bad_value: RareText::default(),
            src_sha256: StringBuilder::with_capacity(rows, rows * 64),
            sha_is_key: BooleanBuilder::with_capacity(rows),
            src_if_no_key: RareText::default(),
            mos_std_dev: Float64Builder::with_capacity(rows),
            rows: 0,
        }
    }

    /// Hands over the rows gathered.
    fn finish(mut self) -> Result<RecordBatch, arrow::error::ArrowError> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.input_idx.finish()),
            Arc::new(self.line.finish()),
            Arc::new(self.row_ref.finish()),
            self.override_label.finish(),
            Arc::new(self.row_corpus_source.finish()),
            Arc::new(self.row_corpus.finish()),
            Arc::new(self.mos_native.finish()),
            self.mos_problem.finish(),
            self.bad_value.finish(),
            Arc::new(self.src_sha256.finish()),
            Arc::new(self.sha_is_key.finish()),
            self.src_if_no_key.finish(),
            Arc::new(self.mos_std_dev.finish()),
        ];
        RecordBatch::try_new(SHARDS_SCHEMA.clone(), columns)
    }
}

impl ShardBatchBuilder {
    /// One batch of every row, with room for `rows`.
    pub fn with_capacity(rows: usize, wide: WideWriter) -> Self {
        Self {
            sets: vec![None],
            capacity: rows,
            wide,
        }
    }

    /// A batch per group of the wide store's keys (see above), each with room for `rows`.
    pub fn split_by_group(rows: usize, wide: WideWriter) -> Self {
        Self {
            sets: (0..wide.groups().max(1)).map(|_| None).collect(),
            capacity: rows,
            wide,
        }
    }

    /// Rows gathered in one set and not yet handed over.
    fn rows_in(&self, set: usize) -> usize {
        self.sets
            .get(set)
            .and_then(Option::as_ref)
            .map_or(0, |c| c.rows)
    }

    /// Whether one set holds as many rows as it was made with room for: a batch to hand over.
    pub fn is_full(&self, set: usize) -> bool {
        self.rows_in(set) >= self.capacity
    }

    /// Hands over the rows gathered in one set; the set starts empty.
    ///
    /// The set's columns are taken out, not finished in place: an arrow builder that
    /// hands over its array keeps no room, so the next batch's columns would grow from
    /// nothing by doubling, each doubling a reallocation and a copy (about 1 % of the
    /// 10M run's CPU). The set's next row makes columns with room for a whole batch.
    pub fn finish_set(&mut self, set: usize) -> Result<RecordBatch, arrow::error::ArrowError> {
        match self.sets.get_mut(set).and_then(Option::take) {
            Some(columns) => columns.finish(),
            None => Ok(RecordBatch::new_empty(SHARDS_SCHEMA.clone())),
        }
    }

    /// Hands over the rows of every set that holds any.
    pub fn finish_all(&mut self) -> Result<Vec<RecordBatch>, arrow::error::ArrowError> {
        self.sets
            .iter_mut()
            .filter(|c| c.as_ref().is_some_and(|c| c.rows > 0))
            .filter_map(Option::take)
            .map(NarrowColumns::finish)
            .collect()
    }

    /// Appends one validated row. Unreadable values do not fail here: they are recorded
    /// so the SQL can drop and count the row under the right reason.
    pub fn append(
        &mut self,
        input_idx: u32,
        override_label: Option<&str>,
        line: u64,
        row: &Record<'_, ROW_FIELDS>,
    ) -> Result<usize, AppendError> {
        let row = RowFields::of(row)?;

        let corpus_source = match row.corpus_source {
            Some(Value::Str(s)) if !s.is_empty() => Some(s.as_ref()),
            _ => None,
        };
        let corpus = row.corpus.unwrap_or(&Value::Null);
        let mut bad_value = None;
        let row_corpus = match corpus {
            Value::Null => None,
            other => match py_text(other) {
                Some(t) => Some(t),
                None => {
                    bad_value = Some(format!(
                        "field 'corpus': expected text, found a {}",
                        other.type_name()
                    ));
                    Some(Cow::Owned(py_repr(other)))
                }
            },
        };

        let src = text_raw(row.src);
        let sha = text_raw(row.src_sha256);
        let sha_is_key = matches!(row.src_sha256, Some(Value::Str(s)) if !s.is_empty());
        let (src, sha) = match (src, sha) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) => {
                bad_value.get_or_insert(format!("field 'src': {e}"));
                (Cow::Borrowed(""), Cow::Borrowed(""))
            }
            (_, Err(e)) => {
                bad_value.get_or_insert(format!("field 'src_sha256': {e}"));
                (Cow::Borrowed(""), Cow::Borrowed(""))
            }
        };

        let opt = match read_optional(&row) {
            Ok(o) => o,
            Err(why) => {
                bad_value.get_or_insert(why);
                Optional {
                    width: 0,
                    height: 0,
                    framerate: 0.0,
                    duration_s: 0.0,
                    pix_fmt: Cow::Borrowed(""),
                    encoder_upstream: Cow::Borrowed(""),
                    mos_std_dev: 0.0,
                    n_ratings: 0,
                    corpus_version: Cow::Borrowed(""),
                    ingested_at_utc: Cow::Borrowed(""),
                }
            }
        };
        // The dedup key of a row with a content hash (unified.sql): its bucket.
        let group = self.wide.group(sha_is_key.then_some(sha.as_bytes()));
        // The wide part first: the only step that can fail leaves the batch untouched.
        let row_ref = self.wide.append(
            &WideRow {
                src: Cow::Borrowed(src.as_ref()),
                width: opt.width,
                height: opt.height,
                framerate: opt.framerate,
                duration_s: opt.duration_s,
                pix_fmt: opt.pix_fmt,
                encoder_upstream: opt.encoder_upstream,
                n_ratings: opt.n_ratings,
                corpus_version: opt.corpus_version,
                ingested_at_utc: opt.ingested_at_utc,
            },
            group,
        )?;
        let set = if self.sets.len() > 1 {
            (group as usize).min(self.sets.len() - 1)
        } else {
            0
        };
        let capacity = self.capacity;
        let c = self.sets[set].get_or_insert_with(|| NarrowColumns::with_capacity(capacity));
        c.rows += 1;
        c.input_idx.append_value(input_idx);
        c.line.append_value(line);
        c.row_ref.append_value(row_ref);
        c.override_label.append_option(override_label);
        c.row_corpus_source.append_option(corpus_source);
        c.row_corpus.append_option(row_corpus);
        match mos_value(row.mos.unwrap_or(&Value::Null)) {
            Ok(v) => {
                c.mos_native.append_value(v);
                c.mos_problem.append_null();
            }
            Err(why) => {
                c.mos_native.append_null();
                c.mos_problem.append_value(why);
            }
        }
        c.bad_value.append_option(bad_value);
        c.src_sha256.append_value(sha);
        c.sha_is_key.append_value(sha_is_key);
        // Only rows without a content hash need `src` in the query, for their dedup key.
        c.src_if_no_key.append_option((!sha_is_key).then_some(src));
        c.mos_std_dev.append_value(opt.mos_std_dev);
        Ok(set)
    }

    /// Seals the wide store's last segment: every `row_ref` handed out is readable after.
    pub fn finish_wide(self) -> Result<(), WideError> {
        self.wide.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hard rules alone: an object carrying every required key.
    fn validate(row: &Record<'_, ROW_FIELDS>) -> Result<(), RowError> {
        RowFields::of(row).map(|_| ())
    }

    #[test]
    fn every_member_lands_in_its_own_field() {
        let names = [
            "src",
            "src_sha256",
            "corpus",
            "corpus_source",
            "mos",
            "width",
            "height",
            "framerate",
            "duration_s",
            "pix_fmt",
            "encoder_upstream",
            "mos_std_dev",
            "n_ratings",
            "corpus_version",
            "ingested_at_utc",
        ];
        // Each member's value is its own name, listed backwards among unread members.
        let members: Vec<String> = names
            .iter()
            .rev()
            .map(|n| format!(r#""{n}": "{n}", "x_{n}": [{{"{n}": 0}}]"#))
            .collect();
        let line = format!("{{{}}}", members.join(", "));
        let row = parse_row(line.as_bytes()).expect("json");
        let f = RowFields::of(&row).expect("fields");
        let found = [
            f.src,
            f.src_sha256,
            f.corpus,
            f.corpus_source,
            f.mos,
            f.width,
            f.height,
            f.framerate,
            f.duration_s,
            f.pix_fmt,
            f.encoder_upstream,
            f.mos_std_dev,
            f.n_ratings,
            f.corpus_version,
            f.ingested_at_utc,
        ];
        for (name, value) in names.iter().zip(found) {
            assert_eq!(value, Some(&Value::Str((*name).into())), "{name}");
        }
    }

    #[test]
    fn a_repeated_key_keeps_its_last_value() {
        let v = parse_row(
            br#"{"mos": 1, "src": "a", "src_sha256": "x", "mos": 2.5, "corpus": "lsvq", "src": "b"}"#,
        )
        .expect("json");
        let f = RowFields::of(&v).expect("fields");
        assert_eq!(f.mos, Some(&Value::Float(2.5)));
        assert_eq!(f.src, Some(&Value::Str("b".into())));
    }

    #[test]
    fn missing_keys_are_listed_sorted() {
        let v = parse_row(br#"{"src": "a", "mos": 3}"#).expect("json");
        assert_eq!(
            validate(&v).map_err(|e| e.to_string()),
            Err("missing required keys: ['corpus', 'src_sha256']".to_owned())
        );
    }

    #[test]
    fn null_counts_as_present() {
        let v = parse_row(br#"{"src": null, "src_sha256": null, "mos": null, "corpus": null}"#)
            .expect("json");
        assert_eq!(validate(&v), Ok(()));
    }

    #[test]
    fn non_objects_are_named_by_python_type() {
        let v = parse_row(b"[1, 2]").expect("json");
        assert_eq!(
            validate(&v).map_err(|e| e.to_string()),
            Err("expected JSON object, got list".to_owned())
        );
    }

    #[test]
    fn split_rows_go_to_the_set_of_their_bucket_and_rows_without_a_hash_to_the_last() {
        // Two groups of keys, by the hash's first byte; rows without a hash: group 2.
        let store = Arc::new(
            crate::loader::wide::WideStore::new(u64::MAX, std::env::temp_dir()).grouped(
                2,
                |key, groups| u64::from(key[0]) % groups,
                1 << 10,
            ),
        );
        let mut b = ShardBatchBuilder::split_by_group(2, WideWriter::new(store));
        let lines = [
            (
                1,
                r#"{"src": "a", "src_sha256": "b1", "mos": 3, "corpus": "lsvq"}"#,
                0,
            ),
            (
                2,
                r#"{"src": "b", "src_sha256": "a2", "mos": 3, "corpus": "lsvq"}"#,
                1,
            ),
            (
                3,
                r#"{"src": "c", "src_sha256": "", "mos": 3, "corpus": "lsvq"}"#,
                2,
            ),
            (
                4,
                r#"{"src": "d", "src_sha256": "b4", "mos": 3, "corpus": "lsvq"}"#,
                0,
            ),
            (
                5,
                r#"{"src": "e", "src_sha256": null, "mos": 3, "corpus": "lsvq"}"#,
                2,
            ),
        ];
        for (line, text, set) in lines {
            let v = parse_row(text.as_bytes()).expect("json");
            assert_eq!(
                b.append(0, None, line, &v).expect("append"),
                set,
                "line {line}"
            );
        }
        assert_eq!((b.rows_in(0), b.rows_in(1), b.rows_in(2)), (2, 1, 2));
        // Made with room for two rows each: the sets of two are ready to hand over.
        assert_eq!(
            (b.is_full(0), b.is_full(1), b.is_full(2)),
            (true, false, true)
        );
        let lines_of = |batch: &RecordBatch| -> Vec<u64> {
            let c = batch.column_by_name("line").expect("line");
            let c = c.as_any().downcast_ref::<arrow::array::UInt64Array>();
            c.expect("u64").values().to_vec()
        };
        assert_eq!(lines_of(&b.finish_set(0).expect("set 0")), [1, 4]);
        assert_eq!(b.rows_in(0), 0);
        assert!(!b.is_full(0));
        let rest: Vec<Vec<u64>> = b.finish_all().expect("rest").iter().map(lines_of).collect();
        assert_eq!(rest, [vec![2], vec![3, 5]]);
        assert!(b.finish_all().expect("none").is_empty());
    }

    #[test]
    fn unreadable_width_is_recorded_not_fatal() {
        let v = parse_row(
            br#"{"src": "a", "src_sha256": "x", "mos": 3, "corpus": "lsvq", "width": "wide"}"#,
        )
        .expect("json");
        let store = Arc::new(crate::loader::wide::WideStore::new(
            u64::MAX,
            std::env::temp_dir(),
        ));
        let mut b = ShardBatchBuilder::with_capacity(1, WideWriter::new(store));
        let set = b.append(0, None, 1, &v).expect("append");
        let batch = b.finish_set(set).expect("batch");
        let bad = batch
            .column_by_name("bad_value")
            .and_then(|c| c.as_any().downcast_ref::<arrow::array::StringArray>())
            .map(|a| a.value(0).to_owned());
        assert_eq!(
            bad.as_deref(),
            Some("field 'width': cannot read 'wide' as an integer")
        );
    }
}
