//! Command-line argument groups that several commands share, and the parsers of their
//! values. A flag's meaning lives here once; each `cmd/*.rs` flattens the groups it needs.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::engine::EngineOptions;
use crate::engine::spill::check_spill_dir;
use crate::error::Result;
use crate::logger::Level;
use crate::writers::output_set::WhenBusy;

/// Flags `aggregate` shares with `run`.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// Force the corpus label of one input (repeatable). LABEL must be a known scale.
    #[arg(long = "corpus-source-override", value_name = "PATH=LABEL")]
    pub overrides: Vec<OsString>,
    /// Manifest path [default: OUTPUT without .jsonl, plus .manifest.json].
    #[arg(long, value_name = "PATH")]
    pub manifest_out: Option<PathBuf>,
    /// Parquet path [default: OUTPUT without .jsonl, plus .parquet].
    #[arg(long, value_name = "PATH")]
    pub parquet: Option<PathBuf>,
    /// Also write a JSONL ledger of every row that did not reach the output, and why.
    #[arg(long, value_name = "PATH")]
    pub rejects: Option<PathBuf>,
    /// Pin aggregated_at_utc (e.g. 2026-05-09T00:00:00+00:00); SOURCE_DATE_EPOCH also pins it.
    #[arg(long, value_name = "TS")]
    pub aggregated_at: Option<String>,
    #[command(flatten)]
    pub engine: EngineArgs,
    #[command(flatten)]
    pub lock: LockArgs,
    #[arg(long, value_enum, default_value = "INFO", ignore_case = true)]
    pub log_level: Level,
    /// JSON scale conversions laid over the built-in table: {label: {slope, intercept, native_min, native_max, scale_label}}.
    #[arg(long, value_name = "FILE")]
    pub scales: Option<PathBuf>,
}

/// How many rows the terminal table draws; shared by the commands that print a table
/// of a result that can be any size (`query`, `stats --by` a column with many values).
#[derive(Debug, Clone, clap::Args)]
pub struct TableArgs {
    /// The most rows the terminal table draws (the first ones; the rest are counted, not
    /// kept, so a huge result stays within memory). 0 draws every row. Other formats
    /// always print every row.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_ROWS)]
    pub max_rows: usize,
}

/// Rows the terminal table draws unless `--max-rows` says otherwise: more than a screen,
/// few enough to draw at once.
pub const DEFAULT_MAX_ROWS: usize = 100;

impl Default for TableArgs {
    /// What the flag's default gives.
    fn default() -> Self {
        Self {
            max_rows: DEFAULT_MAX_ROWS,
        }
    }
}

impl TableArgs {
    /// The row limit for the renderer: None draws every row.
    pub fn limit(&self) -> Option<usize> {
        (self.max_rows > 0).then_some(self.max_rows)
    }
}

/// How much memory the query engine may use, and where its sorts spill; shared by
/// every command that runs a large query.
#[derive(Debug, Clone, clap::Args)]
pub struct EngineArgs {
    /// Memory the query engine may use before sorting spills to disk (e.g. 512M, 2G; at least 1M).
    #[arg(long, value_name = "SIZE", default_value = "1G", value_parser = parse_size)]
    pub memory_limit: usize,
    /// Folder for spill files [default: the system temp folder]. Must exist.
    #[arg(long, value_name = "DIR")]
    pub spill_dir: Option<PathBuf>,
}

impl Default for EngineArgs {
    /// What the flags' defaults give.
    fn default() -> Self {
        Self {
            memory_limit: crate::engine::session::DEFAULT_MEMORY_LIMIT,
            spill_dir: None,
        }
    }
}

impl EngineArgs {
    /// The engine settings; a `--spill-dir` that is not an existing folder is a usage error.
    pub fn options(&self) -> Result<EngineOptions> {
        if let Some(dir) = &self.spill_dir {
            check_spill_dir(dir)?;
        }
        Ok(EngineOptions {
            memory_limit: self.memory_limit,
            spill_dir: self.spill_dir.clone(),
            ..EngineOptions::default()
        })
    }
}

/// What a run does when another run is writing one of its outputs.
#[derive(Debug, Clone, clap::Args)]
pub struct LockArgs {
    /// If another mosagg run is writing the same output, wait for it to finish instead of
    /// stopping with an error.
    #[arg(long)]
    pub wait: bool,
}

impl LockArgs {
    pub fn when_busy(&self) -> WhenBusy {
        if self.wait {
            WhenBusy::Wait
        } else {
            WhenBusy::Fail
        }
    }
}

/// The smallest `--memory-limit`: below it no query can hold even one batch.
const MIN_MEMORY_LIMIT: usize = 1 << 20;

/// `512M`, `2G`, `1048576`: a byte count with an optional binary unit, at least 1M.
pub fn parse_size(s: &str) -> std::result::Result<usize, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: usize = match c.to_ascii_uppercase() {
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => return Err(format!("unknown size unit in {s:?} (use K, M, G or T)")),
            };
            (&t[..i], m)
        }
        _ => (t, 1),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size like 512M or 2G"))?;
    if !(n.is_finite() && n > 0.0) {
        return Err(format!("{s:?} must be a positive size"));
    }
    let bytes = n * mult as f64;
    if bytes < MIN_MEMORY_LIMIT as f64 {
        return Err(format!(
            "{s:?} is {} byte(s); the smallest limit is 1M",
            bytes.floor()
        ));
    }
    if bytes >= usize::MAX as f64 {
        return Err(format!("{s:?} is larger than this machine can address"));
    }
    Ok(bytes as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert_eq!(parse_size("1.5G"), Ok(3 << 29));
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("0").is_err());
        assert!(parse_size("5X").is_err());
    }

    #[test]
    fn sizes_below_one_mebibyte_are_refused() {
        assert!(parse_size("0.1").is_err());
        assert!(parse_size("4096").is_err());
        assert!(parse_size("0.5M").is_err());
        assert_eq!(parse_size("1M"), Ok(1 << 20));
    }
}
