//! The DataFusion session every command runs its SQL in.

use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::error::DataFusionError;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{FairSpillPool, GreedyMemoryPool, MemoryPool};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext};

use super::spill::SpillFolder;
use crate::error::{Error, Result};
use crate::paths::shown;

/// Memory the query engine may hold before sorts spill to disk, unless `--memory-limit` says otherwise.
pub const DEFAULT_MEMORY_LIMIT: usize = 1 << 30;

/// How a session may use the machine.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub memory_limit: usize,
    /// Where spill files go; the system temp folder when unset.
    pub spill_dir: Option<PathBuf>,
    pub partitions: usize,
    pub pool: PoolKind,
}

/// How the memory limit is shared among the operators of a query.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PoolKind {
    /// Every spilling operator gets an equal share, so one sort cannot starve the
    /// others of the memory they need to merge their spill files. (The aggregation's
    /// ranking workers do not share this pool: each has a first-come pool of its own,
    /// carved out of it; see engine/ranking.rs.)
    #[default]
    FairShare,
    /// First come, first served. For queries of hash aggregates only (`stats`): an
    /// exact quantile must hold a whole group's values at once, which a fair share
    /// split over every aggregate of every partition would refuse long before the
    /// limit is reached.
    FirstCome,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            memory_limit: DEFAULT_MEMORY_LIMIT,
            spill_dir: None,
            partitions: std::thread::available_parallelism().map_or(2, |n| n.get()),
            pool: PoolKind::FairShare,
        }
    }
}

impl EngineOptions {
    /// Puts an engine failure in the operator's terms: the flag that governs it, not the
    /// engine's internal setting names.
    pub fn explain(&self, e: Error) -> Error {
        let Error::Engine(df) = &e else {
            return e;
        };
        if let DataFusionError::ResourcesExhausted(detail) = df.find_root() {
            return Error::Resources(format!(
                "the query needs more memory than --memory-limit {} gives it ({detail}); \
                 raise --memory-limit",
                size_text(self.memory_limit)
            ));
        }
        // A full spill disk surfaces as an I/O error somewhere down the chain (often
        // wrapped by Arrow's IPC writer).
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(df);
        while let Some(c) = cause {
            if let Some(io) = c.downcast_ref::<std::io::Error>()
                && io.kind() == std::io::ErrorKind::StorageFull
            {
                return Error::Resources(format!(
                    "the disk holding the spill folder ({}) is full: {io}; \
                     free space there, or point --spill-dir at a larger disk",
                    self.spill_dir
                        .as_deref()
                        .map_or_else(|| shown(&std::env::temp_dir()), shown)
                ));
            }
            cause = c.source();
        }
        e
    }
}

/// `512M`, `1G`, or bytes: a size as `--memory-limit` takes it.
pub fn size_text(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{}G", b >> 30),
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{}M", b >> 20),
        b => b.to_string(),
    }
}

pub fn new_session(opts: &EngineOptions) -> Result<SessionContext> {
    // The session owns its spill folder (as a config extension), so the folder lives
    // exactly as long as the session and every sort that may spill into it.
    let spill = Arc::new(SpillFolder::create(opts.spill_dir.as_deref())?);
    let mode = DiskManagerMode::Directories(vec![spill.path().to_path_buf()]);
    let pool: Arc<dyn MemoryPool> = match opts.pool {
        PoolKind::FairShare => Arc::new(FairSpillPool::new(opts.memory_limit)),
        PoolKind::FirstCome => Arc::new(GreedyMemoryPool::new(opts.memory_limit)),
    };
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_pool(pool)
        .with_disk_manager_builder(DiskManagerBuilder::default().with_mode(mode))
        .build_arc()?;
    let config = SessionConfig::new()
        .with_target_partitions(opts.partitions.max(1))
        .with_batch_size(8192)
        .with_information_schema(true)
        .with_extension(spill);
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

/// `query` planned in a copy of `ctx`'s session whose batches hold `batch_size` rows;
/// `ctx` itself keeps its own size for every other query.
pub async fn planned_with_batch_size(
    ctx: &SessionContext,
    batch_size: usize,
    query: &str,
) -> Result<DataFrame> {
    let mut state = ctx.state();
    *state.config_mut() = state.config().clone().with_batch_size(batch_size);
    let plan = state.create_logical_plan(query).await?;
    Ok(DataFrame::new(state, plan))
}

/// Runs a statement and gathers its (small) result.
pub async fn collect_sql(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
    Ok(ctx.sql(sql).await?.collect().await?)
}
