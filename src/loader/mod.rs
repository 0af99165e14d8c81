//! Reading shards: the inputs on disk, the line parser's rows as Arrow batches,
//! the streaming scan DataFusion pulls them from, and the store that keeps each row's
//! descriptive fields out of the query.

pub mod batch;
pub mod fields;
pub mod inputs;
pub mod key_sample;
mod rare_text;
pub mod scan;
pub mod wide;
mod wide_record;

pub use inputs::{InputFile, InputState, InputStats};
