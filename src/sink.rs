//! Where the CSV goes: stdout, or a temp file beside `-o FILE` renamed into place only when
//! complete, so a failed or interrupted run never leaves a half-written file.

use crate::error::{Error, Result};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use tempfile::NamedTempFile;

pub enum Sink {
    Stdout,
    File {
        tmp: NamedTempFile,
        path: PathBuf,
    },
    /// A device or FIFO (`-o /dev/null`, a named pipe): written in place, since renaming
    /// over it would replace it.
    Special(std::fs::File),
}

impl Sink {
    /// Proves the output is writable before anything is sent (the temp file is removed if
    /// the run fails).
    pub fn prepare(path: Option<&Path>) -> Result<Sink> {
        let Some(path) = path else {
            return Ok(Sink::Stdout);
        };
        let err = |source| Error::Output {
            path: path.to_path_buf(),
            source,
        };
        if path.is_dir() {
            return Err(err(io::Error::new(
                io::ErrorKind::IsADirectory,
                "is a directory",
            )));
        }
        if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(err)?;
            return Ok(Sink::Special(f));
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let tmp = tempfile::Builder::new()
            .prefix(".sweep-")
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(err)?;
        Ok(Sink::File {
            tmp,
            path: path.to_path_buf(),
        })
    }

    /// Writes everything through `fill`, then (for a file) renames it into place.
    pub fn finish(self, fill: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<()> {
        match self {
            Sink::Stdout => {
                let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
                fill(&mut out).map_err(Error::Write)
            }
            Sink::Special(f) => {
                let mut out = BufWriter::with_capacity(1 << 16, f);
                fill(&mut out).map_err(Error::Write)
            }
            Sink::File { mut tmp, path } => {
                let err = |source| Error::Output {
                    path: path.clone(),
                    source,
                };
                {
                    let mut out = BufWriter::with_capacity(1 << 16, tmp.as_file_mut());
                    fill(&mut out).map_err(err)?;
                }
                set_readable(tmp.as_file()).map_err(err)?;
                tmp.persist(&path).map_err(|e| err(e.error))?;
                Ok(())
            }
        }
    }
}

/// Writes `bytes` to a temp file beside `path`, fsyncs it, renames it over `path` and
/// fsyncs the directory, so after a crash `path` holds either the old or the new bytes.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = parent_dir(path);
    let mut tmp = tempfile::Builder::new()
        .prefix(".sweep-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    set_readable(tmp.as_file())?;
    persist(tmp, path)
}

/// fsync the temp file, rename it to `path`, fsync the directory holding both.
fn persist(tmp: NamedTempFile, path: &Path) -> io::Result<()> {
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    std::fs::File::open(parent_dir(path))?.sync_all()
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Temp files are created 0600; results are an ordinary file, so honour the umask instead.
fn set_readable(f: &std::fs::File) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    // SAFETY: umask only swaps a process-wide mask; set it straight back.
    let mask = unsafe {
        let m = libc::umask(0o022);
        libc::umask(m);
        m
    };
    f.set_permissions(std::fs::Permissions::from_mode(0o666 & !mask))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_are_written_in_place_and_files_atomically() {
        let dev = Path::new("/dev/null");
        let sink = Sink::prepare(Some(dev)).unwrap();
        assert!(matches!(sink, Sink::Special(_)));
        sink.finish(|w| w.write_all(b"x")).unwrap();
        assert!(!std::fs::metadata(dev).unwrap().is_file());

        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.csv");
        let sink = Sink::prepare(Some(&p)).unwrap();
        assert!(!p.exists(), "nothing at the final path before the end");
        sink.finish(|w| w.write_all(b"a,b\r\n")).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"a,b\r\n");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "temp file gone"
        );
    }
}
