//! Mirrors of client directories on a remote engine: a directory in the
//! state dir kept equal to what a client's upload scope (directory +
//! filters) lists, so that only what changed travels (as BuildKit keeps a
//! shared copy of each local source). The mirror is then uploaded as a local
//! directory is, incrementally, by `tanto_store::upload`.
//!
//! Mirrors no client used for [`MIRROR_TTL`] are removed (at start, then
//! daily): they are copies, not results, and outside the `[gc]` budget.
//!
//! A mirror's listing (`listing`) is removed before the mirror changes and
//! written again once the mirror matches it and its upload is recorded: a
//! mirror without one is emptied and sent whole. The upload of a changed
//! mirror is told what changed (`upload::upload_changed`), so it does not
//! walk the mirror again. Entries come from the client's tar stream
//! ([`receive`]): only the entries asked for, only directories, regular
//! files and symlinks, with the metadata of the listing (never the tar
//! header's), written through `tanto_fs::Root` (never outside the mirror).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tanto_model::Ref;
use tanto_store::upload::{Changes, Listed};

use super::proto::{Listing, Op};
use super::session::Link;
use super::stream;
use crate::EngineError;

/// How long a mirror nobody syncs is kept.
pub(crate) const MIRROR_TTL: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// The mirrors of one engine (`STATE/mirrors/SCOPE/{tree,listing}`).
pub(crate) struct Mirrors {
    dir: PathBuf,
    /// One sync per mirror at a time.
    locks: tokio::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// The last upload of each mirror this engine made: a mirror that did
    /// not change is not walked again.
    uploaded: parking_lot::Mutex<HashMap<String, Ref>>,
}

/// What a sync must do to make a mirror listed as `old` hold `new`.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Plan {
    /// Paths to remove first (gone, replaced by another kind, or rewritten).
    pub remove: Vec<String>,
    /// Entries to ask the client for.
    pub fetch: Vec<Listed>,
}

/// Compares two listings (both sorted by path).
pub(crate) fn plan(old: &[Listed], new: &[Listed]) -> Plan {
    let before: HashMap<&str, &Listed> = old.iter().map(|e| (e.path.as_str(), e)).collect();
    let after: HashMap<&str, &Listed> = new.iter().map(|e| (e.path.as_str(), e)).collect();
    let mut p = Plan::default();
    for e in old {
        if !e.path.is_empty() && !after.contains_key(e.path.as_str()) {
            p.remove.push(e.path.clone());
        }
    }
    for e in new {
        match before.get(e.path.as_str()) {
            Some(o) if e.same_stat(o) => {}
            Some(o) => {
                // a directory keeps its entries; anything else is written anew
                if (o.kind != 'd' || e.kind != 'd') && !e.path.is_empty() {
                    p.remove.push(e.path.clone());
                }
                p.fetch.push(e.clone());
            }
            None => p.fetch.push(e.clone()),
        }
    }
    // children before their parents
    p.remove.sort_by(|a, b| b.cmp(a));
    p
}

impl Mirrors {
    pub(crate) fn new(dir: PathBuf) -> Mirrors {
        Mirrors { dir, locks: Default::default(), uploaded: Default::default() }
    }

    /// Makes the mirror of `listing` (for client `client`) hold what the client
    /// lists, fetching what changed over `link`; returns the mirror's directory.
    pub(crate) async fn sync<F, Fut>(
        &self,
        link: &Link,
        client: &str,
        listing: Listing,
        upload: F,
    ) -> Result<Ref, EngineError>
    where
        F: FnOnce(PathBuf, Option<Changes>) -> Fut,
        Fut: std::future::Future<Output = Result<Ref, EngineError>>,
    {
        let scope = {
            let mut h = tanto_model::StableHasher::new();
            h.str("tanto-mirror").str(client).str(&listing.abs).json(&(&listing.include, &listing.exclude));
            h.finish().to_string().trim_start_matches("sha256:").to_string()
        };
        let lock = self.locks.lock().await.entry(scope.clone()).or_default().clone();
        let held = lock.lock_owned().await;
        let dir = self.dir.join(&scope);
        let (tree, record) = (dir.join("tree"), dir.join("listing"));
        let old = {
            let (tree, record) = (tree.clone(), record.clone());
            crate::worker::blocking(move || {
                read_listing(&tree, &record)
                    .map_err(|e| EngineError::environment(format!("reading the mirror `{}`: {e}", tree.display())))
            })
            .await?
        };
        let t = std::time::Instant::now();
        let plan = plan(&old, &listing.entries);
        tracing::debug!(ms = t.elapsed().as_millis() as u64, "read and compared the mirror's listing");
        if plan.remove.is_empty() && plan.fetch.is_empty() {
            // used: kept from `prune` for another while
            let _ = std::fs::File::options()
                .write(true)
                .open(&record)
                .and_then(|f| f.set_modified(std::time::SystemTime::now()));
            if let Some(r) = self.uploaded.lock().get(&scope) {
                return Ok(r.clone());
            }
            let r = upload(tree, None).await?;
            self.uploaded.lock().insert(scope, r.clone());
            return Ok(r);
        }
        // what the upload of the mirror need not find by walking it (a mirror
        // filled anew is walked)
        let changes = (!old.is_empty()).then(|| Changes {
            changed: plan.fetch.iter().map(|e| e.path.clone()).collect(),
            removed: plan.remove.clone(),
        });
        self.uploaded.lock().remove(&scope);
        tracing::debug!(dir = %listing.abs, remove = plan.remove.len(), fetch = plan.fetch.len(), "syncing a client directory");
        {
            let (tree, record, remove) = (tree.clone(), record.clone(), plan.remove);
            crate::worker::blocking(move || {
                let _ = std::fs::remove_file(&record);
                let root = tanto_fs::Root::open(&tree)
                    .map_err(|e| EngineError::environment(format!("opening the mirror `{}`: {e}", tree.display())))?;
                for p in &remove {
                    root.remove(p, true).map_err(|e| {
                        EngineError::environment(format!("removing `{p}` from the mirror `{}`: {e}", tree.display()))
                    })?;
                }
                Ok(())
            })
            .await?;
        }
        if !plan.fetch.is_empty() {
            let wanted = tanto_store::upload::encode_listing(&plan.fetch);
            let body = link.call(&Op::Entries { dir: listing.abs.clone() }, stream::full(wanted)).await?;
            let reader = stream::reader(body);
            let (into, abs) = (tree.clone(), listing.abs.clone());
            let (t, fetched) = (std::time::Instant::now(), plan.fetch.len());
            let asked = plan.fetch.clone();
            crate::worker::blocking(move || {
                receive(reader, &into, &asked)
                    .map_err(|e| EngineError::environment(format!("receiving `{abs}` from the client: {e}")))
            })
            .await?;
            tracing::debug!(
                entries = fetched,
                ms = t.elapsed().as_millis() as u64,
                "received a client directory's entries"
            );
        }
        // the listing is kept only once the upload it describes is recorded
        // (a later sync's known changes apply to that upload's index); it is
        // written after the answer, under the lock the next sync waits for
        let r = upload(tree, changes).await?;
        self.uploaded.lock().insert(scope, r.clone());
        let entries = listing.entries;
        tokio::spawn(async move {
            let _held = held;
            let written = crate::worker::blocking(move || {
                let tmp = record.with_extension("tmp");
                std::fs::write(&tmp, tanto_store::upload::encode_listing(&entries))
                    .and_then(|_| std::fs::rename(&tmp, &record))
                    .map_err(|e| EngineError::environment(format!("writing `{}`: {e}", record.display())))
            })
            .await;
            if let Err(e) = written {
                tracing::warn!(error = %e, "keeping a mirror's listing failed: it is sent whole next time");
            }
        });
        Ok(r)
    }
}

impl Mirrors {
    /// Removes the mirrors no sync used for `unused` (a client that comes back
    /// sends its directory whole); the number removed. Mirrors being synced
    /// are left alone.
    pub(crate) async fn prune(&self, unused: std::time::Duration) -> usize {
        let Ok(dirs) = std::fs::read_dir(&self.dir) else { return 0 };
        let mut removed = 0;
        for d in dirs.flatten() {
            let scope = d.file_name().to_string_lossy().into_owned();
            let lock = self.locks.lock().await.entry(scope.clone()).or_default().clone();
            let Ok(_held) = lock.try_lock() else { continue };
            let path = d.path();
            let used = std::fs::metadata(path.join("listing"))
                .or_else(|_| std::fs::metadata(&path))
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok());
            if used.is_some_and(|age| age > unused) {
                let _ = std::fs::remove_file(path.join("listing"));
                let gone = crate::worker::blocking(move || {
                    std::fs::remove_dir_all(&path).map_err(|e| EngineError::environment(e.to_string()))
                })
                .await;
                if gone.is_ok() {
                    self.uploaded.lock().remove(&scope);
                    removed += 1;
                }
            }
        }
        removed
    }
}

/// The listing a mirror holds; a mirror without one (new, or a sync that
/// did not finish) is emptied.
fn read_listing(tree: &Path, record: &Path) -> std::io::Result<Vec<Listed>> {
    if let Some(old) = std::fs::read(record).ok().and_then(|d| tanto_store::upload::decode_listing(&d)) {
        return Ok(old);
    }
    match std::fs::remove_dir_all(tree) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::fs::create_dir_all(tree)?;
    Ok(Vec::new())
}

/// Writes the client's tar stream into the mirror `tree`: each entry must be
/// one of `asked` (by path) and of its kind — a directory, a regular file or
/// a symlink; owner, mode and modification time come from the listing.
/// Anything else (a device, a hard link, an entry not asked for) is an error.
fn receive(stream: impl std::io::Read, tree: &Path, asked: &[Listed]) -> std::io::Result<()> {
    use rustix::fs::{self as rfs, Mode, OFlags, Timespec, Timestamps};
    use std::io::{Error, ErrorKind};
    let bad = |m: String| Error::new(ErrorKind::InvalidData, m);
    let wanted: HashMap<&str, &Listed> = asked.iter().map(|e| (e.path.as_str(), e)).collect();
    let root = tanto_fs::Root::open(tree).map_err(Error::other)?;
    let times = |e: &Listed| {
        let ts = Timespec { tv_sec: e.mtime.0 as _, tv_nsec: e.mtime.1 as _ };
        Timestamps { last_access: ts, last_modification: ts }
    };
    let mut archive = tar::Archive::new(stream);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let raw = entry.path()?.to_string_lossy().into_owned();
        let path = raw.trim_start_matches("./").trim_end_matches('/');
        let path = if path == "." { "" } else { path };
        let Some(listed) = wanted.get(path) else {
            return Err(bad(format!("the client sent `{raw}`, which was not asked for")));
        };
        let kind = entry.header().entry_type();
        let mode = Mode::from_raw_mode(listed.mode & 0o7777);
        let owner = (listed.uid, listed.gid);
        match (listed.kind, kind) {
            ('d', tar::EntryType::Directory) => {
                let fd = if path.is_empty() {
                    root.open_at(".", OFlags::DIRECTORY | OFlags::RDONLY, Mode::empty())?
                } else {
                    root.mkdir_all(path, listed.mode & 0o7777, None).map_err(Error::other)?
                };
                let _ = rfs::fchown(&fd, Some(rfs::Uid::from_raw(owner.0)), Some(rfs::Gid::from_raw(owner.1)));
                rfs::fchmod(&fd, mode)?;
                rfs::futimens(&fd, &times(listed))?;
            }
            ('f', tar::EntryType::Regular) => {
                let (dir, name) = root.parent(path, true).map_err(Error::other)?;
                let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                let fd = rfs::openat(&dir, name.as_str(), flags, Mode::from_raw_mode(0o600))?;
                let mut file = std::fs::File::from(fd);
                std::io::copy(&mut entry, &mut file)?;
                let _ = rfs::fchown(&file, Some(rfs::Uid::from_raw(owner.0)), Some(rfs::Gid::from_raw(owner.1)));
                rfs::fchmod(&file, mode)?;
                rfs::futimens(&file, &times(listed))?;
            }
            ('l', tar::EntryType::Symlink) => {
                let target = entry.link_name()?.ok_or_else(|| bad(format!("symlink `{raw}` has no target")))?;
                root.symlink(&target.to_string_lossy(), path).map_err(Error::other)?;
                let (dir, name) = root.parent(path, false).map_err(Error::other)?;
                let _ = rfs::chownat(
                    &dir,
                    name.as_str(),
                    Some(rfs::Uid::from_raw(owner.0)),
                    Some(rfs::Gid::from_raw(owner.1)),
                    rfs::AtFlags::SYMLINK_NOFOLLOW,
                );
            }
            (k, t) => return Err(bad(format!("the client sent `{raw}` as {t:?}, listed as `{k}`"))),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(path: &str, kind: char, size: u64, mtime: i64) -> Listed {
        Listed {
            path: path.into(),
            kind,
            mode: if kind == 'd' { 0o40755 } else { 0o100644 },
            uid: 0,
            gid: 0,
            size,
            mtime: (mtime, 0),
            ctime: (mtime, 0),
            ino: 1,
            dev: 1,
            racy: false,
        }
    }

    #[test]
    fn plans() {
        let racy = Listed { racy: true, ..e("r", 'f', 1, 1) };
        let old = vec![
            e("", 'd', 0, 1),
            e("a", 'f', 1, 1),
            e("d", 'd', 0, 1),
            e("d/x", 'f', 1, 1),
            e("gone", 'f', 1, 1),
            racy.clone(),
        ];
        // (new listing, paths removed, paths fetched)
        let cases: Vec<(Vec<Listed>, Vec<&str>, Vec<&str>)> = vec![
            (
                old.iter().filter(|x| !x.racy).cloned().chain([Listed { racy: false, ..racy.clone() }]).collect(),
                vec!["r"],
                vec!["r"],
            ),
            (
                vec![e("", 'd', 0, 1), e("a", 'f', 2, 2), e("d", 'd', 0, 2), e("r", 'f', 1, 1)],
                vec!["r", "gone", "d/x", "a"],
                vec!["a", "d", "r"],
            ),
            (
                vec![e("", 'd', 0, 1), e("a", 'd', 0, 1), e("d", 'f', 1, 1)],
                vec!["r", "gone", "d/x", "d", "a"],
                vec!["a", "d"],
            ),
            (vec![], vec!["r", "gone", "d/x", "d", "a"], vec![]),
        ];
        for (new, remove, fetch) in cases {
            let p = plan(&old, &new);
            let fetched: Vec<&str> = p.fetch.iter().map(|x| x.path.as_str()).collect();
            assert_eq!((p.remove.iter().map(String::as_str).collect::<Vec<_>>(), fetched), (remove, fetch), "{new:?}");
        }
        assert!(plan(&[], &old).remove.is_empty(), "a new mirror removes nothing");
    }

    #[test]
    fn only_what_was_asked_is_received() {
        let tmp = tempfile::tempdir().unwrap();
        let tree = tmp.path().join("tree");
        std::fs::create_dir(&tree).unwrap();
        let tar = |entries: &[(&str, tar::EntryType, &str)]| {
            let mut b = tar::Builder::new(Vec::new());
            for (path, kind, data) in entries {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(*kind);
                h.set_mode(0o4755);
                h.set_size(if *kind == tar::EntryType::Regular { data.len() as u64 } else { 0 });
                if *kind == tar::EntryType::Symlink {
                    b.append_link(&mut h, path, data).unwrap();
                } else {
                    b.append_data(&mut h, path, data.as_bytes()).unwrap();
                }
            }
            b.into_inner().unwrap()
        };
        let asked = vec![e("d", 'd', 0, 1), e("d/f", 'f', 2, 1), e("l", 'l', 0, 1)];
        let ok = tar(&[
            ("d", tar::EntryType::Directory, ""),
            ("d/f", tar::EntryType::Regular, "hi"),
            ("l", tar::EntryType::Symlink, "/etc/passwd"),
        ]);
        receive(ok.as_slice(), &tree, &asked).unwrap();
        let meta = std::fs::metadata(tree.join("d/f")).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(meta.permissions().mode() & 0o7777, 0o644, "the listing's mode, not the header's setuid");
        assert_eq!(std::fs::read_link(tree.join("l")).unwrap().to_str(), Some("/etc/passwd"));
        // (entries sent, what the error says)
        type Sent<'a> = &'a [(&'a str, tar::EntryType, &'a str)];
        let cases: [(Sent, &str); 3] = [
            (&[("extra", tar::EntryType::Regular, "x")], "not asked for"),
            (&[("d/f", tar::EntryType::Char, "")], "listed as `f`"),
            (&[("d/f", tar::EntryType::Link, "l")], "listed as `f`"),
        ];
        for (n, (entries, want)) in cases.into_iter().enumerate() {
            let fresh = tmp.path().join(format!("t{n}"));
            std::fs::create_dir(&fresh).unwrap();
            let err = receive(tar(entries).as_slice(), &fresh, &asked).unwrap_err().to_string();
            assert!(err.contains(want), "{err}");
        }
    }

    #[tokio::test]
    async fn unused_mirrors_are_pruned() {
        let tmp = tempfile::tempdir().unwrap();
        let m = Mirrors::new(tmp.path().join("mirrors"));
        // (scope, days since its last sync, kept?)
        let cases = [("old", 9, false), ("recent", 1, true), ("never-listed", 30, false)];
        for (scope, days, _) in cases {
            let dir = tmp.path().join("mirrors").join(scope);
            std::fs::create_dir_all(dir.join("tree")).unwrap();
            let when = std::time::SystemTime::now() - std::time::Duration::from_secs(days * 24 * 3600);
            let marker = if scope == "never-listed" { dir.clone() } else { dir.join("listing") };
            if scope != "never-listed" {
                std::fs::write(&marker, b"").unwrap();
                std::fs::File::options().write(true).open(&marker).unwrap().set_modified(when).unwrap();
            } else {
                std::fs::File::open(&marker).unwrap().set_modified(when).unwrap();
            }
        }
        assert_eq!(m.prune(MIRROR_TTL).await, 2);
        for (scope, _, kept) in cases {
            assert_eq!(tmp.path().join("mirrors").join(scope).exists(), kept, "{scope}");
        }
    }
}
