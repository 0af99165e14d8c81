//! `mosagg verify MANIFEST`: re-hash every input and output a manifest lists and say
//! whether the training set is still the one the manifest describes.
//!
//! Paths are recorded as they were given on the command line, so relative ones only
//! mean something from the folder the run worked in. That folder is inferred from
//! where the manifest now is and the path it was written to (`.../out.manifest.json`
//! written as `out.manifest.json` means the run worked in `...`); when it cannot be
//! inferred, relative paths resolve from the current folder. `--base DIR` overrides both.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::job::sibling;

use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::sha::hex;
use crate::writers::manifest::{
    InputRecordState, MANIFEST_SCHEMA, Manifest, OutputKind, Provenance,
};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// A manifest written by `mosagg aggregate` or `mosagg run`.
    #[arg(value_name = "MANIFEST")]
    pub manifest: PathBuf,
    /// Resolve relative paths against DIR [default: the folder the run worked in, inferred
    /// from where the manifest is, else the current folder].
    #[arg(long, value_name = "DIR")]
    pub base: Option<PathBuf>,
}

/// One file the manifest lists, as recorded.
#[derive(Debug, Clone)]
struct Entry {
    /// "input" or "output (jsonl)" etc.
    role: String,
    path: String,
    /// False for an input that was missing when the manifest was written.
    existed: bool,
    /// An input that existed then but was not a regular file (a folder, say): not read.
    was_not_a_file: bool,
    sha256: Option<String>,
}

/// What was found on disk for one entry.
#[derive(Debug, Clone, PartialEq)]
enum Finding {
    Match,
    /// An input that was missing then and still is: nothing changed.
    StillAbsent,
    Changed {
        actual: String,
    },
    Vanished,
    /// An input that was missing then but exists now: a re-run would read it.
    Appeared,
    /// An input that was not a regular file then and still is not: a re-run skips it too.
    StillNotAFile,
    NoHashRecorded,
    Unreadable(String),
}

impl Finding {
    fn is_ok(&self) -> bool {
        matches!(
            self,
            Finding::Match | Finding::StillAbsent | Finding::StillNotAFile
        )
    }

    fn word(&self) -> &'static str {
        match self {
            Finding::Match => "ok",
            Finding::StillAbsent => "absent",
            Finding::StillNotAFile => "skipped",
            Finding::Changed { .. } => "CHANGED",
            Finding::Vanished => "MISSING",
            Finding::Appeared => "APPEARED",
            Finding::NoHashRecorded => "NO-HASH",
            Finding::Unreadable(_) => "UNREADABLE",
        }
    }
}

pub fn execute(args: Args) -> Result<i32> {
    let shown = crate::paths::shown(&args.manifest);
    // A run killed while committing leaves the new set whole but not yet in place.
    if crate::writers::output_set::finish_interrupted(&args.manifest)? {
        println!("[mosagg verify] completed the interrupted commit of {shown} first");
    }
    let (entries, written_as) = read_manifest(&args.manifest)?;
    let base = match &args.base {
        Some(dir) => Some(dir.clone()),
        None => {
            let inferred = written_as
                .as_deref()
                .and_then(|w| working_folder(&args.manifest, Path::new(w)));
            if let Some(dir) = &inferred {
                println!(
                    "[mosagg verify] relative paths resolve from {} (where the run wrote this manifest)",
                    crate::paths::shown(dir)
                );
            }
            inferred
        }
    };

    let located: Vec<PathBuf> = entries
        .iter()
        .map(|e| locate(&e.path, base.as_deref()))
        .collect();
    let total: u64 = located
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let bar = Progress::new("verify", total);
    let mut done = 0u64;
    let mut findings = Vec::with_capacity(entries.len());
    for (entry, path) in entries.iter().zip(&located) {
        let finding = check(entry, path, |n| {
            done += n;
            bar.update(done, 0);
        });
        findings.push((entry, finding));
    }
    bar.clear();

    let mut failed = Vec::new();
    for (entry, finding) in &findings {
        let note = match finding {
            Finding::Changed { actual } => format!(
                " (sha256 {} recorded, {} now)",
                short(entry.sha256.as_deref().unwrap_or("")),
                short(actual)
            ),
            Finding::Unreadable(why) => format!(" ({why})"),
            Finding::StillAbsent => {
                " (missing when the manifest was written, still missing)".into()
            }
            Finding::Appeared => {
                if entry.was_not_a_file {
                    " (not a regular file when the manifest was written, a file now)".into()
                } else {
                    " (missing when the manifest was written, exists now)".into()
                }
            }
            Finding::StillNotAFile => " (not a regular file, so a re-run skips it too)".into(),
            Finding::NoHashRecorded => " (the manifest records no sha256 for it)".into(),
            _ => String::new(),
        };
        println!(
            "{:<10} {:<16} {}{note}",
            finding.word(),
            entry.role,
            crate::paths::shown(Path::new(&entry.path))
        );
        if !finding.is_ok() {
            failed.push(crate::paths::shown(Path::new(&entry.path)));
        }
    }
    if failed.is_empty() {
        println!(
            "[mosagg verify] all {} file(s) match {shown}",
            findings.len()
        );
        return Ok(0);
    }
    Err(Error::Exit {
        code: 1,
        message: format!(
            "{} of {} file(s) listed in {shown} changed or vanished: {}",
            failed.len(),
            findings.len(),
            failed.join(", ")
        ),
    })
}

/// A manifest lists each input and output once: even a run over thousands of shards
/// writes well under this.
const MAX_MANIFEST_BYTES: u64 = 64 << 20;

/// The inputs and outputs a manifest lists, and the path the manifest was written to
/// (as given then). A manifest that cannot be found is exit 2; one that cannot be read
/// or is not a mosagg manifest is exit 1.
fn read_manifest(path: &Path) -> Result<(Vec<Entry>, Option<String>)> {
    let shown = crate::paths::shown(path);
    let bad = |why: String| Error::Exit {
        code: 1,
        message: format!("{shown}: {why}"),
    };
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::NoInput(format!("manifest not found: {shown}")));
        }
        Err(e) => return Err(Error::io(format!("reading {shown}"), e)),
    };
    // A device such as /dev/zero never ends; a manifest is a small regular file.
    if !meta.is_file() {
        return Err(bad("not a regular file, so not a manifest".into()));
    }
    if meta.len() > MAX_MANIFEST_BYTES {
        return Err(bad(format!(
            "{} bytes is far more than any manifest; not a manifest",
            meta.len()
        )));
    }
    let mut text = String::new();
    File::open(path)
        .and_then(|f| f.take(MAX_MANIFEST_BYTES + 1).read_to_string(&mut text))
        .map_err(|e| Error::io(format!("reading {shown}"), e))?;
    let doc: Value =
        serde_json::from_str(&text).map_err(|e| bad(format!("not valid JSON ({e})")))?;
    let schema = doc.get("schema").and_then(Value::as_str);
    if schema != Some(MANIFEST_SCHEMA) {
        return Err(bad(format!(
            "not a mosagg manifest (schema {}, expected {MANIFEST_SCHEMA})",
            schema.map_or("missing".into(), |s| format!("{s:?}"))
        )));
    }
    let manifest: Manifest =
        serde_json::from_value(doc).map_err(|e| bad(format!("a malformed manifest ({e})")))?;
    let prov = &manifest.run_provenance;
    let inputs = prov.inputs.iter().map(|i| Entry {
        role: "input".to_owned(),
        path: i.path.clone(),
        existed: i.exists,
        was_not_a_file: i.state == InputRecordState::NotARegularFile,
        sha256: i.sha256.clone(),
    });
    let outputs = prov.outputs.iter().map(|o| Entry {
        role: format!("output ({})", o.kind.as_str()),
        path: o.path.clone(),
        existed: true,
        was_not_a_file: false,
        sha256: Some(o.sha256.clone()),
    });
    let entries = inputs.chain(outputs).collect();
    Ok((entries, manifest_written_as(prov)))
}

/// The manifest's own path as the run spelt it: recorded since 0.1.1; before that,
/// the default beside the JSONL output.
fn manifest_written_as(prov: &Provenance) -> Option<String> {
    if let Some(p) = &prov.manifest_path {
        return Some(p.clone());
    }
    let jsonl = prov.outputs.iter().find(|o| o.kind == OutputKind::Jsonl)?;
    Some(
        sibling(Path::new(&jsonl.path), ".manifest.json")
            .to_string_lossy()
            .into_owned(),
    )
}

/// The folder the run worked in: the manifest's absolute location minus the relative
/// path it was written to. None when that path was absolute or does not fit.
fn working_folder(manifest: &Path, written_as: &Path) -> Option<PathBuf> {
    use std::path::Component;
    if written_as.is_absolute() {
        return None;
    }
    let mut tail = Vec::new();
    for c in written_as.components() {
        match c {
            Component::Normal(n) => tail.push(n.to_owned()),
            Component::CurDir => {}
            // `..` cannot be undone without knowing the folder it climbed out of.
            _ => return None,
        }
    }
    let mut folder = std::fs::canonicalize(manifest).ok()?;
    for name in tail.iter().rev() {
        if folder.file_name()? != name.as_os_str() {
            return None;
        }
        folder.pop();
    }
    Some(folder)
}

/// Where to look for a recorded path.
fn locate(recorded: &str, base: Option<&Path>) -> PathBuf {
    let p = Path::new(recorded);
    match base {
        Some(base) if p.is_relative() => base.join(p),
        _ => p.to_path_buf(),
    }
}

fn check(entry: &Entry, path: &Path, progress: impl FnMut(u64)) -> Finding {
    let exists = path.is_file();
    if !entry.existed {
        return if exists {
            Finding::Appeared
        } else if path.exists() {
            Finding::StillNotAFile
        } else {
            Finding::StillAbsent
        };
    }
    if !exists {
        return if path.exists() {
            Finding::Unreadable("not a regular file".into())
        } else {
            Finding::Vanished
        };
    }
    let Some(expected) = entry.sha256.as_deref() else {
        return Finding::NoHashRecorded;
    };
    match sha256_of(path, progress) {
        Ok(actual) if actual.eq_ignore_ascii_case(expected) => Finding::Match,
        Ok(actual) => Finding::Changed { actual },
        Err(e) => Finding::Unreadable(e.to_string()),
    }
}

fn sha256_of(path: &Path, mut progress: impl FnMut(u64)) -> std::io::Result<String> {
    // Straight from the disk where the file is not cached: a large output was written
    // that way and is not in the page cache (see file_bytes.rs).
    let mut file = crate::file_bytes::FileBytes::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        progress(n as u64);
    }
    Ok(hex(&hasher.finalize()))
}

/// The first 12 hex digits: enough to tell two hashes apart in a report line.
fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_paths_are_taken_as_they_are() {
        let p = locate("/nonexistent/x.jsonl", Some(Path::new("/data")));
        assert_eq!(p, PathBuf::from("/nonexistent/x.jsonl"));
    }

    #[test]
    fn base_pins_relative_paths() {
        let p = locate("a/x.jsonl", Some(Path::new("/data")));
        assert_eq!(p, PathBuf::from("/data/a/x.jsonl"));
        assert_eq!(locate("a/x.jsonl", None), PathBuf::from("a/x.jsonl"));
    }

    #[test]
    fn recorded_manifest_path_comes_from_the_field_or_the_jsonl() {
        let mut prov: Provenance = serde_json::from_value(serde_json::json!({
            "tool": "mosagg", "version": "0.1.0", "argv": [], "aggregated_at_utc": "",
            "inputs": [],
            "outputs": [{"kind": "jsonl", "path": "out/u.jsonl", "sha256": "", "size_bytes": 0, "rows": 0}]}))
        .expect("provenance");
        assert_eq!(
            manifest_written_as(&prov).as_deref(),
            Some("out/u.manifest.json")
        );
        prov.manifest_path = Some("m/x.json".into());
        assert_eq!(manifest_written_as(&prov).as_deref(), Some("m/x.json"));
    }

    #[test]
    fn short_hashes_tolerate_short_text() {
        assert_eq!(short("abc"), "abc");
        assert_eq!(short("0123456789abcdef"), "0123456789ab");
    }
}
