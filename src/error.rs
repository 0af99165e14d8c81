//! Typed errors, and the exit code each kind of failure maps to.

use crate::loader::batch::RowError;

/// Failures while reading inputs. Every variant names the file (and line, where there is one).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}:{line}: invalid JSON ({message})")]
    InvalidJson {
        path: String,
        line: u64,
        message: String,
    },
    #[error("{path}:{line}: {problem}")]
    BadRow {
        path: String,
        line: u64,
        problem: RowError,
    },
    /// A row whose value cannot serve its purpose (e.g. a list where a merge key belongs).
    #[error("{path}:{line}: {problem}")]
    BadValue {
        path: String,
        line: u64,
        problem: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("building a record batch: {0}")]
    Arrow(arrow::error::ArrowError),
    /// The query stopped pulling rows; not an error the operator sees.
    #[error("scan cancelled")]
    Cancelled,
}

/// Everything a command can fail with, each mapped to its documented exit code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad flags or flag values: exit 2.
    #[error("{0}")]
    Usage(String),
    /// Nothing to work on (e.g. no input exists): exit 2.
    #[error("{0}")]
    NoInput(String),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("query engine: {0}")]
    Engine(#[from] datafusion::error::DataFusionError),
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// Another run holds the lock of an output this run would write: exit 1.
    #[error("{0}")]
    Busy(String),
    /// The run needs more memory or disk than it was given: exit 1.
    #[error("{0}")]
    Resources(String),
    /// A check mosagg runs on its own results failed: a bug, never bad input.
    #[error("internal check failed: {0}")]
    Internal(String),
    /// A failure with its own exit code (e.g. a trainer's status).
    #[error("{message}")]
    Exit { code: i32, message: String },
    /// The embedding program asked the run to stop (`cleanup::Cancel`): exit 130, as for SIGINT.
    #[error("the run was cancelled; staged and spill files removed")]
    Cancelled,
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) | Error::NoInput(_) => 2,
            Error::Exit { code, .. } => *code,
            Error::Cancelled => 130,
            _ => 1,
        }
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
