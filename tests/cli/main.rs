//! Every end-to-end test, through the real binary, in one test executable: each
//! executable links all of DataFusion, so one instead of fourteen saves most of the
//! link time of `cargo test` on two cores. One module per command or concern.

mod common;

mod aggregate_dedup;
mod aggregate_errors;
mod aggregate_format;
mod aggregate_scale;
mod cold_inputs;
mod completions;
mod file_safety;
mod golden;
mod merge_cmd;
mod query_cmd;
mod run_cmd;
mod scales_cmd;
mod scales_file;
mod stats_cmd;
mod verify_cmd;
