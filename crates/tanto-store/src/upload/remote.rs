//! The client's half of an upload to a remote engine: the stat walk of a
//! host tree with an upload's filters ([`list`], no file read), and a tar
//! stream of the entries the engine asks for ([`write_entries`]). The engine
//! keeps a mirror of the tree and compares listings ([`Listed::same_stat`]),
//! so an unchanged file never travels twice.
//!
//! The tree is read as a local upload reads it: through descriptors opened
//! with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`, so nothing outside the
//! chosen directory is read, and special files are refused by the walk.

use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{self as rfs, Mode, OFlags};
use serde::{Deserialize, Serialize};

use super::index::{decode_index, encode_index, Entry, Kind};
use super::walk::{host_err, open_beneath, read_link, scan};
use super::{UploadError, UploadSpec};

/// One entry of a host tree: its path and stat, as a client lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listed {
    /// `/`-separated path relative to the tree; `""` is the tree itself.
    pub path: String,
    /// `d`irectory, `f`ile or `l` (symlink).
    pub kind: char,
    /// Full `st_mode`.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub mtime: (i64, u32),
    pub ctime: (i64, u32),
    pub ino: u64,
    pub dev: u64,
    /// Modified too close to the walk to trust its stat next time.
    pub racy: bool,
}

impl Listed {
    fn of(e: &Entry) -> Listed {
        Listed {
            path: e.rel.clone(),
            kind: e.kind.code() as char,
            mode: e.mode,
            uid: e.uid,
            gid: e.gid,
            size: e.size,
            mtime: e.mtime,
            ctime: e.ctime,
            ino: e.ino,
            dev: e.dev,
            racy: e.racy,
        }
    }

    /// The stat says nothing about the entry changed since `old` was listed
    /// (git's rule, as for local uploads: an entry listed as racy is sent again).
    pub fn same_stat(&self, old: &Listed) -> bool {
        !old.racy
            && (old.kind, old.mode, old.uid, old.gid, old.size, old.mtime, old.ctime, old.ino, old.dev)
                == (self.kind, self.mode, self.uid, self.gid, self.size, self.mtime, self.ctime, self.ino, self.dev)
    }
}

impl Listed {
    fn entry(&self) -> Option<Entry> {
        Some(Entry {
            rel: self.path.clone(),
            kind: Kind::from_code(u8::try_from(self.kind).ok()?)?,
            mode: self.mode,
            uid: self.uid,
            gid: self.gid,
            size: self.size,
            rdev: 0,
            mtime: self.mtime,
            ctime: self.ctime,
            ino: self.ino,
            dev: self.dev,
            racy: self.racy,
            digest: None,
        })
    }
}

/// A listing in the upload index's binary form (what travels and what a
/// mirror keeps: about 5 times smaller and 10 times faster than JSON).
pub fn encode_listing(entries: &[Listed]) -> Vec<u8> {
    let entries: Vec<Entry> = entries.iter().filter_map(Listed::entry).collect();
    encode_index(&entries)
}

/// A listing [`encode_listing`] made; `None` for anything else.
pub fn decode_listing(data: &[u8]) -> Option<Vec<Listed>> {
    Some(decode_index(data)?.iter().map(Listed::of).collect())
}

fn open_root(path: &Path) -> Result<OwnedFd, UploadError> {
    match rfs::open(path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()) {
        Ok(fd) => Ok(fd),
        Err(rustix::io::Errno::NOENT) => Err(UploadError::NotFound(path.to_path_buf())),
        Err(rustix::io::Errno::NOTDIR) => Err(UploadError::NotADirectory(path.to_path_buf())),
        Err(e) => Err(UploadError::Read { path: path.to_path_buf(), source: e.into() }),
    }
}

/// The entries of `spec`'s tree (its filters applied), parents before children.
pub fn list(spec: &UploadSpec) -> Result<Vec<Listed>, UploadError> {
    let root = open_root(&spec.path)?;
    let mut entries = scan(spec, &root, None)?;
    entries.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(entries.iter().map(Listed::of).collect())
}

/// Writes `entries` of the tree at `dir` as an uncompressed tar stream to
/// `out` (directories with their mode, files with their content, symlinks
/// with their target; owners and modification times from the listing).
/// A file that changed size since it was listed is sent as it is now.
pub fn write_entries<W: Write>(dir: &Path, entries: &[Listed], out: W) -> Result<W, UploadError> {
    let root = open_root(dir)?;
    let mut tar = tar::Builder::new(out);
    let werr = |source: io::Error| UploadError::Write { path: dir.to_path_buf(), source };
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(e.mode & 0o7777);
        h.set_uid(e.uid.into());
        h.set_gid(e.gid.into());
        h.set_mtime(e.mtime.0.max(0) as u64);
        h.set_size(0);
        let name = if e.path.is_empty() { "." } else { e.path.as_str() };
        match Kind::from_code(e.kind as u8) {
            Some(Kind::Dir) => {
                h.set_entry_type(tar::EntryType::Directory);
                tar.append_data(&mut h, name, io::empty()).map_err(werr)?;
            }
            Some(Kind::Symlink) => {
                let target = read_link(&root, &e.path).map_err(host_err(dir, &e.path))?;
                h.set_entry_type(tar::EntryType::Symlink);
                tar.append_link(
                    &mut h,
                    name,
                    Path::new(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(&target)),
                )
                .map_err(werr)?;
            }
            Some(Kind::File) => {
                let fd = open_beneath(&root, &e.path, OFlags::RDONLY).map_err(host_err(dir, &e.path))?;
                let file = std::fs::File::from(fd);
                let len = file.metadata().map_err(host_err(dir, &e.path))?.len();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(len);
                // exactly `len` bytes, even if the file grows meanwhile
                tar.append_data(&mut h, name, io::Read::take(file, len)).map_err(werr)?;
            }
            _ => continue,
        }
    }
    tar.into_inner().map_err(werr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_round_trip_and_see_changes() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("d/skip")).unwrap();
        std::fs::write(root.join("a"), "1").unwrap();
        std::fs::write(root.join("d/b"), "2").unwrap();
        std::fs::write(root.join("d/skip/c"), "3").unwrap();
        std::os::unix::fs::symlink("a", root.join("l")).unwrap();
        let spec = UploadSpec::directory(root.to_path_buf(), vec![], vec!["d/skip".into()], false);
        let listed = list(&spec).unwrap();
        let paths: Vec<(&str, char)> = listed.iter().map(|e| (e.path.as_str(), e.kind)).collect();
        assert_eq!(paths, [("", 'd'), ("a", 'f'), ("d", 'd'), ("d/b", 'f'), ("l", 'l')]);
        assert_eq!(decode_listing(&encode_listing(&listed)).unwrap(), listed);
        assert!(decode_listing(b"not a listing").is_none());
        // a file written again with another size is not the same stat
        std::fs::write(root.join("a"), "12").unwrap();
        let again = list(&spec).unwrap();
        let a = |l: &[Listed]| l.iter().find(|e| e.path == "a").unwrap().clone();
        assert!(!a(&again).same_stat(&Listed { racy: false, ..a(&listed) }));
        let b = |l: &[Listed]| l.iter().find(|e| e.path == "d/b").unwrap().clone();
        assert!(b(&again).same_stat(&Listed { racy: false, ..b(&listed) }));
        // the entries asked for, as a tar stream
        let tar = write_entries(root, &again[1..], Vec::new()).unwrap();
        let mut names: Vec<String> = tar::Archive::new(tar.as_slice())
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["a", "d", "d/b", "l"]);
    }
}
