//! The `--inputs` list as found on disk, and the `inputs` table the SQL joins to.

use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{BooleanArray, RecordBatch, StringArray, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema};

use crate::error::LoadError;

/// What the path named on the command line turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputState {
    Missing,
    /// Exists, but is a folder, a socket or similar.
    NotAFile,
    Present,
}

/// One `--inputs` entry, by position.
#[derive(Debug, Clone)]
pub struct InputFile {
    pub index: u32,
    /// The path as the operator spelt it; used in every message.
    pub display: String,
    pub path: PathBuf,
    pub state: InputState,
    /// Label forced by `--corpus-source-override`.
    pub override_label: Option<String>,
}

/// What reading an input to its end established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputStats {
    pub sha256: String,
    pub bytes: u64,
    pub rows: u64,
}

impl InputFile {
    pub fn is_present(&self) -> bool {
        self.state == InputState::Present
    }
}

/// Looks at every path; a present file must also be openable, or the run stops before it starts.
pub fn probe(paths: &[PathBuf]) -> Result<Vec<InputFile>, LoadError> {
    paths
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let state = match std::fs::metadata(p) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => InputState::Missing,
                Err(source) => {
                    return Err(LoadError::Io {
                        path: crate::paths::shown(p),
                        source,
                    });
                }
                Ok(m) if !m.is_file() => InputState::NotAFile,
                Ok(_) => {
                    std::fs::File::open(p).map_err(|source| LoadError::Io {
                        path: crate::paths::shown(p),
                        source,
                    })?;
                    InputState::Present
                }
            };
            Ok(InputFile {
                index: u32::try_from(i).unwrap_or(u32::MAX),
                display: crate::paths::shown(p),
                path: p.clone(),
                state,
                override_label: None,
            })
        })
        .collect()
}

/// Bytes of the present inputs on disk: what the scan will read.
pub fn present_bytes(inputs: &[InputFile]) -> u64 {
    inputs
        .iter()
        .filter(|i| i.is_present())
        .filter_map(|i| std::fs::metadata(&i.path).ok())
        .map(|m| m.len())
        .sum()
}

/// The `inputs` table: position, path, whether it was read, and its forced label.
pub fn to_record_batch(inputs: &[InputFile]) -> Result<RecordBatch, arrow::error::ArrowError> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("input_idx", DataType::UInt32, false),
        Field::new("path", DataType::Utf8, false),
        Field::new("present", DataType::Boolean, false),
        Field::new("override_label", DataType::Utf8, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(inputs.iter().map(|i| i.index).collect::<UInt32Array>()),
            Arc::new(
                inputs
                    .iter()
                    .map(|i| Some(i.display.as_str()))
                    .collect::<StringArray>(),
            ),
            Arc::new(
                inputs
                    .iter()
                    .map(|i| Some(i.is_present()))
                    .collect::<BooleanArray>(),
            ),
            Arc::new(
                inputs
                    .iter()
                    .map(|i| i.override_label.as_deref())
                    .collect::<StringArray>(),
            ),
        ],
    )
}
