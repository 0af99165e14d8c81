//! Paths as the operator gave them: shown safely in messages, and compared by the file
//! they name rather than by how they are spelt.

use std::ffi::OsStr;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// A path for a message: valid UTF-8 is kept, control characters are escaped (`\n`,
/// `\t`, `\u{7f}`) and bytes that are not UTF-8 are written `\xFF`, so one message is
/// always one line and never garbles a terminal.
pub fn shown(path: &Path) -> String {
    shown_os(path.as_os_str())
}

/// [`shown`] for any OS string (e.g. one command-line argument).
pub fn shown_os(text: &OsStr) -> String {
    let mut out = String::new();
    for chunk in text.as_encoded_bytes().utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if c.is_control() => out.push_str(&c.escape_unicode().to_string()),
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02X}"));
        }
    }
    out
}

/// What a path refers to, for deciding whether two paths are the same file.
#[derive(Debug, Clone, PartialEq, Eq)]
enum FileId {
    /// An existing file: its device and inode (links and other spellings agree).
    Existing { dev: u64, ino: u64 },
    /// A file that does not exist yet, in a folder that does: that folder and the name.
    Planned { dev: u64, ino: u64, name: PathBuf },
    /// Neither the file nor its folder exists: the absolute path, cleaned of `.` and `..`.
    Lexical(PathBuf),
}

#[cfg(unix)]
fn dev_ino(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

#[cfg(not(unix))]
fn dev_ino(_meta: &std::fs::Metadata) -> (u64, u64) {
    (0, 0)
}

fn file_id(path: &Path) -> FileId {
    if let Ok(meta) = std::fs::metadata(path) {
        let (dev, ino) = dev_ino(&meta);
        return FileId::Existing { dev, ino };
    }
    // The folder as the OS resolves it (links, `..`), so `link/x` and `real/x` agree.
    if let Some(name) = path.file_name() {
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        if let Ok(meta) = std::fs::metadata(parent) {
            let (dev, ino) = dev_ino(&meta);
            return FileId::Planned {
                dev,
                ino,
                name: PathBuf::from(name),
            };
        }
    }
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    FileId::Lexical(lexical(&absolute))
}

/// Removes `.` and folds `..` without touching the file system.
pub fn lexical(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// True when both paths name the same file, however they are spelt.
pub fn same_file(a: &Path, b: &Path) -> bool {
    file_id(a) == file_id(b)
}

/// One path a command was given, and the flag that gave it.
pub struct Role<'a> {
    pub flag: &'static str,
    pub path: &'a Path,
}

/// The same flag for every path of a list (`--inputs a b c`).
pub fn roles<'a>(flag: &'static str, paths: &'a [PathBuf]) -> Vec<Role<'a>> {
    paths.iter().map(|path| Role { flag, path }).collect()
}

/// Refuses, before anything is read or written, an output that is also an input, two
/// outputs that are one file, and an output that is an existing folder: usage errors
/// (exit 2) naming both flags. Inputs may repeat among themselves.
pub fn check_outputs(inputs: &[Role<'_>], outputs: &[Role<'_>]) -> Result<()> {
    for out in outputs {
        if out.path.is_dir() {
            return Err(Error::Usage(format!(
                "{} {} is an existing folder; name a file",
                out.flag,
                shown(out.path)
            )));
        }
    }
    let input_ids: Vec<FileId> = inputs.iter().map(|r| file_id(r.path)).collect();
    let output_ids: Vec<FileId> = outputs.iter().map(|r| file_id(r.path)).collect();
    for (i, (out, id)) in outputs.iter().zip(&output_ids).enumerate() {
        if let Some(input) = inputs.iter().zip(&input_ids).find(|(_, x)| *x == id) {
            return Err(Error::Usage(format!(
                "{} {} is the same file as {} {}; refusing to overwrite an input",
                out.flag,
                shown(out.path),
                input.0.flag,
                shown(input.0.path)
            )));
        }
        if let Some((other, _)) = outputs[..i].iter().zip(&output_ids).find(|(_, x)| *x == id) {
            return Err(Error::Usage(format!(
                "{} {} and {} {} are the same file; give each output its own path",
                other.flag,
                shown(other.path),
                out.flag,
                shown(out.path)
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_and_bad_bytes_are_escaped() {
        assert_eq!(shown(Path::new("a\nb\tc.jsonl")), "a\\nb\\tc.jsonl");
        assert_eq!(shown(Path::new("ok/ü.jsonl")), "ok/ü.jsonl");
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            let p = Path::new(OsStr::from_bytes(b"bad\xff.jsonl"));
            assert_eq!(shown(p), "bad\\xFF.jsonl");
        }
        assert_eq!(shown(Path::new("\u{1b}[31m")), "\\u{1b}[31m");
    }

    #[test]
    fn spelling_does_not_matter_for_missing_paths() {
        assert!(same_file(
            Path::new("./src/../nonexistent.jsonl"),
            Path::new("nonexistent.jsonl")
        ));
        assert!(same_file(
            Path::new("no-such-dir/x/../b.jsonl"),
            Path::new("./no-such-dir/b.jsonl")
        ));
        assert!(!same_file(Path::new("a.jsonl"), Path::new("b.jsonl")));
    }
}
