//! One module per subcommand.

pub mod aggregate;
pub mod completions;
pub mod merge;
pub mod query;
pub mod run;
pub mod scales;
pub mod stats;
pub mod verify;
