//! The DataFusion session every command runs its SQL in.

use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::error::Result;

/// Memory the query engine may hold before sorts spill to disk, unless `--memory-limit` says otherwise.
pub const DEFAULT_MEMORY_LIMIT: usize = 1 << 30;

/// How a session may use the machine.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub memory_limit: usize,
    /// Where spill files go; the system temp folder when unset.
    pub spill_dir: Option<PathBuf>,
    pub partitions: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            memory_limit: DEFAULT_MEMORY_LIMIT,
            spill_dir: None,
            partitions: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }
}

pub fn new_session(opts: &EngineOptions) -> Result<SessionContext> {
    let mode = match &opts.spill_dir {
        Some(dir) => DiskManagerMode::Directories(vec![dir.clone()]),
        None => DiskManagerMode::OsTmpDirectory,
    };
    let runtime = RuntimeEnvBuilder::new()
        // FairSpillPool shares the limit among the spilling operators (two windows and a sort).
        .with_memory_pool(Arc::new(FairSpillPool::new(opts.memory_limit)))
        .with_disk_manager_builder(DiskManagerBuilder::default().with_mode(mode))
        .build_arc()?;
    let config = SessionConfig::new()
        .with_target_partitions(opts.partitions.max(1))
        .with_batch_size(8192)
        .with_information_schema(true);
    Ok(SessionContext::new_with_config_rt(config, runtime))
}

/// Registers an in-memory table under `name`.
pub fn register_batches(
    ctx: &SessionContext,
    name: &str,
    schema: arrow::datatypes::SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<()> {
    let table = MemTable::try_new(schema, vec![batches])?;
    ctx.register_table(name, Arc::new(table))?;
    Ok(())
}

/// Runs a statement and gathers its (small) result.
pub async fn collect_sql(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
    Ok(ctx.sql(sql).await?.collect().await?)
}
