//! The run's accounting.

use serde::{Deserialize, Serialize};

/// The nine counters of CONTRACT §6, as the manifest and the summary line report them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    pub inputs_seen: u64,
    pub inputs_missing: u64,
    pub rows_in: u64,
    pub rows_out: u64,
    pub cross_corpus_dedups: u64,
    pub same_corpus_dups: u64,
    pub dropped_unknown_corpus: u64,
    pub dropped_bad_scale: u64,
    pub dropped_bad_value: u64,
}

impl Counters {
    /// Every row read is either written or counted under exactly one reason.
    pub fn reconciles(&self) -> bool {
        self.rows_in
            == self.rows_out
                + self.cross_corpus_dedups
                + self.same_corpus_dups
                + self.dropped_unknown_corpus
                + self.dropped_bad_scale
                + self.dropped_bad_value
    }

    /// The last line on stderr.
    pub fn summary_line(&self, output: &str) -> String {
        format!(
            "[mosagg] inputs_seen={} inputs_missing={} rows_in={} rows_out={} cross_corpus_dedups={} \
             same_corpus_dups={} dropped_unknown_corpus={} dropped_bad_scale={} dropped_bad_value={} -> {}",
            self.inputs_seen,
            self.inputs_missing,
            self.rows_in,
            self.rows_out,
            self.cross_corpus_dedups,
            self.same_corpus_dups,
            self.dropped_unknown_corpus,
            self.dropped_bad_scale,
            self.dropped_bad_value,
            output
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_catches_a_lost_row() {
        let mut c = Counters {
            rows_in: 10,
            rows_out: 6,
            cross_corpus_dedups: 2,
            dropped_bad_scale: 2,
            ..Counters::default()
        };
        assert!(c.reconciles());
        c.rows_out = 5;
        assert!(!c.reconciles());
    }
}
