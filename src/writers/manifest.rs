//! The manifest: what was read, what was written, with which table, and the counters.
//! One typed document, written by `aggregate` and read back by `verify`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::atomic::{AtomicOutput, Staged};
use crate::counters::Counters;
use crate::error::{Error, Result};
use crate::loader::{InputFile, InputState, InputStats};
use crate::paths::shown;
use crate::scales::ScaleTable;

pub const MANIFEST_SCHEMA: &str = "mos-corpus-aggregate-manifest-v1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub schema: String,
    pub unified_schema: String,
    pub counters: Counters,
    /// The conversion table in force for this run.
    pub scale_conversions: ScaleTable,
    /// Input path → forced label.
    pub corpus_source_overrides: BTreeMap<String, String>,
    pub run_provenance: Provenance,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    pub tool: String,
    pub version: String,
    pub argv: Vec<String>,
    pub aggregated_at_utc: String,
    /// Where this manifest was written, as given; relative paths in it resolve from the
    /// folder the run worked in. Absent in manifests of mosagg before 0.1.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_path: Option<String>,
    pub inputs: Vec<InputRecord>,
    pub outputs: Vec<OutputRecord>,
}

/// What an `--inputs` path turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputRecordState {
    Missing,
    NotARegularFile,
    Read,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputRecord {
    pub index: u32,
    pub path: String,
    pub exists: bool,
    pub state: InputRecordState,
    pub size_bytes: Option<u64>,
    pub sha256: Option<String>,
    pub rows: Option<u64>,
    pub corpus_source_override: Option<String>,
}

/// Which file of the output set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputKind {
    Jsonl,
    Parquet,
    Rejects,
}

impl OutputKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OutputKind::Jsonl => "jsonl",
            OutputKind::Parquet => "parquet",
            OutputKind::Rejects => "rejects",
        }
    }
}

/// One written output as the manifest records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputRecord {
    pub kind: OutputKind,
    pub path: String,
    pub sha256: String,
    pub size_bytes: u64,
    pub rows: u64,
}

pub struct ManifestParts<'a> {
    pub counters: &'a Counters,
    pub scales: &'a ScaleTable,
    pub inputs: &'a [InputFile],
    pub input_stats: &'a [Option<InputStats>],
    pub outputs: Vec<OutputRecord>,
    pub argv: &'a [String],
    pub aggregated_at: &'a str,
    pub manifest_path: &'a Path,
}

fn input_record(input: &InputFile, stats: Option<&InputStats>) -> InputRecord {
    InputRecord {
        index: input.index,
        path: input.path.to_string_lossy().into_owned(),
        exists: input.is_present(),
        state: match input.state {
            InputState::Missing => InputRecordState::Missing,
            InputState::NotAFile => InputRecordState::NotARegularFile,
            InputState::Present => InputRecordState::Read,
        },
        size_bytes: stats.map(|s| s.bytes),
        sha256: stats.map(|s| s.sha256.clone()),
        rows: stats.map(|s| s.rows),
        corpus_source_override: input.override_label.clone(),
    }
}

pub fn build(parts: ManifestParts<'_>) -> Manifest {
    Manifest {
        schema: MANIFEST_SCHEMA.to_owned(),
        unified_schema: super::unified_schema::UNIFIED_SCHEMA_VERSION.to_owned(),
        counters: *parts.counters,
        scale_conversions: parts.scales.clone(),
        corpus_source_overrides: parts
            .inputs
            .iter()
            .filter_map(|i| {
                i.override_label
                    .as_ref()
                    .map(|l| (i.path.to_string_lossy().into_owned(), l.clone()))
            })
            .collect(),
        run_provenance: Provenance {
            tool: "mosagg".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            argv: parts.argv.to_vec(),
            aggregated_at_utc: parts.aggregated_at.to_owned(),
            manifest_path: Some(parts.manifest_path.to_string_lossy().into_owned()),
            inputs: parts
                .inputs
                .iter()
                .map(|i| {
                    input_record(
                        i,
                        parts
                            .input_stats
                            .get(i.index as usize)
                            .and_then(Option::as_ref),
                    )
                })
                .collect(),
            outputs: parts.outputs,
        },
    }
}

/// Writes the manifest to a temporary file beside its target: pretty JSON with every
/// object's keys sorted (serde_json's map is ordered), whatever the field order above.
pub fn stage(target: &Path, manifest: &Manifest) -> Result<Staged> {
    let context = || format!("writing {}", shown(target));
    let doc = serde_json::to_value(manifest).map_err(|e| Error::Internal(e.to_string()))?;
    let mut out = AtomicOutput::create(target)?;
    serde_json::to_writer_pretty(&mut out, &doc)
        .map_err(|e| Error::io(context(), std::io::Error::other(e)))?;
    out.write_all(b"\n").map_err(|e| Error::io(context(), e))?;
    out.finish()
}
