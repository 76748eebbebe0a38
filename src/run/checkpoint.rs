//! Checkpoints and resume. While a scan runs, its state (where sending is, who answered)
//! and its journal (the answers themselves) are written every few seconds, journal first:
//! a kill at any moment leaves a journal holding every answer the state names, so a
//! resumed run loses nothing probed before the last checkpoint and writes the whole
//! inventory.

use crate::engine::table::Table;
use crate::engine::Position;
use crate::engine::ScanOptions;
use crate::error::{warn, Error, Result};
use crate::run::journal::{self, Journal};
use crate::run::state::{self, State};
use crate::targets::Targets;
use crate::wire::ether::Mac;
use std::path::{Path, PathBuf};

/// What an interrupted run left: its state, and its journal when it has one (a state
/// from before journals, or one whose journal was deleted, resumes without its rows).
pub struct Prior {
    pub state: State,
    pub journal: Option<Journal>,
}

/// Reads the state at `path` and its journal, and checks both against this scan.
pub fn load(
    path: &Path,
    targets: &Targets,
    opts: &mut ScanOptions,
    seed_given: bool,
) -> Result<Prior> {
    let st = State::read(path)?;
    if !seed_given {
        opts.seed = st.seed;
    }
    if st.fingerprint != state::fingerprint(targets, opts) {
        return Err(Error::StateMismatch {
            path: path.to_path_buf(),
            reason: "was written by a scan of other targets or options \
                     (seed, shard, retries and size must match)"
                .into(),
        });
    }
    st.check(targets.len(), opts)
        .map_err(|reason| Error::BadState {
            path: path.to_path_buf(),
            reason,
        })?;
    let jpath = journal::path_for(path);
    let journal = Journal::read(&jpath, opts.retries.saturating_add(1))?;
    if let Some(j) = &journal {
        if j.fingerprint != st.fingerprint || j.targets != st.targets {
            return Err(Error::BadJournal {
                path: jpath,
                reason: format!("belongs to another scan than '{}'", path.display()),
            });
        }
    }
    Ok(Prior { state: st, journal })
}

/// Where a run's checkpoints go: the place the user chose (`Config::state_path`), or
/// else a name of this run's own in the user's state directory, so that no other run can
/// overwrite or remove them (two scans to stdout in one directory once shared
/// `./sweep.state`).
pub fn place(chosen: Option<PathBuf>) -> (PathBuf, bool) {
    match chosen {
        Some(p) => (p, true),
        None => (state_dir().join(own_name()), false),
    }
}

/// `$XDG_STATE_HOME/sweep`, else `~/.local/state/sweep`, else the current directory.
pub fn state_dir() -> PathBuf {
    let absolute = |v: Option<std::ffi::OsString>| v.map(PathBuf::from).filter(|p| p.is_absolute());
    if let Some(x) = absolute(std::env::var_os("XDG_STATE_HOME")) {
        return x.join("sweep");
    }
    match absolute(std::env::var_os("HOME")) {
        Some(h) => h.join(".local/state/sweep"),
        None => PathBuf::from("."),
    }
}

/// `sweep-20261207T190203Z-4242.state`: when the run started, and its pid.
fn own_name() -> String {
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let stamp: String = now.chars().filter(|c| !matches!(c, '-' | ':')).collect();
    format!("sweep-{stamp}-{}.state", std::process::id())
}

/// Writes a scan's checkpoints: its journal, then its state.
pub struct Checkpointer {
    pub state: PathBuf,
    pub journal: PathBuf,
    /// The user chose the place (`--state`, `-o FILE`, `--resume`): a failure to write
    /// there is theirs to hear about. A place sweep chose fails quietly.
    pub chosen: bool,
    seed: u64,
    fingerprint: u64,
    /// A checkpoint was written: the files are this run's, to remove when it completes.
    pub written: bool,
    /// A failure was reported already (a full disk would otherwise say so every time).
    warned: bool,
    /// When the next periodic checkpoint is due: a big scan's checkpoints take a while,
    /// so they are spaced to cost at most about 5 % of the scan.
    next: Option<std::time::Instant>,
}

impl Checkpointer {
    pub fn new((state, chosen): (PathBuf, bool), seed: u64, fingerprint: u64) -> Checkpointer {
        Checkpointer {
            journal: journal::path_for(&state),
            state,
            chosen,
            seed,
            fingerprint,
            written: false,
            warned: false,
            next: None,
        }
    }

    /// Saves the results in `table` and the resume `position`; `mac(i)` is target `i`'s
    /// layer-2 address, if known.
    pub fn save(
        &mut self,
        table: &Table,
        position: Position,
        mac: &dyn Fn(u32) -> Option<Mac>,
    ) -> Result<()> {
        // The state's answers are captured first: answers only accumulate, so the journal
        // captured after it has every one of them (and maybe a few more, which a resume
        // also takes). Written the other way round, so a kill between the two writes
        // leaves a journal newer than the state, never older.
        if !self.chosen {
            make_dir(&self.state)?;
        }
        let st = State::capture(self.seed, self.fingerprint, position, table);
        Journal::write_table(&self.journal, self.fingerprint, table, &st.answered, mac)?;
        st.write(&self.state)?;
        self.written = true;
        Ok(())
    }

    /// A checkpoint while scanning: a failure is reported once and the scan goes on
    /// (the results are still in memory; only a crash would lose them).
    pub fn periodic(
        &mut self,
        table: &Table,
        position: Position,
        mac: &dyn Fn(u32) -> Option<Mac>,
    ) {
        let now = std::time::Instant::now();
        if self.next.is_some_and(|t| now < t) {
            return;
        }
        let saved = self.save(table, position, mac);
        self.next = Some(now + (now.elapsed() * 20).max(std::time::Duration::from_secs(2)));
        if let Err(e) = saved {
            // Nobody asked for checkpoints in a place sweep chose: no warning about them.
            if self.chosen && !self.warned {
                warn(format_args!("sweep: warning: checkpoint failed: {e}"));
                self.warned = true;
            }
        }
    }

    /// The scan is complete and its results written: its checkpoints are obsolete. Only
    /// files this run wrote are removed: an earlier run's state at the same place stays.
    pub fn remove(&self) {
        if self.written {
            for p in [&self.journal, &self.state] {
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

/// The state directory sweep chose, made on first use, readable only by its owner (a
/// journal lists the hosts found).
fn make_dir(state: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    let Some(dir) = state.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Ok(());
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| Error::WriteResults {
            path: dir.to_path_buf(),
            source,
        })
}
