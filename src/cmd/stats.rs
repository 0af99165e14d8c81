//! `mosagg stats PATH`: per-corpus distribution of the unified MOS, as a table, CSV or
//! JSON, and optionally as an SVG picture. The numbers come from `sql/stats.sql`.

mod aggregate;
mod bin_counts;
mod joined_distinct;
mod plot;
mod quantile;
mod ranks;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, RecordBatch, UInt32Array, UInt64Array};
use arrow::compute::take_record_batch;
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use datafusion::datasource::MemTable;
use datafusion::execution::memory_pool::MemoryConsumer;
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;
use futures::StreamExt;

use crate::args::{EngineArgs, TableArgs};
use crate::engine::{EngineOptions, PoolKind, new_session, register_path, runtime};
use crate::error::{Error, Result};
use crate::table_out::{FloatStyle, Format, Renderer, is_broken_pipe};

pub const STATS_SQL: &str = include_str!("../../sql/stats.sql");
pub const HISTOGRAM_SQL: &str = include_str!("../../sql/stats_histogram.sql");
pub const STATS_ORDER_SQL: &str = include_str!("../../sql/stats_order.sql");
/// The table `sql/stats_order.sql` reads: the rows of `sql/stats.sql`, a row per group.
const STATS_ROWS_TABLE: &str = "stats_rows";

/// Histogram bin widths that divide the 0-100 axis into round edges, finest first.
const BIN_WIDTHS: [f64; 5] = [2.0, 2.5, 4.0, 5.0, 10.0];

/// Clips per bin, on average, the smallest group should get: the plot takes the finest
/// width that allows it, so a 20-clip corpus is not drawn as a comb of single clips.
const CLIPS_PER_BIN: f64 = 10.0;

/// The file being summarised, as a table.
const ROWS_TABLE: &str = "rows";

/// The stats rows' column of per-group counts in 0.5-wide bins, for the picture only.
const HALF_BINS: &str = "half_bins";

/// The table `sql/stats_histogram.sql` reads: each group and its `half_bins`.
const GROUP_BINS_TABLE: &str = "group_bins";

/// The statistics' own column names, which the group column must not shadow.
const STAT_COLUMNS: [&str; 13] = [
    "n",
    "mean",
    "std",
    "min",
    "p05",
    "p25",
    "median",
    "p75",
    "p95",
    "max",
    "scale_label",
    "native_min",
    "native_max",
];

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum StatsFormat {
    /// A table for the terminal (3 decimals).
    #[default]
    Table,
    /// CSV with a header row, every digit.
    Csv,
    /// One JSON array of objects, one per group.
    Json,
}

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// A unified training set: .jsonl or .parquet (or a folder of .parquet files).
    #[arg(value_name = "PATH")]
    pub path: PathBuf,
    /// The column to group by.
    #[arg(long, value_name = "COLUMN", default_value = "corpus_source")]
    pub by: String,
    #[arg(long, value_enum, default_value_t = StatsFormat::Table)]
    pub format: StatsFormat,
    /// Also draw each group's unified-MOS distribution on the shared 0-100 axis as an SVG.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    #[command(flatten)]
    pub table: TableArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// What the SQL established.
pub(crate) struct Computed {
    pub(crate) stats: Vec<RecordBatch>,
    pub(crate) stats_schema: SchemaRef,
    /// The histogram rows and their bin width, when a plot was asked for.
    histogram: Option<(Vec<RecordBatch>, f64)>,
}

pub fn execute(args: Args) -> Result<i32> {
    if let Some(plot) = &args.plot {
        use crate::paths::{Role, check_outputs};
        let input = Role {
            flag: "PATH",
            path: &args.path,
        };
        check_outputs(
            &[input],
            &[Role {
                flag: "--plot",
                path: plot,
            }],
        )?;
    }
    check_group_column(&args.by)?;
    let rt = runtime(&EngineOptions::default())?;
    let computed = rt.block_on(compute(&args))?;
    if let (Some(path), Some((hist, bin_width))) = (&args.plot, &computed.histogram) {
        let series = plot::series_from_batches(hist)?;
        let svg = plot::render_svg(&series, *bin_width, &args.by)?;
        plot::write_svg(path, &svg)?;
        log::info!("wrote {}", crate::paths::shown(path));
    }
    match rt.block_on(print(&computed, args.format, args.table.limit())) {
        Err(e) if is_broken_pipe(&e) => Ok(0),
        other => other.map(|()| 0),
    }
}

/// The group column must not shadow one of the statistics' own columns.
pub fn check_group_column(by: &str) -> Result<()> {
    if STAT_COLUMNS.contains(&by) {
        return Err(Error::Usage(format!(
            "--by {by}: that name is one of the statistics' own columns; group by another column"
        )));
    }
    Ok(())
}

/// The statistics (and the histogram when `args.plot` asks for one), as Arrow batches.
pub(crate) async fn compute(args: &Args) -> Result<Computed> {
    let opts = EngineOptions {
        pool: PoolKind::FirstCome,
        // Each partition sums its share of a group and the shares are added as they
        // arrive. Two partial sums add up to the same mean in either order; with three
        // or more, the last digit of a mean could depend on which partition finished
        // first, and the same file must always give the same numbers.
        partitions: 2,
        ..args.engine.options()?
    };
    // Too many groups for the memory limit (a group per clip of a large file) is told
    // in terms of the flag that governs it.
    compute_in(&new_session(&opts)?, args)
        .await
        .map_err(|e| opts.explain(e))
}

/// `compute` on a session set up for it.
async fn compute_in(ctx: &SessionContext, args: &Args) -> Result<Computed> {
    // The two partial aggregates hand their states straight to one final aggregate, not
    // through a repartition by group: a group is a corpus, a handful in all, and the
    // repartition copied every value of every group once more (the largest group is
    // ranked by one core either way): 0.50 -> 0.40 s and 278 -> 215 MiB on a 10M-row file.
    ctx.state_ref()
        .write()
        .config_mut()
        .options_mut()
        .optimizer
        .repartition_aggregations = false;
    ctx.register_udaf(quantile::udaf());
    ctx.register_udaf(joined_distinct::udaf());
    ctx.register_udaf(bin_counts::udaf());
    register_path(ctx, ROWS_TABLE, &args.path).await?;
    create_input_view(ctx, &args.path, &args.by, args.plot.is_some()).await?;

    let (planned, with_bins) = ordered_rows(ctx).await?;
    // The SQL calls the group column `grp`; the output calls it what the user called it.
    // (An empty file yields no batch, so the planned schema still names the columns.)
    let produced: SchemaRef = with_bins.first().map_or(planned, RecordBatch::schema);
    let histogram = match &args.plot {
        Some(_) => {
            let width = bin_width(smallest_group(&with_bins));
            ctx.register_table(GROUP_BINS_TABLE, Arc::new(group_bins(&with_bins)?))?;
            let rows = ctx
                .sql(HISTOGRAM_SQL)
                .await?
                .with_param_values(vec![ScalarValue::Float64(Some(width))])?
                .collect()
                .await?;
            Some((rows, width))
        }
        None => None,
    };
    let printed: Vec<&str> = produced
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .filter(|name| *name != HALF_BINS)
        .collect();
    let (printed_schema, stats) = project(&produced, &with_bins, &printed)?;
    let stats_schema = rename_first_column(&printed_schema, &args.by);
    let stats = stats
        .into_iter()
        .map(|b| RecordBatch::try_new(stats_schema.clone(), b.columns().to_vec()))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(Computed {
        stats,
        stats_schema,
        histogram,
    })
}

/// The rows of `stats.sql` in the order of `stats_order.sql`, and their planned schema.
///
/// Apart, not as one query, for the sort's memory account: the aggregate hands its
/// rows on as slices of one batch of every group, and DataFusion's sort counts each
/// slice as that whole batch, so with a group per clip it spilled even at 6G. Each
/// slice is copied into a batch of its own first, held within the memory limit.
async fn ordered_rows(ctx: &SessionContext) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let df = ctx.sql(STATS_SQL).await?;
    let planned: SchemaRef = df.schema().inner().clone();
    let mut stream = df.execute_stream().await?;
    let held = MemoryConsumer::new("stats rows").register(&ctx.runtime_env().memory_pool);
    let mut rows = Vec::new();
    while let Some(batch) = stream.next().await {
        let own = with_own_buffers(&batch?)?;
        held.try_grow(own.get_array_memory_size())?;
        rows.push(own);
    }
    drop(stream);
    let schema = rows
        .first()
        .map_or_else(|| Arc::clone(&planned), RecordBatch::schema);
    ctx.register_table(
        STATS_ROWS_TABLE,
        Arc::new(MemTable::try_new(schema, vec![rows])?),
    )?;
    // The sort takes the rows over, and counts them itself.
    drop(held);
    let ordered = ctx.sql(STATS_ORDER_SQL).await?.collect().await?;
    ctx.deregister_table(STATS_ROWS_TABLE)?;
    Ok((planned, ordered))
}

/// A batch whose arrays hold only their own rows: a copy, where a slice shares the
/// buffers of the whole (and a text view the buffers of every text).
fn with_own_buffers(batch: &RecordBatch) -> Result<RecordBatch> {
    let rows = u32::try_from(batch.num_rows())
        .map_err(|_| Error::Internal("a batch of more than 2^32 rows".into()))?;
    let copied = take_record_batch(batch, &UInt32Array::from_iter_values(0..rows))?;
    let columns = copied
        .columns()
        .iter()
        .map(|c| match c.data_type() {
            DataType::Utf8View => Arc::new(c.as_string_view().gc()) as ArrayRef,
            DataType::BinaryView => Arc::new(c.as_binary_view().gc()) as ArrayRef,
            _ => Arc::clone(c),
        })
        .collect();
    Ok(RecordBatch::try_new(copied.schema(), columns)?)
}

/// The named columns of the stats rows, and their schema.
fn project(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    columns: &[&str],
) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let indices = columns
        .iter()
        .map(|name| schema.index_of(name))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let projected = Arc::new(schema.project(&indices)?);
    let batches = batches
        .iter()
        .map(|b| b.project(&indices))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok((projected, batches))
}

/// The `half_bins` lists of the stats rows as a table of rows (grp, half_bin, clips):
/// each group's key repeated once per non-empty bin, beside the bins' {bin, clips}.
fn group_bins(stats: &[RecordBatch]) -> Result<MemTable> {
    let mut batches = Vec::with_capacity(stats.len());
    for b in stats {
        let missing = || Error::Internal("stats rows lack their grp or half_bins".into());
        let grp = b.column_by_name("grp").ok_or_else(missing)?;
        let lists = b
            .column_by_name(HALF_BINS)
            .and_then(|c| c.as_list_opt::<i32>())
            .ok_or_else(missing)?;
        let pairs = lists.values().as_struct_opt().ok_or_else(missing)?;
        let mut rows = Vec::new();
        for (row, window) in lists.offsets().windows(2).enumerate() {
            let len = (window[1] - window[0]) as usize;
            rows.extend(std::iter::repeat_n(row as u64, len));
        }
        let grp = arrow::compute::take(grp, &UInt64Array::from(rows), None)?;
        let first = lists.offsets()[0] as usize;
        let len = lists.offsets().last().map_or(0, |&end| end as usize) - first;
        batches.push(RecordBatch::try_new(
            group_bins_schema(grp.data_type()),
            vec![
                grp,
                pairs.column(0).slice(first, len),
                pairs.column(1).slice(first, len),
            ],
        )?);
    }
    let schema = batches
        .first()
        .map_or_else(|| group_bins_schema(&DataType::Utf8), RecordBatch::schema);
    Ok(MemTable::try_new(schema, vec![batches])?)
}

/// `group_bins(grp, half_bin, clips)`, for a group column of type `grp`.
fn group_bins_schema(grp: &DataType) -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("grp", grp.clone(), true),
        Field::new("half_bin", DataType::Int64, false),
        Field::new("clips", DataType::Int64, true),
    ]))
}

/// Maps the file's columns onto what the SQL reads: `stats_input(grp, mos, mos_native,
/// mos_native_scale, drawn)`, `drawn` saying on every row whether the picture is drawn.
/// Only `mos` and the group column are required; a file without the native columns
/// still gets its unified statistics.
async fn create_input_view(ctx: &SessionContext, path: &Path, by: &str, drawn: bool) -> Result<()> {
    let schema = ctx.table(ROWS_TABLE).await?.schema().inner().clone();
    let has = |name: &str| schema.field_with_name(name).is_ok();
    let available = || {
        schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !has("mos") {
        return Err(Error::Usage(format!(
            "{} has no column mos, so it is not a unified training set (columns: {})",
            crate::paths::shown(path),
            available()
        )));
    }
    if !has(by) {
        return Err(Error::Usage(format!(
            "--by {by}: {} has no such column (columns: {})",
            crate::paths::shown(path),
            available()
        )));
    }
    let optional = |name: &str, sql_type: &str| {
        if has(name) {
            format!("CAST({} AS {sql_type})", ident(name))
        } else {
            format!("CAST(NULL AS {sql_type})")
        }
    };
    let view = format!(
        "CREATE VIEW stats_input AS SELECT {} AS grp, CAST(mos AS DOUBLE) AS mos, {} AS mos_native, {} AS mos_native_scale, {drawn} AS drawn FROM {ROWS_TABLE}",
        ident(by),
        optional("mos_native", "DOUBLE"),
        optional("mos_native_scale", "VARCHAR"),
    );
    ctx.sql(&view).await?.collect().await?;
    Ok(())
}

/// The clip count of the smallest group (column `n` of the stats rows).
fn smallest_group(stats: &[RecordBatch]) -> i64 {
    stats
        .iter()
        .filter_map(|b| b.column_by_name("n"))
        .filter_map(|c| c.as_primitive_opt::<Int64Type>())
        .flat_map(|c| c.iter().flatten())
        .min()
        .unwrap_or(0)
}

fn bin_width(smallest_group: i64) -> f64 {
    let wanted_bins = smallest_group as f64 / CLIPS_PER_BIN;
    BIN_WIDTHS
        .into_iter()
        .find(|w| 100.0 / w <= wanted_bins)
        .unwrap_or(BIN_WIDTHS[BIN_WIDTHS.len() - 1])
}

/// A column name as a quoted SQL identifier (case kept, quotes doubled).
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn rename_first_column(schema: &Schema, name: &str) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            if i == 0 {
                f.as_ref().clone().with_name(name)
            } else {
                f.as_ref().clone()
            }
        })
        .collect();
    Arc::new(Schema::new(fields))
}

async fn print(
    computed: &Computed,
    format: StatsFormat,
    max_table_rows: Option<usize>,
) -> Result<()> {
    let (format, floats) = match format {
        StatsFormat::Table => (Format::Table, FloatStyle::Fixed(3)),
        StatsFormat::Csv => (Format::Csv, FloatStyle::RoundTrip),
        StatsFormat::Json => (Format::Json, FloatStyle::RoundTrip),
    };
    let stdout = std::io::stdout();
    let out = std::io::BufWriter::new(stdout.lock());
    let mut r = Renderer::new(format, floats, computed.stats_schema.clone(), out)
        .with_max_table_rows(max_table_rows);
    r.push_stream(futures::stream::iter(
        computed.stats.iter().cloned().map(Ok),
    ))
    .await?;
    r.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slice_copied_holds_only_its_own_rows() {
        use arrow::array::{Float64Array, StringViewArray};
        let n = 100_000;
        let names: StringViewArray = (0..n).map(|i| Some(format!("clip_{i:08}.mp4"))).collect();
        let values = Float64Array::from_iter_values((0..n).map(f64::from));
        let schema = Arc::new(Schema::new(vec![
            Field::new("grp", DataType::Utf8View, true),
            Field::new("mos", DataType::Float64, false),
        ]));
        let whole =
            RecordBatch::try_new(schema, vec![Arc::new(names), Arc::new(values)]).expect("batch");
        let slice = whole.slice(50_000, 10);
        let own = with_own_buffers(&slice).expect("copy");
        // The slice is counted as the whole batch; the copy as its ten rows.
        assert!(slice.get_array_memory_size() > 1_000_000);
        assert!(
            own.get_array_memory_size() < 4_096,
            "{}",
            own.get_array_memory_size()
        );
        assert_eq!(own, slice);
    }

    #[test]
    fn bins_get_finer_as_the_smallest_group_grows() {
        assert_eq!(bin_width(0), 10.0);
        assert_eq!(bin_width(12), 10.0);
        assert_eq!(bin_width(200), 5.0);
        assert_eq!(bin_width(400), 2.5);
        assert_eq!(bin_width(1200), 2.0);
        assert_eq!(bin_width(150_000), 2.0);
    }

    /// The picture's rows for a hand-made file: (group, bin, clips, percent).
    fn histogram_of(jsonl: &str) -> Vec<(String, i64, i64, f64)> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("set.jsonl");
        std::fs::write(&path, jsonl).expect("write");
        let args = Args {
            path,
            by: "corpus_source".into(),
            format: StatsFormat::Csv,
            plot: Some(dir.path().join("p.svg")),
            table: TableArgs::default(),
            engine: EngineArgs::default(),
        };
        let rt = runtime(&EngineOptions::default()).expect("runtime");
        let computed = rt.block_on(compute(&args)).expect("stats");
        // The bins are for the picture: the printed statistics do not show them.
        assert!(computed.stats_schema.field_with_name(HALF_BINS).is_err());
        let (batches, width) = computed.histogram.expect("histogram");
        assert_eq!(width, 10.0, "a few clips get the widest bins");
        let mut rows = Vec::new();
        for b in &batches {
            let grp = arrow::compute::cast(b.column(0), &DataType::Utf8).expect("cast");
            let grp = grp.as_string::<i32>();
            let bin = b.column(1).as_primitive::<Int64Type>();
            let clips = b.column(2).as_primitive::<Int64Type>();
            let percent = b.column(3).as_primitive::<arrow::datatypes::Float64Type>();
            for i in 0..b.num_rows() {
                rows.push((
                    grp.value(i).to_owned(),
                    bin.value(i),
                    clips.value(i),
                    percent.value(i),
                ));
            }
        }
        rows
    }

    #[test]
    fn histogram_shares_per_bin_with_the_ends_in_the_edge_bins() {
        let row = |c: &str, mos: &str| format!("{{\"corpus_source\":\"{c}\",\"mos\":{mos}}}\n");
        let mut jsonl = String::new();
        for mos in [
            "0.0", "1.9", "9.999", "-1.0", "10.0", "99.99", "100.75", "null",
        ] {
            jsonl.push_str(&row("a", mos));
        }
        jsonl.push_str(&row("b", "50.0"));
        assert_eq!(
            histogram_of(&jsonl),
            [
                ("a".to_owned(), 0, 4, 100.0 * 4.0 / 7.0),
                ("a".to_owned(), 1, 1, 100.0 / 7.0),
                ("a".to_owned(), 9, 2, 100.0 * 2.0 / 7.0),
                ("b".to_owned(), 5, 1, 100.0),
            ]
        );
    }

    #[test]
    fn the_aggregates_work_without_group_by_and_on_no_rows() {
        use arrow::array::{Float64Array, StringArray};
        let rt = runtime(&EngineOptions::default()).expect("runtime");
        let rows = rt.block_on(async {
            let ctx = SessionContext::new_with_config(
                datafusion::prelude::SessionConfig::new().with_target_partitions(2),
            );
            ctx.register_udaf(quantile::udaf());
            ctx.register_udaf(joined_distinct::udaf());
            ctx.register_udaf(bin_counts::udaf());
            let schema = Arc::new(Schema::new(vec![
                Field::new("x", DataType::Float64, true),
                Field::new("s", DataType::Utf8, true),
            ]));
            // Two partitions, so partial states are merged too.
            let part = |x: Vec<f64>, s: Vec<&str>| {
                RecordBatch::try_new(
                    Arc::clone(&schema),
                    vec![
                        Arc::new(Float64Array::from(x)),
                        Arc::new(StringArray::from(s)),
                    ],
                )
                .map(|b| vec![b])
            };
            let table = MemTable::try_new(
                Arc::clone(&schema),
                vec![
                    part(vec![4.0, 25.0], vec!["b", "a"]).expect("part"),
                    part(vec![1.0, 12.0], vec!["b", "b"]).expect("part"),
                ],
            )
            .expect("table");
            ctx.register_table("t", Arc::new(table)).expect("register");
            let sql = "SELECT get_field(exact_quantiles(x, 0.5), 'q1') AS median, \
                       joined_distinct(s, '+') AS labels, bin_counts(x, 10.0, 3) AS bins FROM t";
            let all = ctx.sql(sql).await?.collect().await?;
            let none = ctx
                .sql(&format!("{sql} WHERE x > 100"))
                .await?
                .collect()
                .await?;
            Ok::<_, datafusion::error::DataFusionError>((all, none))
        });
        let (all, none) = rows.expect("query");
        let cell = |batches: &[RecordBatch], column: usize| {
            ScalarValue::try_from_array(batches[0].column(column), 0).expect("cell")
        };
        let bins = |batches: &[RecordBatch]| {
            let list = batches[0].column(2).as_list::<i32>().value(0);
            let pairs = list.as_struct();
            let column = |i: usize| {
                pairs
                    .column(i)
                    .as_primitive::<Int64Type>()
                    .values()
                    .to_vec()
            };
            column(0)
                .into_iter()
                .zip(column(1))
                .collect::<Vec<(i64, i64)>>()
        };
        // 1, 4, 12, 25: the median is 8; the labels a and b; bins [0,10) [10,20) [20,..).
        assert_eq!(cell(&all, 0), ScalarValue::Float64(Some(8.0)));
        assert_eq!(cell(&all, 1), ScalarValue::Utf8(Some("a+b".into())));
        assert_eq!(bins(&all), [(0, 2), (1, 1), (2, 1)]);
        // No rows: no median, no label, no bin.
        assert_eq!(cell(&none, 0), ScalarValue::Float64(None));
        assert_eq!(cell(&none, 1), ScalarValue::Utf8(None));
        assert_eq!(bins(&none), []);
    }

    #[test]
    fn identifiers_are_quoted_with_inner_quotes_doubled() {
        assert_eq!(ident("corpus_source"), "\"corpus_source\"");
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
    }
}
