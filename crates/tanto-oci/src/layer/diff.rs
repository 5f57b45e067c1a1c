//! Layer blobs from directories — the inverse of [`super::apply_layer`].
//!
//! - [`TreeKind::Diff`]: an overlayfs diff directory (a snapshot's upper
//!   dir). Whiteouts (character devices 0:0) become empty `.wh.NAME`
//!   entries; directories with `trusted.overlay.opaque=y` get a
//!   `.wh..wh..opq` entry after them.
//! - [`TreeKind::Flat`]: a whole tree (a merged view): whiteouts and opaque
//!   markers are not layer content and are left out.
//!
//! Entries are sorted by name; owners are numeric (no user names); mode,
//! mtime, symlink targets, device numbers and xattrs (except overlayfs's own
//! `trusted.overlay.*`/`user.overlay.*`) are kept; files hard-linked within
//! the tree become hard-link entries. The tar is compressed as asked while
//! both the `diff_id` (uncompressed) and the blob digest are computed.
//!
//! The work is blocking; call it from `spawn_blocking`.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};
use tanto_fs::overlay::{is_opaque, is_overlay_xattr, is_whiteout};

use tanto_model::{Compression, LayerBlob};

/// What kind of directory a layer is made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TreeKind {
    Diff,
    Flat,
}

#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error("cannot read `{path}` to make a layer: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write layer blob `{path}`: {source}; check free space in the state directory")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The media type of a layer with `compression`, in OCI or Docker terms.
pub fn layer_media_type(compression: Compression, docker: bool) -> &'static str {
    match (compression, docker) {
        (Compression::Gzip, false) => "application/vnd.oci.image.layer.v1.tar+gzip",
        (Compression::Zstd, false) => "application/vnd.oci.image.layer.v1.tar+zstd",
        (Compression::Uncompressed, false) => "application/vnd.oci.image.layer.v1.tar",
        (Compression::Gzip, true) => "application/vnd.docker.image.rootfs.diff.tar.gzip",
        (Compression::Zstd, true) => "application/vnd.docker.image.rootfs.diff.tar.zstd",
        (Compression::Uncompressed, true) => "application/vnd.docker.image.rootfs.diff.tar",
    }
}

/// Counts and hashes what passes through.
struct HashWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn hex_digest(h: Sha256) -> String {
    format!("sha256:{}", hex::encode(h.finalize()))
}

/// The compressing part of the pipeline: uncompressed bytes in, blob out.
enum Compressor<W: Write> {
    None(W),
    Gzip(flate2::write::GzEncoder<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Compressor<W> {
    fn new(w: W, c: Compression) -> io::Result<Compressor<W>> {
        Ok(match c {
            Compression::Uncompressed => Compressor::None(w),
            Compression::Gzip => Compressor::Gzip(flate2::write::GzEncoder::new(w, flate2::Compression::default())),
            Compression::Zstd => Compressor::Zstd(zstd::stream::write::Encoder::new(w, 3)?),
        })
    }

    fn finish(self) -> io::Result<W> {
        match self {
            Compressor::None(w) => Ok(w),
            Compressor::Gzip(g) => g.finish(),
            Compressor::Zstd(z) => z.finish(),
        }
    }
}

impl<W: Write> Write for Compressor<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Compressor::None(w) => w.write(buf),
            Compressor::Gzip(g) => g.write(buf),
            Compressor::Zstd(z) => z.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Compressor::None(w) => w.flush(),
            Compressor::Gzip(g) => g.flush(),
            Compressor::Zstd(z) => z.flush(),
        }
    }
}

type Pipeline = HashWriter<Compressor<HashWriter<BufWriter<File>>>>;

fn pipeline(out: &Path, compression: Compression) -> Result<Pipeline, DiffError> {
    let werr = |source| DiffError::Write { path: out.to_path_buf(), source };
    let file = File::create(out).map_err(werr)?;
    let blob = HashWriter { inner: BufWriter::with_capacity(1 << 20, file), hasher: Sha256::new(), count: 0 };
    let compressed = Compressor::new(blob, compression).map_err(werr)?;
    Ok(HashWriter { inner: compressed, hasher: Sha256::new(), count: 0 })
}

fn finish(p: Pipeline, out: &Path) -> Result<LayerBlob, DiffError> {
    let werr = |source| DiffError::Write { path: out.to_path_buf(), source };
    let diff_id = hex_digest(p.hasher);
    let mut blob = p.inner.finish().map_err(werr)?;
    blob.flush().map_err(werr)?;
    let file = blob.inner.into_inner().map_err(|e| werr(e.into_error()))?;
    file.sync_data().map_err(werr)?;
    Ok(LayerBlob { digest: hex_digest(blob.hasher), diff_id, size: blob.count })
}

/// Writes the layer of directory `dir` to `out` (created or truncated).
pub fn write_layer(dir: &Path, kind: TreeKind, compression: Compression, out: &Path) -> Result<LayerBlob, DiffError> {
    let mut tar = tar::Builder::new(pipeline(out, compression)?);
    tar.follow_symlinks(false);
    let mut w = TreeWriter { kind, links: HashMap::new() };
    let werr = |source| DiffError::Write { path: out.to_path_buf(), source };
    if kind == TreeKind::Diff && is_opaque(dir) {
        w.marker(&mut tar, "", ".wh..wh..opq").map_err(|e| w.classify(e, out))?;
    }
    w.dir(&mut tar, dir, "").map_err(|e| w.classify(e, out))?;
    let p = tar.into_inner().map_err(werr)?;
    finish(p, out)
}

/// Writes directory `dir` as an uncompressed tar stream of its files (a flat
/// tree: no whiteouts) to `out`, and gives `out` back.
pub fn write_tree_tar<W: Write>(dir: &Path, out: W) -> Result<W, DiffError> {
    let mut tar = tar::Builder::new(out);
    tar.follow_symlinks(false);
    let mut w = TreeWriter { kind: TreeKind::Flat, links: HashMap::new() };
    let stream = Path::new("<stream>");
    w.dir(&mut tar, dir, "").map_err(|e| w.classify(e, stream))?;
    tar.into_inner().map_err(|source| DiffError::Write { path: stream.to_path_buf(), source })
}

/// Decompresses `blob` (any compression, by its content) and writes it again
/// with `compression`; the `diff_id` stays the same.
pub fn recompress(blob: &Path, compression: Compression, out: &Path) -> Result<LayerBlob, DiffError> {
    let rerr = |source| DiffError::Read { path: blob.to_path_buf(), source };
    let file = File::open(blob).map_err(rerr)?;
    let mut input = BufReader::with_capacity(1 << 20, file);
    let head = io::BufRead::fill_buf(&mut input).map_err(rerr)?;
    let mut reader: Box<dyn Read> = match Compression::sniff(head) {
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(input).map_err(rerr)?),
        Compression::Uncompressed => Box::new(input),
    };
    let mut p = pipeline(out, compression)?;
    io::copy(&mut reader, &mut p).map_err(|e| {
        if e.kind() == io::ErrorKind::InvalidData || e.kind() == io::ErrorKind::UnexpectedEof {
            rerr(e)
        } else {
            DiffError::Write { path: out.to_path_buf(), source: e }
        }
    })?;
    finish(p, out)
}

/// Errors while walking: which side failed.
enum WalkError {
    Read(PathBuf, io::Error),
    Write(io::Error),
}

impl From<io::Error> for WalkError {
    fn from(e: io::Error) -> Self {
        WalkError::Write(e)
    }
}

struct TreeWriter {
    kind: TreeKind,
    /// (dev, ino) of multiply-linked files already written → their name.
    links: HashMap<(u64, u64), String>,
}

fn major(dev: u64) -> u32 {
    (((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0x0000_0fff)) as u32
}

fn minor(dev: u64) -> u32 {
    (((dev >> 12) & 0xffff_ff00) | (dev & 0x0000_00ff)) as u32
}

impl TreeWriter {
    fn classify(&self, e: WalkError, out: &Path) -> DiffError {
        match e {
            WalkError::Read(path, source) => DiffError::Read { path, source },
            WalkError::Write(source) => DiffError::Write { path: out.to_path_buf(), source },
        }
    }

    fn header(&self, m: &std::fs::Metadata, kind: tar::EntryType) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(m.mode() & 0o7777);
        h.set_uid(m.uid() as u64);
        h.set_gid(m.gid() as u64);
        h.set_mtime(m.mtime().max(0) as u64);
        h.set_size(0);
        h
    }

    /// An empty marker file (`.wh.NAME`, `.wh..wh..opq`) in directory `dir_rel`.
    fn marker<W: Write>(&mut self, tar: &mut tar::Builder<W>, dir_rel: &str, name: &str) -> Result<(), WalkError> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0);
        h.set_size(0);
        h.set_mtime(0);
        let path = if dir_rel.is_empty() { name.to_string() } else { format!("{dir_rel}/{name}") };
        tar.append_data(&mut h, path, io::empty())?;
        Ok(())
    }

    fn xattrs<W: Write>(&self, tar: &mut tar::Builder<W>, path: &Path) -> Result<(), WalkError> {
        let names = match xattr::list(path) {
            Ok(n) => n,
            Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => return Ok(()),
            Err(e) => return Err(WalkError::Read(path.to_path_buf(), e)),
        };
        let mut pairs: Vec<(String, Vec<u8>)> = Vec::new();
        for name in names {
            let name_s = name.to_string_lossy().into_owned();
            if is_overlay_xattr(name.as_bytes()) {
                continue;
            }
            if let Ok(Some(v)) = xattr::get(path, &name) {
                pairs.push((format!("SCHILY.xattr.{name_s}"), v));
            }
        }
        if !pairs.is_empty() {
            pairs.sort();
            tar.append_pax_extensions(pairs.iter().map(|(k, v)| (k.as_str(), v.as_slice())))?;
        }
        Ok(())
    }

    fn dir<W: Write>(&mut self, tar: &mut tar::Builder<W>, dir: &Path, rel: &str) -> Result<(), WalkError> {
        let read = |e| WalkError::Read(dir.to_path_buf(), e);
        let mut names: Vec<std::ffi::OsString> = std::fs::read_dir(dir)
            .map_err(read)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(read)?;
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for name in names {
            let path = dir.join(&name);
            let name = name.to_string_lossy().into_owned();
            let child = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
            let m = std::fs::symlink_metadata(&path).map_err(|e| WalkError::Read(path.clone(), e))?;
            let ft = m.file_type();
            if is_whiteout(&m) {
                if self.kind == TreeKind::Diff {
                    self.marker(tar, rel, &format!(".wh.{name}"))?;
                }
                continue;
            }
            if ft.is_socket() {
                continue;
            }
            self.xattrs(tar, &path)?;
            if ft.is_dir() {
                let mut h = self.header(&m, tar::EntryType::Directory);
                tar.append_data(&mut h, format!("{child}/"), io::empty())?;
                if self.kind == TreeKind::Diff && is_opaque(&path) {
                    self.marker(tar, &child, ".wh..wh..opq")?;
                }
                self.dir(tar, &path, &child)?;
            } else if ft.is_symlink() {
                let target = std::fs::read_link(&path).map_err(|e| WalkError::Read(path.clone(), e))?;
                let mut h = self.header(&m, tar::EntryType::Symlink);
                tar.append_link(&mut h, &child, &target)?;
            } else if ft.is_file() {
                if m.nlink() > 1 {
                    if let Some(first) = self.links.get(&(m.dev(), m.ino())) {
                        let mut h = self.header(&m, tar::EntryType::Link);
                        tar.append_link(&mut h, &child, first)?;
                        continue;
                    }
                    self.links.insert((m.dev(), m.ino()), child.clone());
                }
                let f = File::open(&path).map_err(|e| WalkError::Read(path.clone(), e))?;
                let mut h = self.header(&m, tar::EntryType::Regular);
                h.set_size(m.len());
                // A file that changes size while read would corrupt the tar: read exactly its size.
                let mut reader = ExactReader { inner: f, left: m.len(), path: &path };
                tar.append_data(&mut h, &child, &mut reader).map_err(|e| reader.classify(e))?;
            } else {
                let kind = if ft.is_char_device() {
                    tar::EntryType::Char
                } else if ft.is_block_device() {
                    tar::EntryType::Block
                } else {
                    tar::EntryType::Fifo
                };
                let mut h = self.header(&m, kind);
                if kind != tar::EntryType::Fifo {
                    h.set_device_major(major(m.rdev()))?;
                    h.set_device_minor(minor(m.rdev()))?;
                }
                tar.append_data(&mut h, &child, io::empty())?;
            }
        }
        Ok(())
    }
}

/// Reads exactly `left` bytes (zero-padded if the file shrank), remembering
/// read errors so they are reported as such.
struct ExactReader<'p> {
    inner: File,
    left: u64,
    path: &'p Path,
}

impl ExactReader<'_> {
    /// Read errors are marked by [`Read::read`] below; the rest are the writer's.
    fn classify(&self, e: io::Error) -> WalkError {
        if e.kind() == io::ErrorKind::Other && e.to_string().starts_with("read: ") {
            WalkError::Read(self.path.to_path_buf(), e)
        } else {
            WalkError::Write(e)
        }
    }
}

impl Read for ExactReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = buf.len().min(self.left as usize);
        let n = match self.inner.read(&mut buf[..want]) {
            Ok(0) => {
                // shrank while reading: pad with zeros
                buf[..want].fill(0);
                want
            }
            Ok(n) => n,
            Err(e) => return Err(io::Error::other(format!("read: {e}"))),
        };
        self.left -= n as u64;
        Ok(n)
    }
}

impl tanto_model::Tiered for DiffError {
    fn tier(&self) -> tanto_model::Tier {
        tanto_model::Tier::Environment
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn names_of(blob: &Path) -> Vec<(String, tar::EntryType, u64)> {
        let f = File::open(blob).unwrap();
        let r: Box<dyn Read> = match Compression::sniff(&std::fs::read(blob).unwrap()[..4]) {
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(f)),
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(f).unwrap()),
            Compression::Uncompressed => Box::new(f),
        };
        let mut a = tar::Archive::new(r);
        a.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.path().unwrap().to_string_lossy().into_owned(), e.header().entry_type(), e.header().size().unwrap())
            })
            .collect()
    }

    fn tree(dir: &Path) {
        std::fs::create_dir_all(dir.join("a/sub")).unwrap();
        std::fs::write(dir.join("a/f.txt"), "hello").unwrap();
        std::fs::set_permissions(dir.join("a/f.txt"), std::fs::Permissions::from_mode(0o640)).unwrap();
        std::fs::hard_link(dir.join("a/f.txt"), dir.join("a/g.txt")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.join("link")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            dir.join("gone"),
            rustix::fs::FileType::CharacterDevice,
            rustix::fs::Mode::empty(),
            0,
        )
        .unwrap();
        xattr::set(dir.join("a/sub"), "trusted.overlay.opaque", b"y").unwrap();
    }

    #[test]
    fn diff_and_flat_layers() {
        // whiteouts are device nodes
        if !tanto_testkit::prereq::unit_test_can_run("diff_and_flat_layers", &[tanto_testkit::prereq::Need::Root]) {
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("d");
        tree(&dir);
        let use_names = |v: Vec<(String, tar::EntryType, u64)>| {
            v.into_iter().map(|(n, t, s)| (n, format!("{t:?}"), s)).collect::<Vec<_>>()
        };
        let diff = tmp.path().join("diff.tar.gz");
        let b = write_layer(&dir, TreeKind::Diff, Compression::Gzip, &diff).unwrap();
        assert_eq!(b.size, std::fs::metadata(&diff).unwrap().len());
        assert_eq!(b.digest, format!("sha256:{}", hex::encode(Sha256::digest(std::fs::read(&diff).unwrap()))));
        let want = vec![
            ("a/".to_string(), "Directory".to_string(), 0),
            ("a/f.txt".into(), "Regular".into(), 5),
            ("a/g.txt".into(), "Link".into(), 0),
            ("a/sub/".into(), "Directory".into(), 0),
            ("a/sub/.wh..wh..opq".into(), "Regular".into(), 0),
            (".wh.gone".into(), "Regular".into(), 0),
            ("link".into(), "Symlink".into(), 0),
        ];
        assert_eq!(use_names(names_of(&diff)), want);

        let flat = tmp.path().join("flat.tar");
        let f = write_layer(&dir, TreeKind::Flat, Compression::Uncompressed, &flat).unwrap();
        let got = use_names(names_of(&flat));
        assert!(!got.iter().any(|(n, _, _)| n.contains(".wh.")), "{got:?}");
        assert_eq!(f.digest, f.diff_id, "uncompressed: blob digest is the diff_id");

        // recompressing keeps the diff_id; the same input gives the same bytes
        let z = tmp.path().join("diff.tar.zst");
        let rz = recompress(&diff, Compression::Zstd, &z).unwrap();
        assert_eq!(rz.diff_id, b.diff_id);
        assert_ne!(rz.digest, b.digest);
        let again = write_layer(&dir, TreeKind::Diff, Compression::Gzip, &tmp.path().join("again")).unwrap();
        assert_eq!(again.digest, b.digest);

        // applying the layer gives back the tree
        let back = tmp.path().join("back");
        std::fs::create_dir(&back).unwrap();
        crate::layer::apply_layer(&diff, "application/vnd.oci.image.layer.v1.tar+gzip", &back, &[]).unwrap();
        assert_eq!(std::fs::read_to_string(back.join("a/g.txt")).unwrap(), "hello");
        assert_eq!(std::fs::symlink_metadata(back.join("a/f.txt")).unwrap().mode() & 0o7777, 0o640);
        assert!(is_whiteout(&std::fs::symlink_metadata(back.join("gone")).unwrap()));
        assert!(is_opaque(&back.join("a/sub")));
    }

    #[test]
    fn media_types() {
        assert_eq!(layer_media_type(Compression::Gzip, false), "application/vnd.oci.image.layer.v1.tar+gzip");
        assert_eq!(layer_media_type(Compression::Uncompressed, true), "application/vnd.docker.image.rootfs.diff.tar");
        for c in [Compression::Gzip, Compression::Zstd, Compression::Uncompressed] {
            for docker in [false, true] {
                assert_eq!(Compression::from_media_type(layer_media_type(c, docker)), Some(c));
            }
        }
    }
}
