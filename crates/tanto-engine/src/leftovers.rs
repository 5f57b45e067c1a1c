//! What an engine keeps in the run dir besides its bundles — secret files
//! (`secrets/`), socket proxies (`sockets/`) and the journal of exports in
//! progress (`exports/`) — named after their owner ([`tanto_exec::owner_token`]),
//! and removed by the next engine to start when that owner died (a killed
//! engine cannot remove them itself).
//!
//! An export writes its file under a temporary name beside the target (or with
//! no name at all, `O_TMPFILE`, until it is complete) and renames it into place:
//! a crash never leaves half a file at the target. The temporary name is
//! recorded in `exports/` first, so a crash between the link and the rename
//! leaves nothing the next engine does not remove.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, Mode, OFlags};

/// The run dir's subdirectories of owned files.
pub(crate) const SECRETS: &str = "secrets";
pub(crate) const SOCKETS: &str = "sockets";
pub(crate) const EXPORTS: &str = "exports";

/// A new name for a file this engine owns: `PID-STARTTIME-UUID` + `suffix`.
pub(crate) fn owned_name(suffix: &str) -> String {
    format!("{}-{}{suffix}", tanto_exec::owner_token(), uuid::Uuid::new_v4().simple())
}

/// Removes the secret files, socket proxies and unfinished exports of engines
/// that are gone. Returns how many entries went.
pub(crate) fn remove_dead(run_dir: &Path) -> usize {
    let mut removed = 0;
    for sub in [SECRETS, SOCKETS] {
        let Ok(entries) = std::fs::read_dir(run_dir.join(sub)) else { continue };
        for e in entries.flatten() {
            let name = e.file_name();
            if tanto_exec::owner_alive(&name.to_string_lossy()) {
                continue;
            }
            match std::fs::remove_file(e.path()) {
                Ok(()) => removed += 1,
                Err(err) => tracing::warn!(path = %e.path().display(), error = %err, "could not remove a leftover"),
            }
        }
    }
    let Ok(entries) = std::fs::read_dir(run_dir.join(EXPORTS)) else { return removed };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if tanto_exec::owner_alive(&name) {
            continue;
        }
        if let Ok(temp) = std::fs::read(e.path()) {
            let temp = PathBuf::from(OsStr::from_bytes(&temp));
            // only a temporary name of ours, never what a journal may have been replaced with
            let ours = temp.file_name().is_some_and(|n| n.to_string_lossy().contains(TEMP_MARK));
            if ours && std::fs::remove_file(&temp).is_ok() {
                tracing::info!(path = %temp.display(), "removed the unfinished export of an engine that stopped");
                removed += 1;
            }
        }
        let _ = std::fs::remove_file(e.path());
    }
    removed
}

/// Marks temporary export names: `.NAME.tanto-export-OWNER`.
const TEMP_MARK: &str = ".tanto-export-";

/// A file being exported to `dir/name`, complete at the target only once
/// [`AtomicFile::commit`] succeeds; dropped before that, it leaves nothing.
pub(crate) struct AtomicFile {
    dir: OwnedFd,
    dir_path: PathBuf,
    name: PathBuf,
    file: File,
    /// The temporary name, recorded in `journal`.
    temp: PathBuf,
    /// Whether the file has its temporary name (with `O_TMPFILE` it has none until committed).
    named: bool,
    journal: PathBuf,
}

impl AtomicFile {
    /// A new, empty file to become `dir/name` (`dir` must exist); `run_dir`
    /// holds the journal of exports in progress.
    pub(crate) fn create(run_dir: &Path, dir: &Path, name: &OsStr) -> io::Result<AtomicFile> {
        let dfd = rfs::open(dir, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
        let journals = run_dir.join(EXPORTS);
        std::fs::create_dir_all(&journals)?;
        let owned = owned_name("");
        let temp = PathBuf::from(format!(".{}{TEMP_MARK}{owned}", name.to_string_lossy()));
        let journal = journals.join(&owned);
        // the name the file will have until it is renamed, recorded before it exists
        std::fs::write(&journal, dir.join(&temp).as_os_str().as_bytes())?;
        let mode = Mode::from_raw_mode(0o600);
        let (fd, named) = match rfs::openat(&dfd, ".", OFlags::WRONLY | OFlags::TMPFILE | OFlags::CLOEXEC, mode) {
            Ok(fd) => (Ok(fd), false),
            // filesystems without O_TMPFILE: a named file from the start
            Err(_) => {
                let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                (rfs::openat(&dfd, temp.as_path(), flags, mode), true)
            }
        };
        let fd = fd.inspect_err(|_| {
            let _ = std::fs::remove_file(&journal);
        })?;
        Ok(AtomicFile {
            dir: dfd,
            dir_path: dir.to_path_buf(),
            name: PathBuf::from(name),
            file: File::from(fd),
            temp,
            named,
            journal,
        })
    }

    pub(crate) fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// Gives the file its temporary name (if it has none yet), then renames it
    /// over the target (replacing a symlink there, never writing through it).
    pub(crate) fn commit(mut self) -> io::Result<PathBuf> {
        if !self.named {
            rfs::linkat(self.file.as_fd(), "", &self.dir, self.temp.as_path(), AtFlags::EMPTY_PATH)?;
            self.named = true;
        }
        rfs::renameat(&self.dir, self.temp.as_path(), &self.dir, self.name.as_path())?;
        self.named = false;
        Ok(self.dir_path.join(&self.name))
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.named {
            let _ = rfs::unlinkat(&self.dir, self.temp.as_path(), AtFlags::empty());
        }
        let _ = std::fs::remove_file(&self.journal);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An export that is dropped leaves nothing; one that commits replaces
    /// the target (a symlink there included) and leaves no temporary file.
    #[test]
    fn exports_are_all_or_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let (run, dir) = (tmp.path().join("run"), tmp.path().join("out"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(tmp.path().join("elsewhere"), "untouched").unwrap();
        std::os::unix::fs::symlink(tmp.path().join("elsewhere"), dir.join("b")).unwrap();
        let names = |d: &Path| -> Vec<String> {
            let mut v: Vec<String> =
                std::fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
            v.sort();
            v
        };
        // (target name, commit?)
        for (name, commit) in [("a", false), ("a", true), ("b", true)] {
            let mut f = AtomicFile::create(&run, &dir, OsStr::new(name)).unwrap();
            io::Write::write_all(f.file(), b"data").unwrap();
            if commit {
                assert_eq!(f.commit().unwrap(), dir.join(name));
            } else {
                drop(f);
            }
            assert!(names(&run.join(EXPORTS)).is_empty(), "{name}: the journal goes with the export");
        }
        assert_eq!(names(&dir), ["a", "b"]);
        assert_eq!(std::fs::read(dir.join("b")).unwrap(), b"data");
        assert_eq!(std::fs::read(tmp.path().join("elsewhere")).unwrap(), b"untouched");
    }

    /// The journal of a dead engine names its temporary file: both go.
    #[test]
    fn the_unfinished_exports_of_dead_engines_are_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let (run, dir) = (tmp.path().join("run"), tmp.path().join("out"));
        for sub in [EXPORTS, SECRETS, SOCKETS] {
            std::fs::create_dir_all(run.join(sub)).unwrap();
        }
        std::fs::create_dir_all(&dir).unwrap();
        // pid 2^22+1 is above any pid_max: never alive
        let dead = format!("{}-1-{}", (1u32 << 22) + 1, "0".repeat(32));
        let temp = dir.join(format!(".x{TEMP_MARK}{dead}"));
        std::fs::write(&temp, "half").unwrap();
        std::fs::write(run.join(EXPORTS).join(&dead), temp.as_os_str().as_bytes()).unwrap();
        let mine = owned_name("");
        std::fs::write(run.join(SECRETS).join(&dead), "s").unwrap();
        std::fs::write(run.join(SECRETS).join(&mine), "s").unwrap();
        std::fs::write(run.join(SOCKETS).join(format!("{dead}.sock")), "").unwrap();
        std::fs::write(dir.join("x"), "kept").unwrap();
        assert_eq!(remove_dead(&run), 3);
        assert!(!temp.exists() && dir.join("x").exists());
        assert!(run.join(SECRETS).join(&mine).exists(), "a live engine's file stays");
        assert_eq!(std::fs::read_dir(run.join(EXPORTS)).unwrap().count(), 0);
    }
}
