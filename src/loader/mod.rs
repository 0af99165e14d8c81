//! Reading shards: the inputs on disk, the line parser's rows as Arrow batches,
//! and the streaming scan DataFusion pulls them from.

pub mod batch;
pub mod fields;
pub mod inputs;
pub mod scan;

pub use inputs::{InputFile, InputState, InputStats};
