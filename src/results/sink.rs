//! Where results go: stdout; a regular file, written to a temp file beside it (beside the
//! file a symlinked `-o` points to) and renamed into place only when complete, so a failed
//! or interrupted run never leaves a half-written file; or a special file (a device, a
//! FIFO, a `/proc` fd link such as /dev/stdout), written in place, since renaming over it
//! would replace it. Nothing is ever created in /dev or /proc.

use crate::error::{Error, Result};
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use tempfile::NamedTempFile;

pub enum Sink {
    Stdout,
    /// A regular file, new or replaced: `target` is where the bytes go (symlinks followed),
    /// `shown` the name the user gave. The temp file is only made when writing starts.
    File {
        target: PathBuf,
        shown: PathBuf,
    },
    /// Written in place: a device, FIFO, socket, or anything in /dev or /proc.
    Special {
        file: File,
        shown: PathBuf,
    },
}

/// What an output path is, once its symlinks are followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A regular file (or none yet) at this real path: write beside it and rename.
    Replace(PathBuf),
    /// Open this path and write into it; `append` for a regular file reached through a
    /// /proc fd link, whose shell redirect (`>` or `>>`) decided truncation already.
    InPlace { path: PathBuf, append: bool },
}

/// Symlinks followed at most, as the kernel does (ELOOP).
const MAX_LINKS: usize = 40;

fn in_dev_or_proc(p: &Path) -> (bool, bool) {
    (p.starts_with("/dev"), p.starts_with("/proc"))
}

/// Follows `path`'s symlinks to what would really be written. Directories are errors,
/// and so is a file that does not exist in /dev or /proc (it is never created there).
pub fn resolve(path: &Path) -> io::Result<Target> {
    let mut p = std::path::absolute(path)?;
    for _ in 0..MAX_LINKS {
        let Some(name) = p.file_name().map(|n| n.to_os_string()) else {
            return Err(io::Error::new(
                io::ErrorKind::IsADirectory,
                "is a directory",
            ));
        };
        // The directory, really: /dev/fd/1 is /proc/PID/fd/1.
        let dir = std::fs::canonicalize(parent_dir(&p))?;
        p = dir.join(name);
        let (dev, proc) = in_dev_or_proc(&p);
        if proc {
            // /proc links (fd/1 → "pipe:[…]") are resolved by the kernel on open.
            let regular = std::fs::metadata(&p)?.is_file();
            return Ok(Target::InPlace {
                path: p,
                append: regular,
            });
        }
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let link = std::fs::read_link(&p)?;
                p = dir.join(link);
            }
            Ok(m) if m.is_dir() => {
                return Err(io::Error::new(
                    io::ErrorKind::IsADirectory,
                    "is a directory",
                ))
            }
            Ok(m) if m.is_file() && !dev => return Ok(Target::Replace(p)),
            Ok(_) => {
                return Ok(Target::InPlace {
                    path: p,
                    append: false,
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound && dev => {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!("will not create {} in /dev", p.display()),
                ))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Target::Replace(p)),
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        "too many levels of symbolic links",
    ))
}

/// True when `path` would be written in place (or cannot be written): its state file must
/// then go elsewhere than `PATH.state`.
pub fn is_special(path: &Path) -> bool {
    !matches!(resolve(path), Ok(Target::Replace(_)))
}

impl Sink {
    /// Proves the output is writable before anything is sent, without creating anything:
    /// a special file is opened; for a regular one, its directory must be writable.
    pub fn prepare(path: Option<&Path>) -> Result<Sink> {
        let Some(path) = path else {
            return Ok(Sink::Stdout);
        };
        let err = |source| Error::Output {
            path: path.to_path_buf(),
            source,
        };
        match resolve(path).map_err(err)? {
            Target::InPlace { path: real, append } => {
                let file = open_in_place(&real, append).map_err(err)?;
                takes_writes(&file).map_err(err)?;
                Ok(Sink::Special {
                    file,
                    shown: path.to_path_buf(),
                })
            }
            Target::Replace(target) => {
                writable_dir(parent_dir(&target)).map_err(err)?;
                Ok(Sink::File {
                    target,
                    shown: path.to_path_buf(),
                })
            }
        }
    }

    /// Checks again that a file's directory is writable, with the credentials the run
    /// writes with (after the capabilities were dropped: root without CAP_DAC_OVERRIDE
    /// cannot write another user's directory).
    pub fn recheck(&self) -> Result<()> {
        match self {
            Sink::File { target, shown } => {
                writable_dir(parent_dir(target)).map_err(|source| Error::Output {
                    path: shown.clone(),
                    source,
                })
            }
            Sink::Stdout | Sink::Special { .. } => Ok(()),
        }
    }

    /// Writes everything through `fill`, then (for a file) fsyncs it and renames it into
    /// place. A failure here comes after the work was done: `WriteResults`, exit 3.
    pub fn finish(self, fill: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<()> {
        match self {
            Sink::Stdout => {
                let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
                fill(&mut out)
                    .and_then(|()| out.flush())
                    .map_err(Error::Write)
            }
            Sink::Special { file, shown } => {
                let mut out = BufWriter::with_capacity(1 << 16, file);
                fill(&mut out)
                    .and_then(|()| out.flush())
                    .map_err(|source| Error::WriteResults {
                        path: shown,
                        source,
                    })
            }
            Sink::File { target, shown } => {
                let err = |source| Error::WriteResults {
                    path: shown.clone(),
                    source,
                };
                let mut tmp = temp_beside(&target).map_err(err)?;
                {
                    let mut out = BufWriter::with_capacity(1 << 16, tmp.as_file_mut());
                    fill(&mut out).and_then(|()| out.flush()).map_err(err)?;
                }
                set_readable(tmp.as_file()).map_err(err)?;
                persist(tmp, &target).map_err(err)
            }
        }
    }
}

fn open_in_place(path: &Path, append: bool) -> io::Result<File> {
    // Never `create`: a missing /proc or /dev entry is an error, not a new file.
    OpenOptions::new().write(true).append(append).open(path)
}

/// A regular file opened in place (through /proc) may still refuse every write, as
/// /proc/version does: an empty write finds out before anything is sent. Only for regular
/// files: on a socket or a device an empty write can mean something.
fn takes_writes(mut file: &File) -> io::Result<()> {
    if file.metadata()?.is_file() {
        let wrote = file.write(&[])?;
        debug_assert_eq!(wrote, 0);
    }
    Ok(())
}

fn temp_beside(target: &Path) -> io::Result<NamedTempFile> {
    tempfile::Builder::new()
        .prefix(".sweep-")
        .suffix(".tmp")
        .tempfile_in(parent_dir(target))
}

/// access(2) W_OK: may this process write `p` (a read-only mount says no, even to root)?
fn writable(p: &Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path has a NUL byte"))?;
    // SAFETY: `c` is a valid NUL-terminated path; access only reads it.
    if unsafe { libc::access(c.as_ptr(), libc::W_OK) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn writable_dir(dir: &Path) -> io::Result<()> {
    if !std::fs::metadata(dir)?.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotADirectory,
            "not a directory",
        ));
    }
    writable(dir)
}

/// Writes `bytes` to `path` as results are written: atomically (temp file beside it,
/// fsync, rename, fsync of the directory), or in place for a special file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    match resolve(path)? {
        Target::InPlace { path, append } => open_in_place(&path, append)?.write_all(bytes),
        Target::Replace(target) => {
            let mut tmp = temp_beside(&target)?;
            tmp.write_all(bytes)?;
            set_readable(tmp.as_file())?;
            persist(tmp, &target)
        }
    }
}

/// `write_atomically` for text made while it is written: `fill` streams into the temp
/// file (buffered), so a large checkpoint never sits in memory whole.
pub fn write_atomically_with(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    match resolve(path)? {
        Target::InPlace { path, append } => {
            let mut w = io::BufWriter::new(open_in_place(&path, append)?);
            fill(&mut w)?;
            w.flush()
        }
        Target::Replace(target) => {
            let mut tmp = temp_beside(&target)?;
            {
                let mut w = io::BufWriter::new(tmp.as_file_mut());
                fill(&mut w)?;
                w.flush()?;
            }
            set_readable(tmp.as_file())?;
            persist(tmp, &target)
        }
    }
}

/// fsync the temp file, rename it to `path`, fsync the directory holding both, so after
/// a crash `path` holds the old bytes or all of the new ones.
fn persist(tmp: NamedTempFile, path: &Path) -> io::Result<()> {
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    File::open(parent_dir(path))?.sync_all()
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Temp files are created 0600; results are an ordinary file, so honour the umask instead.
fn set_readable(f: &File) -> io::Result<()> {
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

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn devices_are_written_in_place_and_files_atomically() {
        let dev = Path::new("/dev/null");
        let sink = Sink::prepare(Some(dev)).unwrap();
        assert!(matches!(sink, Sink::Special { .. }));
        sink.finish(|w| w.write_all(b"x")).unwrap();
        assert!(!std::fs::metadata(dev).unwrap().is_file());

        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.csv");
        let sink = Sink::prepare(Some(&p)).unwrap();
        assert!(
            names(dir.path()).is_empty(),
            "no temp file before writing starts"
        );
        sink.finish(|w| w.write_all(b"a,b\r\n")).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"a,b\r\n");
        assert_eq!(names(dir.path()), ["out.csv"], "temp file gone");
    }

    #[test]
    fn a_symlinked_output_replaces_its_target_and_keeps_the_link() {
        let dir = tempfile::tempdir().unwrap();
        let real_dir = dir.path().join("real");
        std::fs::create_dir(&real_dir).unwrap();
        let target = real_dir.join("hosts.csv");
        std::fs::write(&target, "old").unwrap();
        let link = dir.path().join("link.csv");
        std::os::unix::fs::symlink("real/hosts.csv", &link).unwrap();
        let sink = Sink::prepare(Some(&link)).unwrap();
        sink.finish(|w| w.write_all(b"new")).unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        assert_eq!(names(&real_dir), ["hosts.csv"]);
        // A dangling link: the file is created where it points.
        let dangling = dir.path().join("d.csv");
        std::os::unix::fs::symlink(real_dir.join("new.csv"), &dangling).unwrap();
        Sink::prepare(Some(&dangling))
            .unwrap()
            .finish(|w| w.write_all(b"n"))
            .unwrap();
        assert_eq!(std::fs::read(real_dir.join("new.csv")).unwrap(), b"n");
        // A loop is an error, not a hang.
        let a = dir.path().join("a");
        std::os::unix::fs::symlink("b", &a).unwrap();
        std::os::unix::fs::symlink("a", dir.path().join("b")).unwrap();
        assert!(Sink::prepare(Some(&a)).is_err());
    }

    #[test]
    fn fd_links_and_fifos_are_written_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("redirect.txt");
        let f = File::create(&out).unwrap();
        use std::os::fd::AsRawFd;
        let fd_link = PathBuf::from(format!("/proc/self/fd/{}", f.as_raw_fd()));
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&fd_link, &link).unwrap();
        assert!(matches!(
            resolve(&link).unwrap(),
            Target::InPlace { append: true, .. }
        ));
        Sink::prepare(Some(&link))
            .unwrap()
            .finish(|w| w.write_all(b"through the fd"))
            .unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read(&out).unwrap(), b"through the fd");
        assert_eq!(names(dir.path()), ["link", "redirect.txt"]);
        let fd_dev = PathBuf::from(format!("/dev/fd/{}", f.as_raw_fd()));
        assert!(matches!(resolve(&fd_dev).unwrap(), Target::InPlace { .. }));
        assert!(is_special(&fd_dev) && is_special(Path::new("/dev/stdout")));

        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid path; mkfifo only creates the FIFO.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(fifo).unwrap())
        };
        Sink::prepare(Some(&fifo))
            .unwrap()
            .finish(|w| w.write_all(b"piped"))
            .unwrap();
        assert_eq!(reader.join().unwrap(), b"piped");
        assert!(is_special(&fifo));
    }

    #[test]
    fn nothing_is_created_in_dev_or_proc() {
        for p in [
            "/dev/sweep-test-nonexistent.csv",
            "/proc/self/sweep.csv",
            "/proc/self/fd/999999",
        ] {
            let e = Sink::prepare(Some(Path::new(p))).err().unwrap();
            assert_eq!(e.exit_code(), 2, "{p}: {e}");
            assert!(!Path::new(p).exists());
            assert!(is_special(Path::new(p)));
        }
        assert!(write_atomically(Path::new("/dev/sweep-test-nonexistent.state"), b"x").is_err());
        write_atomically(Path::new("/dev/null"), b"x").unwrap();
        assert!(!std::fs::metadata("/dev/null").unwrap().is_file());
    }

    #[test]
    fn write_failures_are_runtime_errors() {
        let e = Sink::prepare(Some(Path::new("/dev/full")))
            .unwrap()
            .finish(|w| w.write_all(&[b'x'; 1 << 17]))
            .unwrap_err();
        assert_eq!(e.exit_code(), 3, "{e}");
        assert!(e.to_string().contains("/dev/full"), "{e}");
        let e = Sink::prepare(Some(Path::new("/nonexistent-dir/x.csv")))
            .err()
            .unwrap();
        assert_eq!(e.exit_code(), 2);
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            Sink::prepare(Some(dir.path())).err().unwrap().exit_code(),
            2
        );
    }
}
