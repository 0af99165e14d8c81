//! Everything mosagg writes: the unified JSONL and Parquet, the manifest, the rejects
//! ledger, each staged beside its target and renamed into place only when all succeeded.

pub mod atomic;
pub mod jsonl;
pub mod manifest;
pub mod output_set;
pub mod parquet;
pub mod rejects;
pub mod sink;
pub mod unified;
pub mod unified_schema;
