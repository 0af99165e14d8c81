//! JSON reading and writing with CPython `json` module semantics, so records parse and re-serialise
//! exactly as the reference Python tool handles them.

pub mod float_memo;
pub mod parse;
pub mod text;
pub mod word;
pub mod write;

pub use parse::{Record, Value, parse_line, parse_record};
