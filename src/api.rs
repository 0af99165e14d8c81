//! The library's front door for programs that embed mosagg (the Python binding): each
//! function does the work of one command, with the same rules and code path, and hands
//! back data (counters, Arrow batches, the scale table) instead of printing it.
//!
//! Every long call takes a [`Cancel`]: when it fires, the call stops at its next
//! checkpoint with [`Error::Cancelled`] and leaves nothing behind (see `cleanup`).

use std::ffi::OsString;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{Schema, SchemaRef};

use crate::args::{CommonArgs, EngineArgs, LockArgs, TableArgs, parse_size};
use crate::cleanup::Cancel;
use crate::cmd::{query, scales as scales_cmd, stats};
use crate::counters::Counters;
use crate::engine::{EngineOptions, new_session};
use crate::error::{Error, Result};
use crate::job::{Job, run_job_until};
use crate::logger::Level;
use crate::scales::ScaleTable;
use crate::writers::unified_schema::UNIFIED_SCHEMA;

/// Where the scale table comes from: the built-in one, or the built-in one with the
/// entries of a `--scales` file (or the same JSON document, given as text) laid over it.
#[derive(Debug, Clone, Default)]
pub enum Scales {
    #[default]
    Builtin,
    File(PathBuf),
    Json(String),
}

/// The table in force for `scales`.
pub fn scale_table(scales: &Scales) -> Result<ScaleTable> {
    match scales {
        Scales::Builtin => crate::scales_file::table_in_force(None),
        Scales::File(path) => crate::scales_file::table_in_force(Some(path)),
        Scales::Json(text) => {
            let mut table = crate::scales::builtin();
            table.extend(
                crate::scales_file::parse(text, "(given as a dict)")
                    .map_err(|problem| Error::Usage(format!("scales: {problem}")))?,
            );
            Ok(table)
        }
    }
}

/// The table in force, as `mosagg scales --format json` prints it: one object keyed by label.
pub fn scales_json(scales: &Scales) -> Result<String> {
    scales_cmd::render(&scale_table(scales)?, scales_cmd::ScalesFormat::Json)
}

/// `memory_limit` as `--memory-limit` takes it (`512M`, `2G`, bytes; at least 1M).
pub fn memory_limit(text: &str) -> Result<usize> {
    parse_size(text).map_err(|e| Error::Usage(format!("memory_limit: {e}")))
}

/// One `mosagg aggregate`, in the terms of its flags.
#[derive(Debug, Clone, Default)]
pub struct AggregateRequest {
    pub inputs: Vec<PathBuf>,
    pub output: PathBuf,
    /// `--corpus-source-override PATH=LABEL`, as pairs.
    pub overrides: Vec<(PathBuf, String)>,
    pub aggregated_at: Option<String>,
    pub parquet: Option<PathBuf>,
    pub manifest_out: Option<PathBuf>,
    pub rejects: Option<PathBuf>,
    pub scales: Scales,
    /// Bytes; `None` for the CLI's default.
    pub memory_limit: Option<usize>,
    pub spill_dir: Option<PathBuf>,
    pub wait: bool,
    /// What the manifest records as the command that made the set.
    pub argv: Vec<String>,
}

impl AggregateRequest {
    /// The flags this request stands for, as the CLI would have parsed them.
    fn common_args(&self) -> Result<CommonArgs> {
        let overrides = self
            .overrides
            .iter()
            .map(|(path, label)| {
                // The CLI splits PATH=LABEL at the last `=`; a label holding one could not
                // round-trip, and no known label does.
                if label.contains('=') {
                    return Err(Error::Usage(format!(
                        "unknown corpus-source label {label:?}: labels never contain '='"
                    )));
                }
                let mut entry = OsString::from(path.as_os_str());
                entry.push("=");
                entry.push(label);
                Ok(entry)
            })
            .collect::<Result<Vec<_>>>()?;
        let scales = match &self.scales {
            Scales::File(path) => Some(path.clone()),
            Scales::Builtin | Scales::Json(_) => None,
        };
        Ok(CommonArgs {
            overrides,
            manifest_out: self.manifest_out.clone(),
            parquet: self.parquet.clone(),
            rejects: self.rejects.clone(),
            aggregated_at: self.aggregated_at.clone(),
            engine: engine_args(self.memory_limit, self.spill_dir.clone()),
            lock: LockArgs { wait: self.wait },
            // Levels are the embedder's business (e.g. Python's logging); the job reads none.
            log_level: Level::default(),
            scales,
        })
    }
}

/// Aggregates and commits the output set, exactly as `mosagg aggregate` does.
pub fn aggregate(request: &AggregateRequest, cancel: &Cancel) -> Result<Counters> {
    let common = request.common_args()?;
    let scales = scale_table(&request.scales)?;
    run_job_until(
        Job {
            inputs: request.inputs.clone(),
            output: request.output.clone(),
            common: &common,
            scales,
            argv: request.argv.clone(),
        },
        cancel,
    )
}

/// The counters by name, sorted by name.
pub fn counters_by_name(counters: &Counters) -> Result<Vec<(String, u64)>> {
    let value = serde_json::to_value(counters)
        .map_err(|e| Error::Internal(format!("counters as JSON: {e}")))?;
    let serde_json::Value::Object(map) = value else {
        return Err(Error::Internal("counters are not a JSON object".into()));
    };
    map.into_iter()
        .map(|(name, v)| {
            v.as_u64()
                .map(|n| (name.clone(), n))
                .ok_or_else(|| Error::Internal(format!("counter {name} is not a count")))
        })
        .collect()
}

/// A query result: its schema and its batches, in order.
#[derive(Debug, Clone)]
pub struct Table {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

/// Runs `work` on a fresh runtime, stopping early when `cancel` fires.
fn block_on<T>(cancel: &Cancel, work: impl Future<Output = Result<T>>) -> Result<T> {
    crate::engine::runtime(&EngineOptions::default())?.block_on(async {
        tokio::select! {
            biased;
            () = cancel.cancelled() => Err(Error::Cancelled),
            result = work => result,
        }
    })
}

/// One partition: results come back in file order (several partitions would interleave).
fn ordered_session() -> Result<datafusion::prelude::SessionContext> {
    new_session(&EngineOptions {
        partitions: 1,
        ..EngineOptions::default()
    })
}

/// `--memory-limit` and `--spill-dir` as an embedder gives them; `None` for the CLI's
/// defaults.
fn engine_args(memory_limit: Option<usize>, spill_dir: Option<PathBuf>) -> EngineArgs {
    let default = EngineArgs::default();
    EngineArgs {
        memory_limit: memory_limit.unwrap_or(default.memory_limit),
        spill_dir: spill_dir.or(default.spill_dir),
    }
}

/// `mosagg query SQL --table NAME=PATH… [--memory-limit BYTES] [--spill-dir DIR]`,
/// collected; `None` for the CLI's defaults. The limit bounds the query's sorts, joins
/// and groupings, as in the CLI; the collected result itself is the caller's.
pub fn query(
    sql: &str,
    tables: &[(String, PathBuf)],
    memory_limit: Option<usize>,
    spill_dir: Option<&Path>,
    cancel: &Cancel,
) -> Result<Table> {
    for (name, _) in tables {
        query::check_table_name(name)?;
    }
    let opts = engine_args(memory_limit, spill_dir.map(Path::to_path_buf)).options()?;
    block_on(cancel, async {
        let ctx = new_session(&opts)?;
        for (name, path) in tables {
            crate::engine::register_path(&ctx, name, path).await?;
        }
        let df = query::plan_read_only(&ctx, sql).await?;
        let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await?;
        plain_types(Table { schema, batches })
    })
    .map_err(|e| opts.explain(e))
}

/// The engine reads Parquet strings as view types (`Utf8View`); a caller should see the
/// same types whichever file kind a table came from, so they become `Utf8` / `Binary`.
fn plain_types(table: Table) -> Result<Table> {
    use arrow::datatypes::{DataType, Field};
    let plain = |t: &DataType| match t {
        DataType::Utf8View => DataType::Utf8,
        DataType::BinaryView => DataType::Binary,
        other => other.clone(),
    };
    let fields: Vec<Field> = table
        .schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_data_type(plain(f.data_type())))
        .collect();
    let schema = Arc::new(Schema::new_with_metadata(
        fields,
        table.schema.metadata().clone(),
    ));
    if schema == table.schema {
        return Ok(table);
    }
    let batches = table
        .batches
        .iter()
        .map(|b| {
            let columns = b
                .columns()
                .iter()
                .zip(schema.fields())
                .map(|(c, f)| arrow::compute::cast(c, f.data_type()))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            Ok(RecordBatch::try_new(schema.clone(), columns)?)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Table { schema, batches })
}

/// `mosagg stats PATH --by COLUMN [--memory-limit BYTES] [--spill-dir DIR]`, as a
/// table; `None` for the CLI's defaults.
pub fn stats(
    path: &Path,
    by: &str,
    memory_limit: Option<usize>,
    spill_dir: Option<&Path>,
    cancel: &Cancel,
) -> Result<Table> {
    stats::check_group_column(by)?;
    let args = stats::Args {
        path: path.to_path_buf(),
        by: by.to_owned(),
        format: stats::StatsFormat::Table,
        plot: None,
        table: TableArgs::default(),
        engine: engine_args(memory_limit, spill_dir.map(Path::to_path_buf)),
    };
    let computed = block_on(cancel, stats::compute(&args))?;
    plain_types(Table {
        schema: computed.stats_schema,
        batches: computed.stats,
    })
}

/// A unified training set (JSONL or Parquet) as Arrow, in file order, typed exactly as
/// the Parquet output is (`UNIFIED_SCHEMA`).
pub fn read_unified(path: &Path, cancel: &Cancel) -> Result<Table> {
    const NAME: &str = "unified";
    let (source_schema, batches) = block_on(cancel, async {
        let ctx = ordered_session()?;
        crate::engine::register_path(&ctx, NAME, path).await?;
        let df = ctx.table(NAME).await?;
        let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        Ok((schema, df.collect().await?))
    })?;
    let missing: Vec<&str> = UNIFIED_SCHEMA
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .filter(|name| source_schema.field_with_name(name).is_err())
        .collect();
    if !missing.is_empty() {
        return Err(Error::Usage(format!(
            "{} is not a unified training set: it lacks column(s) {}",
            crate::paths::shown(path),
            missing.join(", ")
        )));
    }
    let schema = UNIFIED_SCHEMA.clone();
    let batches = batches
        .iter()
        .map(|b| as_unified(b, &schema, path))
        .collect::<Result<Vec<_>>>()?;
    Ok(Table { schema, batches })
}

/// One batch with exactly the unified columns, each cast to its declared type.
fn as_unified(batch: &RecordBatch, schema: &SchemaRef, path: &Path) -> Result<RecordBatch> {
    let columns = schema
        .fields()
        .iter()
        .map(|field| {
            let column = batch
                .column_by_name(field.name())
                .ok_or_else(|| Error::Internal(format!("batch lacks column {}", field.name())))?;
            Ok(arrow::compute::cast(column, field.data_type())?)
        })
        .collect::<Result<Vec<_>>>()?;
    RecordBatch::try_new(schema.clone(), columns).map_err(|e| {
        Error::Usage(format!(
            "{} does not hold unified rows: {e}",
            crate::paths::shown(path)
        ))
    })
}
