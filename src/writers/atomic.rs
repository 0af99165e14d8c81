//! Output files that appear whole or not at all, hashed as they are written.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;

use crate::error::{Error, Result};

/// A file being written beside its target. Dropping it without `commit` deletes it.
pub struct AtomicOutput {
    target: PathBuf,
    writer: BufWriter<NamedTempFile>,
    hasher: Sha256,
    bytes: u64,
}

/// A written, hashed temporary file waiting to be renamed into place.
pub struct Staged {
    target: PathBuf,
    file: NamedTempFile,
    pub sha256: String,
    pub bytes: u64,
}

impl AtomicOutput {
    /// Creates the target's folder if needed and a hidden temporary file in it,
    /// so the final rename never crosses file systems.
    pub fn create(target: &Path) -> Result<Self> {
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("creating folder {}", dir.display()), e))?;
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let file = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .tempfile_in(&dir)
            .map_err(|e| Error::io(format!("creating a temporary file in {}", dir.display()), e))?;
        // Temporary files are private (0600); the finished output is an ordinary file.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o644))
                .map_err(|e| Error::io(format!("creating {}", target.display()), e))?;
        }
        Ok(Self {
            target: target.to_path_buf(),
            writer: BufWriter::with_capacity(1 << 20, file),
            hasher: Sha256::new(),
            bytes: 0,
        })
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Flushes and hashes; the file still sits under its temporary name.
    pub fn finish(self) -> Result<Staged> {
        let target = self.target;
        let file = self
            .writer
            .into_inner()
            .map_err(|e| Error::io(format!("writing {}", target.display()), e.into_error()))?;
        file.as_file()
            .sync_all()
            .map_err(|e| Error::io(format!("writing {}", target.display()), e))?;
        Ok(Staged {
            sha256: crate::loader::scan::hex(&self.hasher.finalize()),
            bytes: self.bytes,
            target,
            file,
        })
    }
}

impl Write for AtomicOutput {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.writer.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.writer.flush()
    }
}

impl Staged {
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Renames the file into place, replacing whatever was there.
    pub fn commit(self) -> Result<()> {
        let target = self.target;
        self.file
            .persist(&target)
            .map_err(|e| Error::io(format!("renaming into {}", target.display()), e.error))?;
        Ok(())
    }
}
