//! `mosagg query "SQL" --table NAME=PATH`: read-only SQL over training sets and shards.
//!
//! Each `--table` becomes a DataFusion table (Parquet file, JSON-lines file, or a folder
//! of Parquet files); the result streams to stdout in the chosen format.

use std::path::{Path, PathBuf};

use datafusion::execution::context::SQLOptions;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{DataFrame, SessionContext};
use futures::StreamExt;

use crate::args::{EngineArgs, TableArgs};
use crate::engine::{new_session, register_path, runtime};
use crate::error::{Error, Result};
use crate::table_out::{FloatStyle, Format, Renderer, is_broken_pipe};

/// The training set `mosagg run` writes, queried as `unified` when no `--table` is given.
pub const DEFAULT_UNIFIED: &str = ".workingdir2/aggregated/unified_corpus.parquet";

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// One SQL statement (SELECT, WITH …, EXPLAIN); nothing that writes or creates.
    #[arg(value_name = "SQL")]
    pub sql: String,
    /// Make PATH queryable as NAME (repeatable): .parquet, .jsonl/.json/.ndjson, or a folder of .parquet files.
    /// [default: unified=.workingdir2/aggregated/unified_corpus.parquet, when it exists]
    #[arg(long = "table", value_name = "NAME=PATH")]
    pub tables: Vec<String>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    #[command(flatten)]
    pub table: TableArgs,
    // A query that sorts, groups or joins a large table holds its rows within
    // --memory-limit and spills the rest to --spill-dir; when it cannot, the error names
    // the flag.
    #[command(flatten)]
    pub engine: EngineArgs,
}

pub fn execute(args: Args) -> Result<i32> {
    let mut tables = args
        .tables
        .iter()
        .map(|t| parse_table_arg(t))
        .collect::<Result<Vec<_>>>()?;
    if tables.is_empty() && Path::new(DEFAULT_UNIFIED).is_file() {
        tables.push(("unified".to_owned(), PathBuf::from(DEFAULT_UNIFIED)));
    }
    let opts = args.engine.options()?;
    let result = runtime(&opts)?
        .block_on(async {
            let ctx = new_session(&opts)?;
            for (name, path) in &tables {
                register_path(&ctx, name, path).await?;
            }
            run_query(&ctx, &args.sql, args.format, args.table.limit()).await
        })
        .map_err(|e| opts.explain(e));
    match result {
        Err(e) if is_broken_pipe(&e) => Ok(0),
        other => other.map(|()| 0),
    }
}

/// `NAME=PATH`, with NAME a plain SQL identifier so it can be written unquoted.
fn parse_table_arg(arg: &str) -> Result<(String, PathBuf)> {
    let (name, path) = arg
        .split_once('=')
        .ok_or_else(|| Error::Usage(format!("--table expects NAME=PATH, got {arg:?}")))?;
    check_table_name(name)?;
    if path.is_empty() {
        return Err(Error::Usage(format!("--table {name}= has an empty PATH")));
    }
    Ok((name.to_owned(), PathBuf::from(path)))
}

/// A table name must be a plain SQL identifier, so it can be written unquoted.
pub fn check_table_name(name: &str) -> Result<()> {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    // SQL folds unquoted names to lower case, so `Unified` could never be found again.
    if !plain {
        return Err(Error::Usage(format!(
            "--table name {name:?} must be lower-case letters, digits and _ (not starting with a digit)"
        )));
    }
    Ok(())
}

/// Plans one read-only statement; a statement that cannot be planned is a usage error.
///
/// Decided on what the statement is, not on an error's wording: the plan's kind says
/// whether it would write, and when it cannot be planned, the table names it reads are
/// looked up in the session.
pub async fn plan_read_only(ctx: &SessionContext, sql: &str) -> Result<DataFrame> {
    let invalid =
        |e: datafusion::error::DataFusionError| Error::Usage(format!("invalid query: {e}"));
    let state = ctx.state();
    let dialect = state.config().options().sql_parser.dialect;
    let statement = state.sql_to_statement(sql, &dialect).map_err(invalid)?;
    let tables = state
        .resolve_table_references(&statement)
        .map_err(invalid)?;
    let plan = match state.statement_to_plan(statement).await {
        Ok(plan) => plan,
        Err(e) => {
            // A table the statement reads that is not registered is the likely cause;
            // say which, and what there is.
            for table in tables {
                if !ctx.table_exist(table.clone()).map_err(invalid)? {
                    return Err(Error::Usage(format!(
                        "invalid query: table {table} not found; {}",
                        registered_tables(ctx)
                    )));
                }
            }
            return Err(invalid(e));
        }
    };
    let writes = match &plan {
        LogicalPlan::Ddl(_) => Some("would create or drop a table or view"),
        LogicalPlan::Dml(_) | LogicalPlan::Copy(_) => Some("would write data"),
        LogicalPlan::Statement(_) => Some("would change the session"),
        _ => None,
    };
    let read_only = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    // verify_plan also looks inside (EXPLAIN CREATE …); the match above names the
    // common cases plainly.
    if let Some(what) = writes {
        return Err(Error::Usage(format!(
            "invalid query: this statement {what}; mosagg query only reads (SELECT, WITH, EXPLAIN, SHOW)"
        )));
    }
    read_only.verify_plan(&plan).map_err(|e| {
        Error::Usage(format!(
            "invalid query: {e}; mosagg query only reads (SELECT, WITH, EXPLAIN, SHOW)"
        ))
    })?;
    Ok(ctx.execute_logical_plan(plan).await?)
}

/// "tables: a, b", or how to register one when there are none.
fn registered_tables(ctx: &SessionContext) -> String {
    let mut names: Vec<String> = ctx
        .catalog("datafusion")
        .and_then(|c| c.schema("public"))
        .map(|s| s.table_names())
        .unwrap_or_default();
    names.sort();
    if names.is_empty() {
        "no tables are registered (use --table NAME=PATH)".to_owned()
    } else {
        format!("tables: {}", names.join(", "))
    }
}

/// Plans the statement (read-only), then streams its result to stdout.
async fn run_query(
    ctx: &SessionContext,
    sql: &str,
    format: Format,
    max_table_rows: Option<usize>,
) -> Result<()> {
    let df = plan_read_only(ctx, sql).await?;
    let stream = df.execute_stream().await?;
    let stdout = std::io::stdout();
    let out = std::io::BufWriter::new(stdout.lock());
    let mut renderer = Renderer::new(format, FloatStyle::RoundTrip, stream.schema(), out)
        .with_max_table_rows(max_table_rows);
    renderer
        .push_stream(stream.map(|batch| batch.map_err(Error::from)))
        .await?;
    renderer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_args_need_a_plain_name_and_a_path() {
        assert_eq!(
            parse_table_arg("u=a/b.parquet").expect("ok"),
            ("u".to_owned(), PathBuf::from("a/b.parquet"))
        );
        assert!(matches!(parse_table_arg("nopath"), Err(Error::Usage(_))));
        assert!(matches!(
            parse_table_arg("Big=x.parquet"),
            Err(Error::Usage(_))
        ));
        assert!(matches!(
            parse_table_arg("a.b=x.parquet"),
            Err(Error::Usage(_))
        ));
        assert!(matches!(
            parse_table_arg("1a=x.parquet"),
            Err(Error::Usage(_))
        ));
        assert!(matches!(parse_table_arg("a="), Err(Error::Usage(_))));
    }
}
