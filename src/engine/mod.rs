//! The query engine: a DataFusion session, the SQL that does the work, and the
//! aggregation pipeline that ties the scan, the SQL and the result together.

pub mod aggregate;
pub mod bucket_rows;
pub mod bucketing;
pub mod key_bucket;
pub mod range_runs;
pub mod ranking;
pub mod results;
pub mod runtime;
pub mod session;
pub mod sort_prefix;
pub mod spill;
pub mod spool;
pub mod tables;
pub mod text_udf;

pub use runtime::runtime;
pub use session::{EngineOptions, PoolKind, new_session};
pub use tables::register_path;

/// The SQL, kept as files a data person can read and embedded at build time.
pub mod sql {
    pub const UNIFIED: &str = include_str!("../../sql/unified.sql");
    pub const BUCKETED: &str = include_str!("../../sql/bucketed.sql");
    pub const DEDUP_ORDER: &str = include_str!("../../sql/dedup_order.sql");
    pub const FATES: &str = include_str!("../../sql/fates.sql");
    pub const FATES_BY_RANK: &str = include_str!("../../sql/fates_by_rank.sql");
    pub const FATES_BY_TEXT: &str = include_str!("../../sql/fates_by_text.sql");
    pub const OUTPUT_ORDER: &str = include_str!("../../sql/output_order.sql");
    pub const COUNTERS: &str = include_str!("../../sql/counters.sql");
    pub const REJECTS: &str = include_str!("../../sql/rejects.sql");
}
