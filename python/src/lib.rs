//! `mosagg._mosagg`: the native half of the `mosagg` Python package. Each function is a
//! thin call into `mosagg::api`; argument defaults, documentation and the public names
//! live in the Python half (`mosagg/__init__.py`).

mod errors;
mod interrupt;

use std::path::PathBuf;

use mosagg::api::{self, AggregateRequest, Scales, Table};
use mosagg::error::Error;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3_arrow::PyTable;

/// The run's outcome as Python sees it: the value, or the typed exception.
fn finish<T>(py: Python<'_>, outcome: PyResult<Result<T, Error>>) -> PyResult<T> {
    outcome?.map_err(|e| errors::to_py(py, &e))
}

/// A table as a `pyarrow.Table`, handed over through the Arrow C stream interface.
fn to_pyarrow(py: Python<'_>, table: Table) -> PyResult<Bound<'_, PyAny>> {
    PyTable::try_new(table.batches, table.schema)?.into_pyarrow(py)
}

fn scales_source(file: Option<PathBuf>, json: Option<String>) -> Scales {
    match (file, json) {
        (Some(path), _) => Scales::File(path),
        (None, Some(text)) => Scales::Json(text),
        (None, None) => Scales::Builtin,
    }
}

#[pyfunction]
#[pyo3(signature = (inputs, output, overrides, aggregated_at, parquet, manifest_out, rejects, scales_file, scales_json, memory_limit, spill_dir, wait, argv))]
#[allow(clippy::too_many_arguments)]
fn aggregate<'py>(
    py: Python<'py>,
    inputs: Vec<PathBuf>,
    output: PathBuf,
    overrides: Vec<(PathBuf, String)>,
    aggregated_at: Option<String>,
    parquet: Option<PathBuf>,
    manifest_out: Option<PathBuf>,
    rejects: Option<PathBuf>,
    scales_file: Option<PathBuf>,
    scales_json: Option<String>,
    memory_limit: Option<usize>,
    spill_dir: Option<PathBuf>,
    wait: bool,
    argv: Vec<String>,
) -> PyResult<Bound<'py, PyDict>> {
    let request = AggregateRequest {
        inputs,
        output,
        overrides,
        aggregated_at,
        parquet,
        manifest_out,
        rejects,
        scales: scales_source(scales_file, scales_json),
        memory_limit,
        spill_dir,
        wait,
        argv,
    };
    let counters = finish(
        py,
        interrupt::run(py, move |cancel| {
            let counters = api::aggregate(&request, cancel)?;
            api::counters_by_name(&counters)
        }),
    )?;
    let dict = PyDict::new(py);
    for (name, value) in counters {
        dict.set_item(name, value)?;
    }
    Ok(dict)
}

#[pyfunction]
fn read_unified(py: Python<'_>, path: PathBuf) -> PyResult<Bound<'_, PyAny>> {
    let table = finish(
        py,
        interrupt::run(py, move |cancel| api::read_unified(&path, cancel)),
    )?;
    to_pyarrow(py, table)
}

#[pyfunction]
#[pyo3(signature = (sql, tables, memory_limit, spill_dir))]
fn query(
    py: Python<'_>,
    sql: String,
    tables: Vec<(String, PathBuf)>,
    memory_limit: Option<usize>,
    spill_dir: Option<PathBuf>,
) -> PyResult<Bound<'_, PyAny>> {
    let table = finish(
        py,
        interrupt::run(py, move |cancel| {
            api::query(&sql, &tables, memory_limit, spill_dir.as_deref(), cancel)
        }),
    )?;
    to_pyarrow(py, table)
}

#[pyfunction]
#[pyo3(signature = (path, by, memory_limit, spill_dir))]
fn stats(
    py: Python<'_>,
    path: PathBuf,
    by: String,
    memory_limit: Option<usize>,
    spill_dir: Option<PathBuf>,
) -> PyResult<Bound<'_, PyAny>> {
    let table = finish(
        py,
        interrupt::run(py, move |cancel| {
            api::stats(&path, &by, memory_limit, spill_dir.as_deref(), cancel)
        }),
    )?;
    to_pyarrow(py, table)
}

/// The scale table in force, as the JSON text `mosagg scales --format json` prints.
#[pyfunction]
#[pyo3(signature = (scales_file, scales_json))]
fn scales_json(
    py: Python<'_>,
    scales_file: Option<PathBuf>,
    scales_json: Option<String>,
) -> PyResult<String> {
    api::scales_json(&scales_source(scales_file, scales_json)).map_err(|e| errors::to_py(py, &e))
}

/// `512M`, `2G` or a byte count, checked as `--memory-limit` checks it.
#[pyfunction]
fn memory_limit(py: Python<'_>, text: &str) -> PyResult<usize> {
    api::memory_limit(text).map_err(|e| errors::to_py(py, &e))
}

#[pymodule]
fn _mosagg(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // mosagg's messages go to Python's `logging` (loggers "mosagg", "mosagg.job", …),
    // levels and handlers included. Levels are read on every record (only the logger
    // objects are cached), so `logging` settings changed later apply. DataFusion's own
    // chatter stays out below WARNING: each record crossing over costs a GIL round trip.
    // Another extension may own the `log` facade already; mosagg then stays quiet there.
    let _ = pyo3_log::Logger::new(m.py(), pyo3_log::Caching::Loggers)?
        .filter(log::LevelFilter::Warn)
        .filter_target("mosagg".to_owned(), log::LevelFilter::Debug)
        .install();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(aggregate, m)?)?;
    m.add_function(wrap_pyfunction!(read_unified, m)?)?;
    m.add_function(wrap_pyfunction!(query, m)?)?;
    m.add_function(wrap_pyfunction!(stats, m)?)?;
    m.add_function(wrap_pyfunction!(scales_json, m)?)?;
    m.add_function(wrap_pyfunction!(memory_limit, m)?)?;
    Ok(())
}
