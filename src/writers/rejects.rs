//! The rejects ledger: one JSON line for every input row that is not in the output.

use std::io::Write;

use super::atomic::{AtomicOutput, Staged};
use crate::engine::aggregate::Reject;
use crate::error::{Error, Result};
use crate::json::write::{write_int, write_str};

pub fn stage(target: &std::path::Path, rejects: &[Reject]) -> Result<Staged> {
    let mut out = AtomicOutput::create(target)?;
    let mut line = Vec::with_capacity(512);
    for r in rejects {
        line.clear();
        // Keys in sorted order, like every JSON line mosagg writes.
        line.extend_from_slice(b"{\"detail\": ");
        write_str(&mut line, &r.detail);
        if let Some((path, kept_line)) = &r.kept {
            line.extend_from_slice(b", \"kept_line\": ");
            write_int(&mut line, i64::try_from(*kept_line).unwrap_or(i64::MAX));
            line.extend_from_slice(b", \"kept_path\": ");
            write_str(&mut line, path);
        }
        line.extend_from_slice(b", \"line\": ");
        write_int(&mut line, i64::try_from(r.line).unwrap_or(i64::MAX));
        line.extend_from_slice(b", \"path\": ");
        write_str(&mut line, &r.path);
        line.extend_from_slice(b", \"reason\": ");
        write_str(&mut line, r.reason.as_str());
        line.extend_from_slice(b"}\n");
        out.write_all(&line)
            .map_err(|e| Error::io(format!("writing {}", crate::paths::shown(target)), e))?;
    }
    out.finish()
}
