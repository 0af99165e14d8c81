//! The manifest: what was read, what was written, with which table, and the counters.

use std::io::Write;

use serde_json::{Value, json};

use super::atomic::{AtomicOutput, Staged};
use crate::counters::Counters;
use crate::error::{Error, Result};
use crate::loader::{InputFile, InputState, InputStats};
use crate::scales::ScaleTable;

pub const MANIFEST_SCHEMA: &str = "mos-corpus-aggregate-manifest-v1";

/// One written output as the manifest records it.
pub struct OutputRecord {
    pub kind: &'static str,
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
    pub rows: u64,
}

pub struct ManifestParts<'a> {
    pub counters: &'a Counters,
    pub scales: &'a ScaleTable,
    pub inputs: &'a [InputFile],
    pub input_stats: &'a [Option<InputStats>],
    pub outputs: &'a [OutputRecord],
    pub argv: &'a [String],
    pub aggregated_at: &'a str,
}

fn input_entry(input: &InputFile, stats: Option<&InputStats>) -> Value {
    let state = match input.state {
        InputState::Missing => "missing",
        InputState::NotAFile => "not_a_regular_file",
        InputState::Present => "read",
    };
    json!({
        "index": input.index,
        "path": input.display,
        "exists": input.is_present(),
        "state": state,
        "size_bytes": stats.map(|s| s.bytes),
        "sha256": stats.map(|s| s.sha256.clone()),
        "rows": stats.map(|s| s.rows),
        "corpus_source_override": input.override_label,
    })
}

/// The manifest document; serde_json's maps keep keys sorted.
pub fn build(parts: &ManifestParts<'_>) -> Result<Value> {
    let overrides: serde_json::Map<String, Value> = parts
        .inputs
        .iter()
        .filter_map(|i| {
            i.override_label
                .as_ref()
                .map(|l| (i.display.clone(), Value::from(l.clone())))
        })
        .collect();
    let inputs: Vec<Value> = parts
        .inputs
        .iter()
        .map(|i| {
            input_entry(
                i,
                parts
                    .input_stats
                    .get(i.index as usize)
                    .and_then(Option::as_ref),
            )
        })
        .collect();
    let outputs: Vec<Value> = parts
        .outputs
        .iter()
        .map(|o| {
            json!({"kind": o.kind, "path": o.path, "sha256": o.sha256, "size_bytes": o.bytes, "rows": o.rows})
        })
        .collect();
    let counters =
        serde_json::to_value(parts.counters).map_err(|e| Error::Internal(e.to_string()))?;
    let scales = serde_json::to_value(parts.scales).map_err(|e| Error::Internal(e.to_string()))?;
    Ok(json!({
        "schema": MANIFEST_SCHEMA,
        "unified_schema": super::unified_schema::UNIFIED_SCHEMA_VERSION,
        "counters": counters,
        "scale_conversions": scales,
        "corpus_source_overrides": overrides,
        "run_provenance": {
            "tool": "mosagg",
            "version": env!("CARGO_PKG_VERSION"),
            "argv": parts.argv,
            "aggregated_at_utc": parts.aggregated_at,
            "inputs": inputs,
            "outputs": outputs,
        },
    }))
}

/// Writes the manifest to a temporary file beside its target.
pub fn stage(target: &std::path::Path, manifest: &Value) -> Result<Staged> {
    let mut out = AtomicOutput::create(target)?;
    let context = || format!("writing {}", crate::paths::shown(target));
    serde_json::to_writer_pretty(&mut out, manifest)
        .map_err(|e| Error::io(context(), std::io::Error::other(e)))?;
    out.write_all(b"\n").map_err(|e| Error::io(context(), e))?;
    out.finish()
}
