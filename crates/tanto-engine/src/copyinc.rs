//! Incremental copies: `COPY . /app` / `withDirectory("/app", src)` of a
//! source that changed a little since an earlier copy onto the same base.
//!
//! A copy of source snapshot `S` onto base `B` is recorded as a copy base
//! (tanto-store `copy_bases`). When a later source `S'` descends from `S`
//! through diff layers (a later host upload over the previous one, a step run
//! over it), `B + copy(S')` is made as a new layer over the earlier result
//! `R = B + copy(S)` holding only what the layers between `S` and `S'` touched
//! — milliseconds for one changed file in a tree of 100k, instead of copying
//! the tree again.
//!
//! The result must equal a full copy, entry for entry (contents, types,
//! modes, owners, file times). For each path `p` the layers touched (parents
//! first) the new layer gets what a full copy of `S'` onto `B` has at `p`:
//! - `p` gone from `S'`, or replaced wholesale (whiteout or opaque directory
//!   in a layer), or of another kind than before: remove it, put back what `B`
//!   has there, then copy `S'`'s subtree over it — exactly a full copy there;
//! - a file, link or special file: copied over what is there;
//! - a directory still a directory: its metadata, set after its children.
//!
//! Anything it cannot reason about — include/exclude filters, overlay
//! redirects or metacopy, a replaced source root, chains deeper than
//! [`MAX_GENERATION`] — falls back to the full copy, as does any error while
//! applying (the partial layer is thrown away).

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use tanto_fs::overlay::{self, is_whiteout};
use tanto_fs::{CopyOpts, Filter, Root};
use tanto_model::{FileAction, FileOp, Owner, StableHasher};
use tanto_store::{CopyBase, SnapshotId, Store};

use crate::worker::{Output, Pending};
use crate::EngineError;

/// Incremental copies stacked on one full copy before the next is full again
/// (each adds an overlay layer to everything built on the result; the mount
/// option string holds ~100 layers, image layers and steps included).
pub const MAX_GENERATION: u32 = 24;

/// Source layers searched for an earlier copy.
const MAX_ANCESTORS: usize = 8;

/// A file op that is one plain copy of a source snapshot.
#[derive(Debug, Clone)]
pub(crate) struct CopyPlan {
    pub base: Option<SnapshotId>,
    pub src: SnapshotId,
    pub src_path: String,
    pub dest: String,
    pub mode: Option<u32>,
    pub owner: Option<Owner>,
    /// Digest of what, besides the two snapshots, decides the result.
    pub params: String,
}

impl CopyPlan {
    /// The plan for `op` if it is exactly one copy without filters.
    pub(crate) fn of(op: &FileOp, base: Option<SnapshotId>, sources: &[Option<SnapshotId>]) -> Option<CopyPlan> {
        let [FileAction::Copy { src: Some(i), src_path, dest, include, exclude, mode, owner, gitignore: false }] =
            op.actions.as_slice()
        else {
            return None;
        };
        if !include.is_empty() || !exclude.is_empty() {
            return None;
        }
        let src = sources.get(*i as usize).copied().flatten()?;
        let mut h = StableHasher::new();
        h.str("copy-base");
        h.str(src_path).str(dest).json(owner).u64(mode.map_or(u64::MAX, u64::from));
        Some(CopyPlan {
            base,
            src,
            src_path: src_path.clone(),
            dest: dest.clone(),
            mode: *mode,
            owner: owner.clone(),
            params: h.finish().to_string(),
        })
    }

    /// Records `result` (committed) as the copy of this plan's source.
    pub(crate) fn remember(&self, store: &Store, result: SnapshotId, generation: u32) {
        if let Err(e) = store.save_copy_base(self.base, self.src, &self.params, CopyBase { result, generation }) {
            tracing::warn!(error = %e, "recording a copy base failed; the next copy of this source will be a full copy");
        }
    }
}

/// Makes the copy incrementally from an earlier one when there is one, and
/// commits it under `key`. `Ok(None)`: no usable earlier copy; do a full copy.
pub(crate) fn try_incremental(store: &Store, plan: &CopyPlan, key: &str) -> Result<Option<Output>, EngineError> {
    let Some((layers, earlier)) = find_earlier(store, plan)? else { return Ok(None) };
    if earlier.generation >= MAX_GENERATION {
        return Ok(None);
    }
    let changes = match collect_changes(store, &layers, &plan.src_path) {
        Ok(Some(c)) => c,
        Ok(None) => return Ok(None),
        Err(e) => {
            tracing::debug!(error = %e, "reading source layers for an incremental copy failed; copying in full");
            return Ok(None);
        }
    };
    let mut pending = Pending::new(store);
    let prep = store.prepare(Some((earlier.result, "/")))?;
    let id = prep.id;
    let view = store.mount_rw(&prep)?;
    pending.items.push(prep);
    let (src_view, base_view) = (store.view(Some(plan.src), "/")?, store.view(plan.base, "/")?);
    let applied = (|| -> io::Result<bool> {
        let (dst, src, base) = (Root::open(view.path())?, Root::open(src_view.path())?, Root::open(base_view.path())?);
        let owner = crate::worker::owner_ids(&base, plan.owner.as_ref())?;
        let filter = Filter::none();
        let opts = CopyOpts { filter: &filter, mode: plan.mode, owner };
        apply(&changes, &src, &plan.src_path, &dst, &plan.dest, &base, &opts)
    })();
    drop(view);
    match applied {
        Ok(true) => {}
        Ok(false) => return Ok(None),
        Err(e) => {
            tracing::debug!(error = %e, "incremental copy failed; copying in full");
            return Ok(None);
        }
    }
    let out = pending.commit(key, None)?;
    plan.remember(store, id, earlier.generation + 1);
    Ok(Some(out))
}

/// The nearest earlier copy of an ancestor of the source (parent links at
/// the root only), and the source layers above that ancestor, newest first.
fn find_earlier(store: &Store, plan: &CopyPlan) -> Result<Option<(Vec<SnapshotId>, CopyBase)>, EngineError> {
    let mut layers = Vec::new();
    let mut cur = plan.src;
    for _ in 0..=MAX_ANCESTORS {
        if let Some(found) = store.copy_base(plan.base, cur, &plan.params)? {
            return Ok(Some((layers, found)));
        }
        match store.snapshot_parent(cur)? {
            Some((parent, sel)) if sel.is_empty() || sel == "/" => {
                layers.push(cur);
                cur = parent;
            }
            _ => break,
        }
    }
    Ok(None)
}

enum Dir {
    Plain,
    Opaque,
    Unsupported,
}

fn dir_kind(p: &Path) -> Dir {
    if overlay::xattr(p, overlay::redirect()).is_some() {
        return Dir::Unsupported;
    }
    match overlay::xattr(p, overlay::opaque()).as_deref() {
        None => Dir::Plain,
        Some(b"y") => Dir::Opaque,
        Some(_) => Dir::Unsupported, // "x": holds xattr whiteouts
    }
}

/// Paths below the copied directory that `layers` touch, with whether each
/// must be rebuilt wholesale. `None` when a layer does something we don't
/// apply incrementally.
fn collect_changes(store: &Store, layers: &[SnapshotId], src_path: &str) -> io::Result<Option<BTreeMap<String, bool>>> {
    let rel = std::path::PathBuf::from(tanto_fs::path::clean_rel(src_path));
    let mut changes = BTreeMap::new();
    'layers: for layer in layers {
        let mut p = store.snapshot_dir(*layer);
        if !matches!(dir_kind(&p), Dir::Plain) {
            return Ok(None);
        }
        for c in rel.components() {
            p.push(c);
            match std::fs::symlink_metadata(&p) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue 'layers,
                Err(e) => return Err(e),
                Ok(m) if !m.is_dir() => return Ok(None),
                Ok(_) if !matches!(dir_kind(&p), Dir::Plain) => return Ok(None),
                Ok(_) => {}
            }
        }
        if !walk(&p, "", &mut changes)? {
            return Ok(None);
        }
    }
    Ok(Some(changes))
}

fn walk(dir: &Path, prefix: &str, changes: &mut BTreeMap<String, bool>) -> io::Result<bool> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name().into_string().map_err(|n| io::Error::other(format!("non-UTF-8 name {n:?}")))?;
        let rel = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
        let path = e.path();
        let m = std::fs::symlink_metadata(&path)?;
        let mut mark = |rel: String, rebuild: bool| *changes.entry(rel).or_insert(false) |= rebuild;
        if is_whiteout(&m) {
            mark(rel, true);
        } else if m.is_dir() {
            match dir_kind(&path) {
                Dir::Unsupported => return Ok(false),
                Dir::Opaque => mark(rel, true),
                Dir::Plain => {
                    mark(rel.clone(), false);
                    if !walk(&path, &rel, changes)? {
                        return Ok(false);
                    }
                }
            }
        } else {
            if overlay::xattr(&path, overlay::metacopy()).is_some()
                || overlay::xattr(&path, overlay::xattr_whiteout()).is_some()
            {
                return Ok(false);
            }
            mark(rel, false);
        }
    }
    Ok(true)
}

fn join(dir: &str, rel: &str) -> String {
    format!("{}/{rel}", dir.trim_end_matches('/'))
}

fn is_dir(st: &rustix::fs::Stat) -> bool {
    tanto_fs::file_type(st) == rustix::fs::FileType::Directory
}

/// Brings `dst` (the earlier copy's view) to what a full copy of `src` onto
/// `base` gives, for the `changes` below `src_path` / `dest`.
fn apply(
    changes: &BTreeMap<String, bool>,
    src: &Root,
    src_path: &str,
    dst: &Root,
    dest: &str,
    base: &Root,
    opts: &CopyOpts<'_>,
) -> io::Result<bool> {
    let plain_filter = Filter::none();
    let plain = CopyOpts { filter: &plain_filter, mode: None, owner: None };
    let mut rebuilt: std::collections::HashSet<&str> = std::collections::HashSet::new();
    let mut dirs = Vec::new();
    for (p, rebuild) in changes {
        if p.match_indices('/').any(|(i, _)| rebuilt.contains(&p[..i])) {
            continue;
        }
        let (sp, dp) = (join(src_path, p), join(dest, p));
        let sst = src.stat(&sp, false)?;
        let dst_st = dst.stat(&dp, false)?;
        let rebuild = *rebuild
            || match (&sst, &dst_st) {
                (None, _) => true,
                (Some(s), Some(d)) => is_dir(s) != is_dir(d),
                (Some(s), None) => is_dir(s),
            };
        if rebuild {
            if dst_st.is_some() {
                dst.remove(&dp, false)?;
            }
            tanto_fs::copy_entry(base, &dp, dst, &dp, &plain, true)?;
            if sst.is_some() {
                tanto_fs::copy_entry(src, &sp, dst, &dp, opts, true)?;
            }
            rebuilt.insert(p);
        } else if let Some(s) = sst.filter(is_dir) {
            dirs.push((dp, s));
        } else {
            tanto_fs::copy_entry(src, &sp, dst, &dp, opts, false)?;
        }
    }
    // Directory times last, children first: writing below a directory changes its mtime.
    for (dp, st) in dirs.iter().rev() {
        tanto_fs::set_dir_meta(dst, dp, st, opts)?;
    }
    Ok(true)
}

#[cfg(test)]
#[allow(clippy::type_complexity)] // the cases are tables of tuples
mod tests {
    //! Each case copies a source onto a base in full, changes the source in a
    //! new overlay layer (as a host upload or a step would), then copies the
    //! changed source both incrementally and in full: the two trees must be
    //! the same entry for entry. Needs root (overlay mounts).
    use std::collections::BTreeMap;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::path::Path;

    use tanto_model::{FileAction, FileOp, Owner};
    use tanto_store::{CacheRecord, SnapshotId, Store};
    use tanto_testkit::prereq::Need;

    use crate::worker::{apply_actions, file_op_blocking};

    type Change = fn(&Path);

    fn write(root: &Path, rel: &str, data: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }

    /// A committed snapshot over `parent` made by `f` through an overlay mount.
    fn layer(store: &Store, parent: Option<SnapshotId>, key: &str, f: &dyn Fn(&Path)) -> SnapshotId {
        let prep = store.prepare(parent.map(|p| (p, "/"))).unwrap();
        let view = store.mount_rw(&prep).unwrap();
        f(view.path());
        drop(view);
        let id = prep.id;
        store.commit(key, &CacheRecord { outputs: vec![id], meta: None }).unwrap();
        id
    }

    fn source_tree(root: &Path) {
        for i in 0..5 {
            write(root, &format!("tree/d{i}/f{i}.txt"), &format!("{i}\n"));
        }
        write(root, "tree/shared.txt", "from source\n");
        write(root, "tree/both/s.txt", "s\n");
        write(root, "tree/file-then-dir", "f\n");
        std::fs::create_dir_all(root.join("tree/dir-then-file/x")).unwrap();
        write(root, "tree/dir-then-file/x/y", "y\n");
        std::os::unix::fs::symlink("d0/f0.txt", root.join("tree/link")).unwrap();
        write(root, "tree/exec.sh", "#!/bin/sh\n");
        write(root, "outside.txt", "not copied\n");
    }

    fn base_tree(root: &Path) {
        write(root, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n");
        write(root, "etc/group", "root:x:0:\napp:x:1000:\n");
        write(root, "ctx/shared.txt", "from base\n");
        write(root, "ctx/both/b.txt", "b\n");
        write(root, "ctx/base-only.txt", "base\n");
    }

    /// Path -> (kind, mode, uid, gid, mtime or 0, content or link target).
    fn snapshot_tree(
        store: &Store,
        snap: SnapshotId,
        skip_mtime: &[&str],
    ) -> BTreeMap<String, (String, u32, u32, u32, i64, Vec<u8>)> {
        let view = store.view(Some(snap), "/").unwrap();
        let mut out = BTreeMap::new();
        fn walk(
            dir: &Path,
            rel: &str,
            skip: &[&str],
            out: &mut BTreeMap<String, (String, u32, u32, u32, i64, Vec<u8>)>,
        ) {
            let mut names: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name()).collect();
            names.sort();
            for n in names {
                let p = dir.join(&n);
                let r = format!("{rel}/{}", n.to_string_lossy());
                let m = std::fs::symlink_metadata(&p).unwrap();
                let (kind, data, mtime) = if m.is_dir() {
                    walk(&p, &r, skip, out);
                    (
                        "dir",
                        vec![],
                        if skip.contains(&r.as_str()) { 0 } else { m.mtime_nsec() + m.mtime() * 1_000_000_000 },
                    )
                } else if m.file_type().is_symlink() {
                    ("link", std::fs::read_link(&p).unwrap().into_os_string().into_vec(), 0)
                } else {
                    ("file", std::fs::read(&p).unwrap(), m.mtime_nsec() + m.mtime() * 1_000_000_000)
                };
                out.insert(r, (kind.to_string(), m.mode(), m.uid(), m.gid(), mtime, data));
            }
        }
        use std::os::unix::ffi::OsStringExt;
        walk(view.path(), "", skip_mtime, &mut out);
        out
    }

    fn copy_op(src_path: &str, dest: &str, mode: Option<u32>, owner: &str, with_base: bool) -> FileOp {
        FileOp {
            base: with_base.then_some(0),
            actions: vec![FileAction::Copy {
                src: Some(1),
                src_path: src_path.into(),
                dest: dest.into(),
                include: vec![],
                exclude: vec![],
                mode,
                owner: Owner::parse(owner),
                gitignore: false,
            }],
        }
    }

    #[test]
    fn incremental_copies_equal_full_copies() {
        if !tanto_testkit::prereq::unit_test_can_run("incremental_copies_equal_full_copies", &[Need::Root]) {
            return;
        }
        let changes: &[(&str, Change)] = &[
            ("modify a file", |r| write(r, "tree/d0/f0.txt", "changed\n")),
            ("add a file", |r| write(r, "tree/d1/new.txt", "new\n")),
            ("add a directory tree", |r| write(r, "tree/newdir/a/b/c.txt", "c\n")),
            ("delete a file", |r| std::fs::remove_file(r.join("tree/d2/f2.txt")).unwrap()),
            ("delete a file the base also has", |r| std::fs::remove_file(r.join("tree/shared.txt")).unwrap()),
            ("delete a directory the base also has", |r| std::fs::remove_dir_all(r.join("tree/both")).unwrap()),
            ("replace a directory by a file", |r| {
                std::fs::remove_dir_all(r.join("tree/dir-then-file")).unwrap();
                write(r, "tree/dir-then-file", "now a file\n");
            }),
            ("replace a file by a directory", |r| {
                std::fs::remove_file(r.join("tree/file-then-dir")).unwrap();
                write(r, "tree/file-then-dir/inner.txt", "inner\n");
            }),
            ("retarget a symlink", |r| {
                std::fs::remove_file(r.join("tree/link")).unwrap();
                std::os::unix::fs::symlink("d1/f1.txt", r.join("tree/link")).unwrap();
            }),
            ("change only a mode", |r| {
                std::fs::set_permissions(r.join("tree/exec.sh"), std::fs::Permissions::from_mode(0o755)).unwrap()
            }),
            ("change outside the copied directory", |r| write(r, "outside.txt", "still not copied\n")),
            ("delete a directory and re-create it", |r| {
                std::fs::remove_dir_all(r.join("tree/d3")).unwrap();
                write(r, "tree/d3/other.txt", "other\n");
            }),
        ];
        // (src_path, dest, mode, owner, with a base)
        let shapes: &[(&str, &str, Option<u32>, &str, bool)] = &[
            ("/tree", "/ctx", None, "", true),
            ("/tree", "/", None, "", false),
            ("/tree", "/ctx", Some(0o640), "app", true),
            ("/", "/src", None, "1000:1000", true),
        ];
        for (si, (src_path, dest, mode, owner, with_base)) in shapes.iter().enumerate() {
            for (ci, (what, change)) in changes.iter().enumerate() {
                let tmp = tempfile::tempdir().unwrap();
                let store = Store::open(tmp.path()).unwrap();
                let base = with_base.then(|| layer(&store, None, "base", &base_tree));
                let s0 = layer(&store, None, "s0", &source_tree);
                let op = copy_op(src_path, dest, *mode, owner, *with_base);
                let first = file_op_blocking(&store, base, &op, &[base, Some(s0)], "copy0").unwrap();
                let s1 = layer(&store, Some(s0), "s1", change);
                let inc = file_op_blocking(&store, base, &op, &[base, Some(s1)], "copy1").unwrap();
                let (_, full) = apply_actions(&store, base, &op.actions, &[base, Some(s1)], "full1").unwrap();
                let case = format!("shape {si} ({src_path} -> {dest}), change {ci} ({what})");
                assert_eq!(
                    store.snapshot_parent(inc.outputs[0]).unwrap().map(|p| p.0),
                    Some(first.outputs[0]),
                    "{case}: made over the first copy"
                );
                let mut skip = vec![""];
                let mut acc = String::new();
                for c in dest.split('/').filter(|c| !c.is_empty()) {
                    acc.push('/');
                    acc.push_str(c);
                    skip.push(Box::leak(acc.clone().into_boxed_str()));
                }
                let (a, b) = (snapshot_tree(&store, inc.outputs[0], &skip), snapshot_tree(&store, full, &skip));
                for (k, v) in &b {
                    assert_eq!(a.get(k), Some(v), "{case}: {k}");
                }
                assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>(), "{case}: same paths");
            }
        }
    }

    #[test]
    fn chains_of_changes_stay_equal_and_are_bounded() {
        if !tanto_testkit::prereq::unit_test_can_run("chains_of_changes_stay_equal_and_are_bounded", &[Need::Root]) {
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let base = Some(layer(&store, None, "base", &base_tree));
        let mut src = layer(&store, None, "s0", &source_tree);
        let op = copy_op("/tree", "/ctx", None, "", true);
        let mut prev = file_op_blocking(&store, base, &op, &[base, Some(src)], "copy0").unwrap().outputs[0];
        for i in 1..=(super::MAX_GENERATION + 2) {
            let n = i;
            src = layer(&store, Some(src), &format!("s{i}"), &move |r: &Path| {
                write(r, &format!("tree/d{}/gen.txt", n % 5), &format!("{n}\n"))
            });
            let out = file_op_blocking(&store, base, &op, &[base, Some(src)], &format!("copy{i}")).unwrap().outputs[0];
            let (_, full) = apply_actions(&store, base, &op.actions, &[base, Some(src)], &format!("full{i}")).unwrap();
            let skip = ["", "/ctx"];
            assert_eq!(snapshot_tree(&store, out, &skip), snapshot_tree(&store, full, &skip), "step {i}");
            let parent = store.snapshot_parent(out).unwrap().map(|p| p.0);
            // (step, made over the previous result)
            let incremental = i != super::MAX_GENERATION + 1;
            assert_eq!(parent == Some(prev), incremental, "step {i}");
            prev = out;
        }
    }
}
