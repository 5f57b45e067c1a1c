//! Applying an image layer (a tar, maybe compressed) to a directory that is
//! an overlayfs upper/lower directory of its own.
//!
//! - OCI whiteouts become overlayfs whiteouts: `.wh.NAME` is a character
//!   device 0:0 named `NAME`; `.wh..wh..opq` sets `trusted.overlay.opaque=y`
//!   on its directory. Other `.wh..wh.*` entries (aufs bookkeeping) are skipped.
//! - Nothing is written outside `dest`: every parent path and hard-link
//!   target is resolved with `openat2(RESOLVE_IN_ROOT)` from a descriptor of
//!   `dest`, so `..`, absolute symlinks and symlinked parents all stay inside;
//!   the last component is created with `*at` calls that never follow it.
//!   `..` in entry names is clamped at the root, as containerd does.
//! - Xattrs in the `trusted.overlay.` and `user.overlay.` namespaces are never
//!   taken from a layer (they would steer overlayfs).
//! - The layer is applied over the layers below it (`lowers`, topmost
//!   first, only read) as the merged overlayfs view shows them: an entry
//!   under a directory the layer does not list goes into that directory as
//!   the lower layers have it — its owner, mode, xattrs and times copied up,
//!   symlinks on the way followed inside the root — and only a directory
//!   that is nowhere is made with mode 0755 (containerd's rule); a hard link
//!   may name a file of a lower layer, which is copied up first (what
//!   overlayfs does on `link`), so both names are one file of this layer.
//! - Directory mtimes are set after everything else.
//!
//! The work is blocking; call it from `spawn_blocking`.

pub mod diff;
mod lower;
mod tree;
mod unpack;

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};
use tanto_model::Compression;

use tree::{Meta, Tree};
pub use unpack::{unpack_or_copy, UnpackError};

/// What applying a layer did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LayerStats {
    /// `sha256:<hex>` of the uncompressed tar: the layer's `diff_id`.
    pub diff_id: String,
    /// Filesystem entries created or updated (files, directories, links,
    /// devices), whiteouts not included.
    pub files: u64,
    /// Size of the uncompressed tar stream.
    pub bytes: u64,
    /// Whiteouts and opaque markers written.
    pub whiteouts: u64,
    /// Entries skipped because they could not be represented here (device
    /// nodes without `CAP_MKNOD`, unknown entry types).
    pub skipped: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("cannot open layer blob `{path}`: {source}")]
    OpenBlob {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot open layer destination `{path}`: {source}; it must be an existing directory")]
    OpenDest {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot read layer `{blob}` ({compression:?}): {source}; the blob is probably corrupt: delete it and pull again")]
    Read {
        blob: PathBuf,
        compression: Compression,
        #[source]
        source: io::Error,
    },
    #[error("layer `{blob}`: cannot write `{entry}` under `{dest}`: {source}")]
    Write {
        blob: PathBuf,
        entry: String,
        dest: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("layer `{blob}`: hard link `{entry}` points to `{target}`, which neither this layer nor the layers below it contain; the image is malformed")]
    LinkTarget { blob: PathBuf, entry: String, target: String },
    #[error("applying layers needs openat2 (Linux 5.6 or newer); this kernel does not have it")]
    Kernel,
}

/// Decompresses `blob` (gzip, zstd or none, by `media_type` or by its magic
/// bytes) and unpacks it into `dest`, over `lowers` (the directories of the
/// layers below, topmost first). See the module docs for the rules.
pub fn apply_layer(blob: &Path, media_type: &str, dest: &Path, lowers: &[PathBuf]) -> Result<LayerStats, LayerError> {
    let file = File::open(blob).map_err(|source| LayerError::OpenBlob { path: blob.to_path_buf(), source })?;
    let mut input = BufReader::with_capacity(1 << 20, file);
    let head = input.fill_buf().map_err(|source| LayerError::OpenBlob { path: blob.to_path_buf(), source })?;
    let sniffed = Compression::sniff(head);
    let declared = Compression::from_media_type(media_type);
    if declared.is_some_and(|d| d != sniffed) {
        tracing::debug!(media_type, ?sniffed, blob = %blob.display(), "layer media type disagrees with its content; going by the content");
    }
    let compression = sniffed;
    let reader: Box<dyn Read> = match compression {
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
        Compression::Zstd => {
            Box::new(zstd::stream::read::Decoder::with_buffer(input).map_err(|source| LayerError::Read {
                blob: blob.to_path_buf(),
                compression,
                source,
            })?)
        }
        Compression::Uncompressed => Box::new(input),
    };
    apply_tar_inner(reader, dest, lowers, blob, compression)
}

/// Unpacks an uncompressed tar stream into `dest` (same rules as
/// [`apply_layer`], nothing below).
pub fn apply_tar<R: Read>(tar: R, dest: &Path) -> Result<LayerStats, LayerError> {
    apply_tar_inner(tar, dest, &[], Path::new("<stream>"), Compression::Uncompressed)
}

struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

fn apply_tar_inner<R: Read>(
    reader: R,
    dest: &Path,
    lowers: &[PathBuf],
    blob: &Path,
    compression: Compression,
) -> Result<LayerStats, LayerError> {
    let read_err = |source| LayerError::Read { blob: blob.to_path_buf(), compression, source };
    let mut tree = Tree::open(dest, lowers).map_err(|source| {
        if source.raw_os_error() == Some(libc::ENOSYS) {
            LayerError::Kernel
        } else {
            LayerError::OpenDest { path: dest.to_path_buf(), source }
        }
    })?;
    let hashing = Hashing { inner: reader, hasher: Sha256::new(), count: 0 };
    let mut archive = tar::Archive::new(BufReader::with_capacity(1 << 20, hashing));
    let mut stats = LayerStats::default();
    let mut buf = vec![0u8; 1 << 20];
    let mut dir_times: Vec<(Vec<u8>, i64, u32)> = Vec::new();

    for entry in archive.entries().map_err(read_err)? {
        let mut entry = entry.map_err(read_err)?;
        let path = entry.path_bytes().into_owned();
        let entry_name = String::from_utf8_lossy(&path).into_owned();
        let write_err = |source| LayerError::Write {
            blob: blob.to_path_buf(),
            entry: entry_name.clone(),
            dest: dest.to_path_buf(),
            source,
        };
        let components = tanto_fs::path::components(&path);
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() || kind.is_gnu_longname() || kind.is_gnu_longlink() {
            continue;
        }
        let Some((name, parent)) = components.split_last() else {
            // the layer's root (`./`): the directory itself is not ours to change
            continue;
        };
        let name: &[u8] = name;

        // whiteouts
        if let Some(target) = name.strip_prefix(b".wh.") {
            if target == b".wh..opq" {
                tree.set_opaque(parent).map_err(write_err)?;
                stats.whiteouts += 1;
            } else if target.starts_with(b".wh.") || target.is_empty() || target == b"." || target == b".." {
                tracing::debug!(entry = %entry_name, "skipping aufs metadata entry");
            } else {
                let (uid, gid) = (entry.header().uid().unwrap_or(0), entry.header().gid().unwrap_or(0));
                tree.whiteout(parent, target, uid as u32, gid as u32).map_err(write_err)?;
                stats.whiteouts += 1;
            }
            continue;
        }

        let meta = read_meta(&mut entry).map_err(read_err)?;
        use tar::EntryType as T;
        match kind {
            T::Directory => {
                tree.directory(parent, name, &meta).map_err(write_err)?;
                dir_times.push((components.join(&b'/'), meta.mtime, meta.mtime_nsec));
            }
            T::Regular | T::Continuous | T::GNUSparse => {
                let mut file = tree.create_file(parent, name).map_err(write_err)?;
                loop {
                    let n = match entry.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(read_err(e)),
                    };
                    file.write_all(&buf[..n]).map_err(write_err)?;
                }
                tree.finish_file(&file, &meta, name).map_err(write_err)?;
            }
            T::Symlink => {
                let target = entry.link_name_bytes().map(|t| t.into_owned()).unwrap_or_default();
                tree.symlink(parent, name, &target, &meta).map_err(write_err)?;
            }
            T::Link => {
                let target_raw = entry.link_name_bytes().map(|t| t.into_owned()).unwrap_or_default();
                let target = tanto_fs::path::components(&target_raw);
                if target.is_empty() {
                    return Err(LayerError::LinkTarget {
                        blob: blob.to_path_buf(),
                        entry: entry_name,
                        target: String::from_utf8_lossy(&target_raw).into_owned(),
                    });
                }
                if target == components {
                    continue; // a link to itself
                }
                match tree.hardlink(parent, name, &target) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        return Err(LayerError::LinkTarget {
                            blob: blob.to_path_buf(),
                            entry: entry_name,
                            target: String::from_utf8_lossy(&target_raw).into_owned(),
                        })
                    }
                    Err(e) => return Err(write_err(e)),
                }
            }
            T::Char | T::Block | T::Fifo => {
                let (major, minor) = (
                    entry.header().device_major().ok().flatten().unwrap_or(0),
                    entry.header().device_minor().ok().flatten().unwrap_or(0),
                );
                let ft = match kind {
                    T::Char => rustix::fs::FileType::CharacterDevice,
                    T::Block => rustix::fs::FileType::BlockDevice,
                    _ => rustix::fs::FileType::Fifo,
                };
                match tree.node(parent, name, ft, major, minor, &meta) {
                    Ok(()) => {}
                    Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                        tracing::warn!(entry = %entry_name, "skipping device node: creating it is not permitted here");
                        stats.skipped += 1;
                        continue;
                    }
                    Err(e) => return Err(write_err(e)),
                }
            }
            other => {
                tracing::warn!(entry = %entry_name, kind = ?other, "skipping tar entry of unsupported type");
                stats.skipped += 1;
                continue;
            }
        }
        stats.files += 1;
    }

    // directory times last: creating their children changed them
    tree.restore_copied_up_times();
    for (path, sec, nsec) in dir_times.iter().rev() {
        let components: Vec<&[u8]> = if path.is_empty() { vec![] } else { path.split(|b| *b == b'/').collect() };
        if let Err(e) = tree.set_dir_time(&components, *sec, *nsec) {
            tracing::debug!(path = %String::from_utf8_lossy(path), error = %e, "cannot set directory time");
        }
    }

    // read to the end so the digest covers the whole stream (tar padding, and
    // the gzip trailer whose CRC the decoder checks)
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(read_err)?;
    let hashing = rest.into_inner();
    stats.bytes = hashing.count;
    stats.diff_id = format!("sha256:{}", hex::encode(hashing.hasher.finalize()));
    Ok(stats)
}

fn read_meta<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<Meta> {
    let h = entry.header();
    let mut meta = Meta {
        mode: h.mode().unwrap_or(0o644) & 0o7777,
        uid: h.uid().unwrap_or(0) as u32,
        gid: h.gid().unwrap_or(0) as u32,
        mtime: h.mtime().unwrap_or(0) as i64,
        mtime_nsec: 0,
        atime: None,
        xattrs: Vec::new(),
    };
    if let Some(exts) = entry.pax_extensions()? {
        for ext in exts {
            let ext = ext?;
            let key = ext.key_bytes();
            if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                meta.xattrs.push((name.to_vec(), ext.value_bytes().to_vec()));
            } else if key == b"mtime" {
                if let Some((s, ns)) = parse_pax_time(ext.value_bytes()) {
                    meta.mtime = s;
                    meta.mtime_nsec = ns;
                }
            } else if key == b"atime" {
                meta.atime = parse_pax_time(ext.value_bytes());
            }
        }
    }
    Ok(meta)
}

/// `1700000000.123456789` -> (seconds, nanoseconds)
fn parse_pax_time(v: &[u8]) -> Option<(i64, u32)> {
    let s = std::str::from_utf8(v).ok()?.trim();
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = secs.parse().ok()?;
    let mut nanos = 0u32;
    if !frac.is_empty() {
        let digits: String = frac.chars().take(9).collect();
        nanos = format!("{digits:0<9}").parse().ok()?;
        if secs < 0 && nanos > 0 {
            return Some((secs - 1, 1_000_000_000 - nanos));
        }
    }
    Some((secs, nanos))
}

impl tanto_model::Tiered for LayerError {
    fn tier(&self) -> tanto_model::Tier {
        match self {
            // a hard link to nothing: the image is malformed
            LayerError::LinkTarget { .. } => tanto_model::Tier::Input,
            _ => tanto_model::Tier::Environment,
        }
    }
}

#[cfg(test)]
mod tests;
