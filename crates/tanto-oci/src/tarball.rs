//! Image tarballs: writing an OCI image layout as a tar (with Docker's
//! `manifest.json` beside it, so `docker load` takes it too), and reading
//! OCI-layout or `docker save` tarballs back (blobs into the caller's store).
//!
//! Reading never trusts names: blobs under `blobs/sha256/` must hash to their
//! name, everything else is addressed by the digest of its content, and small
//! JSON files are size-limited. Nothing is written outside the caller's
//! scratch directory and blob store.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use crate::image::ConfigBlob;
use crate::platform::Platform;
use crate::registry::media;
use tanto_model::Compression;

/// Largest JSON file read from a tarball.
const JSON_LIMIT: u64 = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum TarballError {
    #[error("cannot read image tarball `{path}`: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write `{path}`: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("image tarball `{path}`: {detail}; it must be an OCI image layout or a `docker save` archive")]
    Invalid { path: PathBuf, detail: String },
    #[error("image tarball `{path}` has no image tagged `{tag}` (it has: {available}); pass one of those as `tag`")]
    NoSuchTag { path: PathBuf, tag: String, available: String },
}

// --- writing

/// Writes an OCI image layout as a tar stream.
pub struct LayoutWriter<W: Write> {
    tar: tar::Builder<W>,
    written: HashSet<String>,
}

fn file_header(size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(size);
    h.set_mtime(0);
    h
}

fn dir_header() -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_size(0);
    h.set_mtime(0);
    h
}

fn blob_name(digest: &str) -> String {
    format!("blobs/{}", digest.replacen(':', "/", 1))
}

impl<W: Write> LayoutWriter<W> {
    pub fn new(w: W) -> io::Result<LayoutWriter<W>> {
        let mut tar = tar::Builder::new(w);
        let layout = br#"{"imageLayoutVersion":"1.0.0"}"#;
        tar.append_data(&mut file_header(layout.len() as u64), "oci-layout", &layout[..])?;
        tar.append_data(&mut dir_header(), "blobs/", io::empty())?;
        tar.append_data(&mut dir_header(), "blobs/sha256/", io::empty())?;
        Ok(LayoutWriter { tar, written: HashSet::new() })
    }

    /// Adds blob `digest` from a file (once, however often it is added).
    pub fn blob_file(&mut self, digest: &str, path: &Path) -> io::Result<()> {
        if !self.written.insert(digest.to_string()) {
            return Ok(());
        }
        let f = File::open(path)?;
        let len = f.metadata()?.len();
        self.tar.append_data(&mut file_header(len), blob_name(digest), f)
    }

    pub fn blob_bytes(&mut self, digest: &str, data: &[u8]) -> io::Result<()> {
        if !self.written.insert(digest.to_string()) {
            return Ok(());
        }
        self.tar.append_data(&mut file_header(data.len() as u64), blob_name(digest), data)
    }

    /// Writes `index.json` (and `manifest.json` when given) and ends the tar.
    pub fn finish(mut self, index: &[u8], docker_manifest: Option<&[u8]>) -> io::Result<W> {
        self.tar.append_data(&mut file_header(index.len() as u64), "index.json", index)?;
        if let Some(m) = docker_manifest {
            self.tar.append_data(&mut file_header(m.len() as u64), "manifest.json", m)?;
        }
        self.tar.into_inner()
    }
}

/// `index.json` of a layout holding one manifest or index.
pub fn layout_index(media_type: &str, digest: &str, size: u64, ref_name: Option<&str>) -> Vec<u8> {
    let mut desc = json!({"mediaType": media_type, "digest": digest, "size": size});
    if let Some(name) = ref_name.filter(|n| !n.is_empty()) {
        desc["annotations"] = json!({"org.opencontainers.image.ref.name": name});
    }
    serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": media::OCI_INDEX, "manifests": [desc]})).expect("json")
}

/// Docker's `manifest.json` for one image.
pub fn docker_manifest(config_digest: &str, layer_digests: &[String], repo_tags: &[String]) -> Vec<u8> {
    serde_json::to_vec(&json!([{
        "Config": blob_name(config_digest),
        "RepoTags": repo_tags,
        "Layers": layer_digests.iter().map(|d| blob_name(d)).collect::<Vec<_>>(),
    }]))
    .expect("json")
}

// --- reading

/// A layer of an image read from a tarball.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveLayer {
    pub digest: String,
    pub media_type: String,
    pub size: u64,
    pub diff_id: String,
}

/// One image of a tarball, its blobs in the caller's store.
#[derive(Debug, Clone)]
pub struct ArchiveImage {
    /// Digest of the chosen manifest (for a docker archive: of its config).
    pub digest: String,
    /// The name it was tagged with in the tarball, if any.
    pub ref_name: Option<String>,
    pub config_bytes: Vec<u8>,
    pub config: ConfigBlob,
    pub layers: Vec<ArchiveLayer>,
}

/// What a pass over a tarball found.
struct Contents {
    /// Small files by path (index.json, manifest.json, docker configs).
    small: HashMap<String, Vec<u8>>,
    /// Path of every other regular file → digest of its content (in the store).
    blobs: HashMap<String, String>,
}

fn clean_name(p: &Path) -> Option<String> {
    let mut parts = Vec::new();
    for c in p.components() {
        match c {
            std::path::Component::Normal(s) => parts.push(s.to_str()?.to_string()),
            std::path::Component::CurDir => {}
            _ => return None,
        }
    }
    Some(parts.join("/"))
}

/// Streams the tarball once: blobs go to `put_blob(digest, temp file)`.
fn read_contents(
    path: &Path,
    file: File,
    scratch: &Path,
    put_blob: &mut dyn FnMut(&str, &Path) -> io::Result<()>,
) -> Result<Contents, TarballError> {
    let rerr = |source| TarballError::Read { path: path.to_path_buf(), source };
    let mut input = BufReader::with_capacity(1 << 20, file);
    let head = input.fill_buf().map_err(rerr)?;
    let reader: Box<dyn Read> = match Compression::sniff(head) {
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(input).map_err(rerr)?),
        Compression::Uncompressed => Box::new(input),
    };
    let mut archive = tar::Archive::new(reader);
    let mut out = Contents { small: HashMap::new(), blobs: HashMap::new() };
    let mut n = 0u64;
    for entry in archive.entries().map_err(rerr)? {
        let mut entry = entry.map_err(rerr)?;
        if entry.header().entry_type() != tar::EntryType::Regular
            && entry.header().entry_type() != tar::EntryType::Continuous
        {
            continue;
        }
        let Some(name) = entry.path().ok().and_then(|p| clean_name(&p)) else {
            continue;
        };
        let size = entry.header().size().map_err(rerr)?;
        let named_blob =
            name.strip_prefix("blobs/sha256/").filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
        if named_blob.is_none()
            && size <= JSON_LIMIT
            && (name.ends_with(".json") || name == "oci-layout" || name == "repositories")
        {
            let mut data = Vec::with_capacity(size as usize);
            entry.read_to_end(&mut data).map_err(rerr)?;
            out.small.insert(name, data);
            continue;
        }
        n += 1;
        let tmp = scratch.join(format!("import-{}-{n}", std::process::id()));
        let werr = |source| TarballError::Write { path: tmp.clone(), source };
        let mut h = Sha256::new();
        {
            let mut f = io::BufWriter::new(File::create(&tmp).map_err(werr)?);
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let k = entry.read(&mut buf).map_err(rerr)?;
                if k == 0 {
                    break;
                }
                h.update(&buf[..k]);
                f.write_all(&buf[..k]).map_err(werr)?;
            }
            f.flush().map_err(werr)?;
        }
        let digest = format!("sha256:{}", hex::encode(h.finalize()));
        if let Some(hex) = named_blob {
            if digest != format!("sha256:{hex}") {
                let _ = std::fs::remove_file(&tmp);
                return Err(TarballError::Invalid {
                    path: path.to_path_buf(),
                    detail: format!("blob `{name}` has digest `{digest}`: the tarball is corrupt"),
                });
            }
        }
        put_blob(&digest, &tmp).map_err(|source| TarballError::Write { path: tmp.clone(), source })?;
        let _ = std::fs::remove_file(&tmp);
        out.blobs.insert(name, digest);
    }
    Ok(out)
}

/// Reads the image tarball `file` (named `path` in errors): blobs are handed
/// to `put_blob` (a verified temp file in `scratch`, to move into the store)
/// and read back through `blob_path`. `tag` picks an image when the tarball
/// holds several (matching a ref name, a `RepoTags` entry or their tag part);
/// `platform` picks one of a multi-platform index.
pub fn read_image_tarball(
    path: &Path,
    file: File,
    tag: &str,
    platform: &Platform,
    scratch: &Path,
    put_blob: &mut dyn FnMut(&str, &Path) -> io::Result<()>,
    blob_path: &dyn Fn(&str) -> PathBuf,
) -> Result<ArchiveImage, TarballError> {
    let contents = read_contents(path, file, scratch, put_blob)?;
    let invalid = |detail: String| TarballError::Invalid { path: path.to_path_buf(), detail };
    let read_blob = |digest: &str| -> Result<Vec<u8>, TarballError> {
        let p = blob_path(digest);
        let meta = std::fs::metadata(&p).map_err(|_| invalid(format!("it lacks blob `{digest}`")))?;
        if meta.len() > JSON_LIMIT {
            return Err(invalid(format!("blob `{digest}` is too large for a manifest or config")));
        }
        std::fs::read(&p).map_err(|source| TarballError::Read { path: p.clone(), source })
    };
    let tag_matches =
        |name: &str| !tag.is_empty() && (name == tag || name.rsplit_once(':').is_some_and(|(_, t)| t == tag));

    if let Some(index) = contents.small.get("index.json") {
        let index: Value =
            serde_json::from_slice(index).map_err(|e| invalid(format!("its index.json is not JSON: {e}")))?;
        let manifests = index["manifests"].as_array().cloned().unwrap_or_default();
        let name_of = |d: &Value| -> Option<String> {
            let a = &d["annotations"];
            a["io.containerd.image.name"]
                .as_str()
                .or(a["org.opencontainers.image.ref.name"].as_str())
                .map(str::to_string)
        };
        let chosen = if tag.is_empty() {
            manifests.first().cloned()
        } else {
            manifests.iter().find(|d| name_of(d).is_some_and(|n| tag_matches(&n))).cloned().or_else(|| {
                manifests
                    .iter()
                    .find(|d| d["annotations"]["org.opencontainers.image.ref.name"].as_str() == Some(tag))
                    .cloned()
            })
        };
        let Some(desc) = chosen else {
            if tag.is_empty() {
                return Err(invalid("its index.json lists no image".into()));
            }
            let available: Vec<String> = manifests.iter().filter_map(name_of).collect();
            return Err(TarballError::NoSuchTag {
                path: path.to_path_buf(),
                tag: tag.into(),
                available: if available.is_empty() { "no tags".into() } else { available.join(", ") },
            });
        };
        let ref_name = name_of(&desc);
        let mut digest =
            desc["digest"].as_str().ok_or_else(|| invalid("an index entry without a digest".into()))?.to_string();
        let mut manifest: Value = serde_json::from_slice(&read_blob(&digest)?)
            .map_err(|e| invalid(format!("manifest `{digest}` is not JSON: {e}")))?;
        // an index inside: take the platform's manifest
        for _ in 0..4 {
            let Some(list) = manifest["manifests"].as_array() else {
                break;
            };
            let mut best: Option<(u32, String)> = None;
            for d in list {
                let p = &d["platform"];
                let candidate = Platform::new(
                    p["os"].as_str().unwrap_or(""),
                    p["architecture"].as_str().unwrap_or(""),
                    p["variant"].as_str(),
                );
                if p["os"].as_str() == Some("unknown") {
                    continue;
                }
                if let (Some(score), Some(dg)) = (platform.match_score(&candidate), d["digest"].as_str()) {
                    if best.as_ref().is_none_or(|(s, _)| score > *s) {
                        best = Some((score, dg.to_string()));
                    }
                }
            }
            let Some((_, d)) =
                best.or_else(|| list.first().and_then(|d| d["digest"].as_str()).map(|d| (0, d.to_string())))
            else {
                return Err(invalid(format!("index `{digest}` lists no image")));
            };
            digest = d;
            manifest = serde_json::from_slice(&read_blob(&digest)?)
                .map_err(|e| invalid(format!("manifest `{digest}` is not JSON: {e}")))?;
        }
        let config_digest = manifest["config"]["digest"]
            .as_str()
            .ok_or_else(|| invalid(format!("manifest `{digest}` has no config")))?
            .to_string();
        let config_bytes = read_blob(&config_digest)?;
        let config = ConfigBlob::from_slice(&config_bytes)
            .map_err(|e| invalid(format!("config `{config_digest}` cannot be read: {e}")))?;
        let descs = manifest["layers"].as_array().cloned().unwrap_or_default();
        if descs.len() != config.rootfs.diff_ids.len() {
            return Err(invalid(format!(
                "manifest `{digest}` lists {} layers but its config {} diff_ids",
                descs.len(),
                config.rootfs.diff_ids.len()
            )));
        }
        let mut layers = Vec::new();
        for (d, diff_id) in descs.iter().zip(&config.rootfs.diff_ids) {
            let ld = d["digest"].as_str().ok_or_else(|| invalid("a layer without a digest".into()))?.to_string();
            if !blob_path(&ld).is_file() {
                return Err(invalid(format!("it lacks layer blob `{ld}`")));
            }
            layers.push(ArchiveLayer {
                media_type: d["mediaType"].as_str().unwrap_or(media::OCI_LAYER_GZIP).to_string(),
                size: d["size"].as_u64().unwrap_or(0),
                digest: ld,
                diff_id: diff_id.clone(),
            });
        }
        return Ok(ArchiveImage { digest, ref_name, config_bytes, config, layers });
    }

    if let Some(m) = contents.small.get("manifest.json") {
        #[derive(serde::Deserialize)]
        struct DockerEntry {
            #[serde(rename = "Config")]
            config: String,
            #[serde(rename = "RepoTags", default)]
            repo_tags: Option<Vec<String>>,
            #[serde(rename = "Layers", default)]
            layers: Vec<String>,
        }
        let entries: Vec<DockerEntry> =
            serde_json::from_slice(m).map_err(|e| invalid(format!("its manifest.json cannot be read: {e}")))?;
        let chosen = if tag.is_empty() {
            entries.first()
        } else {
            entries.iter().find(|e| e.repo_tags.iter().flatten().any(|t| tag_matches(t)))
        };
        let Some(e) = chosen else {
            if tag.is_empty() {
                return Err(invalid("its manifest.json lists no image".into()));
            }
            let available: Vec<String> = entries.iter().flat_map(|e| e.repo_tags.clone().unwrap_or_default()).collect();
            return Err(TarballError::NoSuchTag {
                path: path.to_path_buf(),
                tag: tag.into(),
                available: if available.is_empty() { "no tags".into() } else { available.join(", ") },
            });
        };
        let by_path = |p: &str| -> Result<Vec<u8>, TarballError> {
            let p = clean_name(Path::new(p)).unwrap_or_default();
            if let Some(b) = contents.small.get(&p) {
                return Ok(b.clone());
            }
            let d = contents.blobs.get(&p).ok_or_else(|| invalid(format!("it lacks `{p}`")))?;
            read_blob(d)
        };
        let config_bytes = by_path(&e.config)?;
        let config_digest = format!("sha256:{}", hex::encode(Sha256::digest(&config_bytes)));
        let config = ConfigBlob::from_slice(&config_bytes)
            .map_err(|err| invalid(format!("config `{}` cannot be read: {err}", e.config)))?;
        if e.layers.len() != config.rootfs.diff_ids.len() {
            return Err(invalid(format!(
                "`{}` lists {} layers but its config {} diff_ids",
                e.config,
                e.layers.len(),
                config.rootfs.diff_ids.len()
            )));
        }
        let mut layers = Vec::new();
        for (lp, diff_id) in e.layers.iter().zip(&config.rootfs.diff_ids) {
            let name = clean_name(Path::new(lp)).unwrap_or_default();
            let digest = contents.blobs.get(&name).ok_or_else(|| invalid(format!("it lacks layer `{lp}`")))?.clone();
            let bp = blob_path(&digest);
            let mut head = [0u8; 4];
            let size = std::fs::metadata(&bp).map(|m| m.len()).unwrap_or(0);
            let _ = File::open(&bp).and_then(|mut f| f.read(&mut head));
            let media_type = match Compression::sniff(&head) {
                Compression::Gzip => media::DOCKER_LAYER_GZIP,
                Compression::Zstd => media::OCI_LAYER_ZSTD,
                Compression::Uncompressed => "application/vnd.docker.image.rootfs.diff.tar",
            };
            layers.push(ArchiveLayer { digest, media_type: media_type.into(), size, diff_id: diff_id.clone() });
        }
        let ref_name = e.repo_tags.as_ref().and_then(|t| t.first().cloned());
        return Ok(ArchiveImage { digest: config_digest, ref_name, config_bytes, config, layers });
    }
    let found: BTreeMap<&String, ()> = contents.small.keys().map(|k| (k, ())).collect();
    Err(invalid(format!(
        "it has neither index.json nor manifest.json (small files found: {})",
        if found.is_empty() {
            "none".to_string()
        } else {
            found.keys().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        }
    )))
}

impl tanto_model::Tiered for TarballError {
    fn tier(&self) -> tanto_model::Tier {
        match self {
            TarballError::Invalid { .. } | TarballError::NoSuchTag { .. } => tanto_model::Tier::Input,
            TarballError::Read { .. } | TarballError::Write { .. } => tanto_model::Tier::Environment,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(data: &[u8]) -> String {
        format!("sha256:{}", hex::encode(Sha256::digest(data)))
    }

    struct Store(PathBuf);
    impl Store {
        fn path(&self, d: &str) -> PathBuf {
            self.0.join(d.replace(':', "-"))
        }
    }

    /// A one-layer image written with [`LayoutWriter`], read back.
    #[test]
    fn layout_round_trip_and_tags() {
        let tmp = tempfile::tempdir().unwrap();
        let layer = b"not really a tar, but a blob".to_vec();
        let layer_d = sha(&layer);
        let config = serde_json::to_vec(&json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": ["sha256:diff"]}, "config": {"Cmd": ["sh"]}})).unwrap();
        let config_d = sha(&config);
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": media::OCI_MANIFEST,
            "config": {"mediaType": media::OCI_CONFIG, "digest": config_d, "size": config.len()},
            "layers": [{"mediaType": media::OCI_LAYER_GZIP, "digest": layer_d, "size": layer.len()}],
        }))
        .unwrap();
        let manifest_d = sha(&manifest);
        let out = tmp.path().join("img.tar");
        let mut w = LayoutWriter::new(File::create(&out).unwrap()).unwrap();
        w.blob_bytes(&layer_d, &layer).unwrap();
        w.blob_bytes(&layer_d, &layer).unwrap(); // once only
        w.blob_bytes(&config_d, &config).unwrap();
        w.blob_bytes(&manifest_d, &manifest).unwrap();
        let index = layout_index(media::OCI_MANIFEST, &manifest_d, manifest.len() as u64, Some("example.com/app:v1"));
        w.finish(&index, Some(&docker_manifest(&config_d, std::slice::from_ref(&layer_d), &[]))).unwrap();

        let store = Store(tmp.path().join("store"));
        std::fs::create_dir(&store.0).unwrap();
        let scratch = tmp.path().to_path_buf();
        let platform = Platform::parse("linux/amd64").unwrap();
        let read = |tag: &str| {
            read_image_tarball(
                &out,
                File::open(&out).unwrap(),
                tag,
                &platform,
                &scratch,
                &mut |d: &str, p: &Path| std::fs::copy(p, store.path(d)).map(|_| ()),
                &|d: &str| store.path(d),
            )
        };
        for tag in ["", "v1", "example.com/app:v1"] {
            let img = read(tag).unwrap_or_else(|e| panic!("{tag}: {e}"));
            assert_eq!(img.digest, manifest_d);
            assert_eq!(img.ref_name.as_deref(), Some("example.com/app:v1"));
            assert_eq!(
                img.layers,
                vec![ArchiveLayer {
                    digest: layer_d.clone(),
                    media_type: media::OCI_LAYER_GZIP.into(),
                    size: layer.len() as u64,
                    diff_id: "sha256:diff".into()
                }]
            );
            assert_eq!(img.config.config.cmd, Some(vec!["sh".to_string()]));
        }
        let err = read("v2").unwrap_err().to_string();
        assert!(err.contains("`v2`") && err.contains("example.com/app:v1"), "{err}");
    }

    #[test]
    fn corrupt_and_foreign_tarballs_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let write = |name: &str, files: &[(&str, &[u8])]| {
            let p = tmp.path().join(name);
            let mut t = tar::Builder::new(File::create(&p).unwrap());
            for (n, data) in files {
                t.append_data(&mut file_header(data.len() as u64), n, *data).unwrap();
            }
            t.finish().unwrap();
            p
        };
        let platform = Platform::parse("linux/amd64").unwrap();
        let bad_blob = format!("blobs/sha256/{}", "0".repeat(64));
        let cases: Vec<(PathBuf, &str)> = vec![
            (write("corrupt.tar", &[(bad_blob.as_str(), b"x")]), "corrupt"),
            (write("empty.tar", &[("hello.txt", b"hi")]), "neither index.json nor manifest.json"),
        ];
        for (path, want) in cases {
            let err = read_image_tarball(
                &path,
                File::open(&path).unwrap(),
                "",
                &platform,
                tmp.path(),
                &mut |_, _| Ok(()),
                &|d| tmp.path().join(d),
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains(want), "{err}");
        }
    }
}
