//! Files and folders as query tables: Parquet files, folders of Parquet files, and
//! JSON-lines files (through mosagg's own parser, see `shard_table`). Used by `query`,
//! `stats` and the Python package alike.

use std::path::Path;
use std::sync::Arc;

use datafusion::prelude::{ParquetReadOptions, SessionContext};

use crate::error::{Error, Result};
use crate::shard_table;

/// What a table path holds, judged by its name (and whether it is a folder).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SourceKind {
    Parquet,
    /// JSON lines (plain, gzip or zstd), read by mosagg's own parser.
    JsonLines,
    ParquetFolder,
}

fn source_kind(path: &Path) -> Result<SourceKind> {
    let meta = std::fs::metadata(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::NoInput(format!(
                "{}: no such file or folder",
                crate::paths::shown(path)
            ))
        } else {
            Error::io(format!("reading {}", crate::paths::shown(path)), e)
        }
    })?;
    if meta.is_dir() {
        return Ok(SourceKind::ParquetFolder);
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    // A compressed shard is named for what it holds, then how it is packed.
    let name = name
        .strip_suffix(".gz")
        .or_else(|| name.strip_suffix(".zst"))
        .unwrap_or(&name);
    let ext = Path::new(name).extension().and_then(|e| e.to_str());
    match ext {
        Some("parquet") => Ok(SourceKind::Parquet),
        Some("jsonl" | "json" | "ndjson") => Ok(SourceKind::JsonLines),
        _ => Err(Error::Usage(format!(
            "{}: cannot tell its format; expected a .parquet, .jsonl, .json or .ndjson file (.gz or .zst too), or a folder of .parquet files",
            crate::paths::shown(path)
        ))),
    }
}

/// Registers a file or folder as table `name`, reading its schema now so that a
/// missing, empty or unreadable source is reported before any SQL runs.
pub async fn register_path(ctx: &SessionContext, name: &str, path: &Path) -> Result<()> {
    let kind = source_kind(path)?;
    // DataFusion takes paths as URL-ish strings; an absolute path avoids any doubt about the folder.
    let abs = std::path::absolute(path)
        .map_err(|e| Error::io(format!("resolving {}", crate::paths::shown(path)), e))?;
    let url = abs.to_string_lossy().into_owned();
    // Unreadable content is a data error (exit 1), named by table and path.
    let context = |e: datafusion::error::DataFusionError| {
        Error::Engine(e.context(format!(
            "reading table {name} from {}",
            crate::paths::shown(path)
        )))
    };
    match kind {
        SourceKind::Parquet => ctx
            .register_parquet(name, &url, ParquetReadOptions::default())
            .await
            .map_err(context)?,
        SourceKind::ParquetFolder => {
            if !folder_has_parquet(path)? {
                return Err(Error::NoInput(format!(
                    "{}: folder holds no .parquet files",
                    crate::paths::shown(path)
                )));
            }
            let url = format!("{}/", url.trim_end_matches('/'));
            ctx.register_parquet(name, &url, ParquetReadOptions::default())
                .await
                .map_err(context)?
        }
        SourceKind::JsonLines => {
            ctx.register_table(name, Arc::new(shard_table::table(path)?))
                .map_err(context)?;
        }
    }
    Ok(())
}

fn folder_has_parquet(dir: &Path) -> Result<bool> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Error::io(format!("listing {}", crate::paths::shown(dir)), e))?;
    for entry in entries {
        let entry =
            entry.map_err(|e| Error::io(format!("listing {}", crate::paths::shown(dir)), e))?;
        if entry.path().extension().is_some_and(|e| e == "parquet") {
            return Ok(true);
        }
    }
    Ok(false)
}
