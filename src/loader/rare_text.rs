//! A text column that is null in almost every row, built without a step per null.
//!
//! Four of the scan's narrow columns (the override label, the reason a MOS is
//! unreadable, the reason a row is malformed, and `src` for rows without a content
//! hash) hold a value only in the odd row. Arrow's string builder still writes an
//! offset and a validity bit for every null: 40 million small steps at 10M rows. This
//! one counts the nulls until the first value arrives, and a column that never gets
//! one is made at the end as a null array in one go.

use std::sync::Arc;

use arrow::array::{ArrayRef, StringBuilder, new_null_array};
use arrow::datatypes::DataType;

#[derive(Debug, Default)]
pub struct RareText {
    /// Nulls appended while `values` is `None`; moved into it with the first value.
    leading_nulls: usize,
    /// Made at the first value, holding the leading nulls, then every row.
    values: Option<StringBuilder>,
}

impl RareText {
    pub fn append_option(&mut self, value: Option<impl AsRef<str>>) {
        match (value.as_ref().map(AsRef::as_ref), &mut self.values) {
            (None, None) => self.leading_nulls += 1,
            (None, Some(b)) => b.append_null(),
            (Some(v), Some(b)) => b.append_value(v),
            (Some(v), None) => {
                let mut b = StringBuilder::new();
                b.append_nulls(std::mem::take(&mut self.leading_nulls));
                b.append_value(v);
                self.values = Some(b);
            }
        }
    }

    pub fn append_null(&mut self) {
        self.append_option(None::<&str>);
    }

    pub fn append_value(&mut self, value: impl AsRef<str>) {
        self.append_option(Some(value));
    }

    /// The column so far (Utf8); the builder starts empty.
    pub fn finish(&mut self) -> ArrayRef {
        match self.values.take() {
            Some(mut b) => Arc::new(b.finish()),
            None => new_null_array(&DataType::Utf8, std::mem::take(&mut self.leading_nulls)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};

    #[test]
    fn only_nulls_make_a_null_column_of_that_length() {
        let mut t = RareText::default();
        for _ in 0..5 {
            t.append_null();
        }
        let a = t.finish();
        assert_eq!(a.data_type(), &DataType::Utf8);
        assert_eq!((a.len(), a.null_count()), (5, 5));
        // The builder starts over.
        assert_eq!(t.finish().len(), 0);
    }

    #[test]
    fn values_keep_their_rows_among_the_nulls() {
        let mut t = RareText::default();
        for v in [None, None, Some("x"), None, Some(""), Some("yz")] {
            t.append_option(v);
        }
        let a = t.finish();
        let s = a.as_string::<i32>();
        let got: Vec<Option<&str>> = s.iter().collect();
        assert_eq!(got, vec![None, None, Some("x"), None, Some(""), Some("yz")]);
        // After a batch with values, the next one starts with nulls counted again.
        t.append_null();
        let b = t.finish();
        assert_eq!((b.len(), b.null_count()), (1, 1));
    }
}
