//! Image assembly: manifests, configs and indexes from layer blobs, and the
//! OCI layout tarball of a built image.
//!
//! The caller (the engine) turns a container's snapshot chain into
//! [`BuiltLayer`]s (blob files already in place) and its state into an
//! [`ConfigBlob`]; this module adds the config's `rootfs`/`history`, makes
//! the manifest (one per platform) and, for several platforms, the index.
//! Everything is reproducible: `created` is the epoch, so the same container
//! is the same image whenever it is built.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use crate::image::{ConfigBlob, History};
use crate::layer::diff::layer_media_type;
use crate::platform::Platform;
use crate::registry::media;
use crate::tarball::{self, LayoutWriter};
use tanto_model::Compression;

/// The `created` time of images and their history entries.
pub const EPOCH: &str = "1970-01-01T00:00:00Z";

/// One layer of a built image: its blob is the file at `path`.
#[derive(Debug, Clone)]
pub struct BuiltLayer {
    pub digest: String,
    pub diff_id: String,
    pub size: u64,
    pub compression: Compression,
    pub path: PathBuf,
    /// The history entry's `created_by`.
    pub created_by: String,
    /// (host, repository) that already has this blob: a push to the same
    /// host can mount it instead of uploading.
    pub mount_from: Option<(String, String)>,
}

/// One platform's manifest and what it refers to.
#[derive(Debug, Clone)]
pub struct BuiltManifest {
    pub media_type: &'static str,
    pub bytes: Vec<u8>,
    pub digest: String,
    pub platform: Platform,
    pub config_digest: String,
    pub config_bytes: Vec<u8>,
    pub layers: Vec<BuiltLayer>,
}

/// An image ready to write or push: the top object (a manifest, or an index
/// of several) and everything it refers to.
#[derive(Debug, Clone)]
pub struct BuiltImage {
    pub top_media_type: &'static str,
    pub top_bytes: Vec<u8>,
    pub top_digest: String,
    pub manifests: Vec<BuiltManifest>,
}

impl BuiltImage {
    /// What a local image store calls this image: the config digest of a
    /// single-platform image, else the index digest.
    pub fn config_digest(&self) -> &str {
        match self.manifests.as_slice() {
            [m] => &m.config_digest,
            _ => &self.top_digest,
        }
    }

    /// Every layer blob once, in manifest order.
    pub fn unique_layers(&self) -> Vec<&BuiltLayer> {
        let mut seen = HashSet::new();
        self.manifests.iter().flat_map(|m| &m.layers).filter(|l| seen.insert(l.digest.clone())).collect()
    }
}

fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// The manifest of one platform: `config` gets the layers' diff IDs and one
/// history entry per layer (buildah and podman refuse images without).
pub fn manifest(
    mut config: ConfigBlob,
    layers: Vec<BuiltLayer>,
    annotations: &BTreeMap<String, String>,
    docker_media_types: bool,
) -> BuiltManifest {
    let platform = config.platform();
    config.created = Some(EPOCH.into());
    config.rootfs.diff_ids = layers.iter().map(|l| l.diff_id.clone()).collect();
    config.history = layers
        .iter()
        .map(|l| History {
            created: Some(EPOCH.into()),
            created_by: Some(l.created_by.clone()),
            comment: Some("tanto".into()),
            ..Default::default()
        })
        .collect();
    let config_bytes = config.to_vec();
    let config_digest = sha256(&config_bytes);
    let (manifest_type, config_type) = if docker_media_types {
        (media::DOCKER_MANIFEST, media::DOCKER_CONFIG)
    } else {
        (media::OCI_MANIFEST, media::OCI_CONFIG)
    };
    let mut manifest = json!({
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": {"mediaType": config_type, "digest": config_digest, "size": config_bytes.len()},
        "layers": layers.iter().map(|l| json!({
            "mediaType": layer_media_type(l.compression, docker_media_types),
            "digest": l.digest,
            "size": l.size,
        })).collect::<Vec<Value>>(),
    });
    if !annotations.is_empty() {
        manifest["annotations"] = json!(annotations);
    }
    let bytes = serde_json::to_vec(&manifest).expect("a manifest is JSON");
    BuiltManifest {
        media_type: manifest_type,
        digest: sha256(&bytes),
        bytes,
        platform,
        config_digest,
        config_bytes,
        layers,
    }
}

/// Errors of putting manifests together.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("no containers to export: the container has no filesystem (start with `from` or `withRootfs`)")]
    Empty,
    #[error("two platform variants are for `{0}`; give one container per platform")]
    DuplicatePlatform(String),
}

impl tanto_model::Tiered for BuildError {
    fn tier(&self) -> tanto_model::Tier {
        tanto_model::Tier::Input
    }
}

/// The image of `manifests` (one per platform): the manifest itself for one,
/// an index for several.
pub fn image(manifests: Vec<BuiltManifest>, docker_media_types: bool) -> Result<BuiltImage, BuildError> {
    let mut seen = HashSet::new();
    for m in &manifests {
        if !seen.insert(m.platform.to_string()) {
            return Err(BuildError::DuplicatePlatform(m.platform.to_string()));
        }
    }
    match manifests.as_slice() {
        [] => Err(BuildError::Empty),
        [m] => Ok(BuiltImage {
            top_media_type: m.media_type,
            top_bytes: m.bytes.clone(),
            top_digest: m.digest.clone(),
            manifests,
        }),
        _ => {
            let index_type = if docker_media_types { media::DOCKER_MANIFEST_LIST } else { media::OCI_INDEX };
            let index = json!({
                "schemaVersion": 2,
                "mediaType": index_type,
                "manifests": manifests.iter().map(|m| {
                    let mut p = json!({"architecture": m.platform.architecture, "os": m.platform.os});
                    if let Some(v) = &m.platform.variant {
                        p["variant"] = json!(v);
                    }
                    json!({"mediaType": m.media_type, "digest": m.digest, "size": m.bytes.len(), "platform": p})
                }).collect::<Vec<Value>>(),
            });
            let bytes = serde_json::to_vec(&index).expect("an index is JSON");
            Ok(BuiltImage { top_media_type: index_type, top_digest: sha256(&bytes), top_bytes: bytes, manifests })
        }
    }
}

/// Writes `built` as an OCI layout tarball (with Docker's `manifest.json`
/// for a single-platform image), synced to disk.
/// `ref_name` (`repo:tag`) becomes the `RepoTags` of `manifest.json`, or the
/// ref name of the index's entry for a multi-platform image.
pub fn write_layout(built: &BuiltImage, out: &Path, ref_name: Option<&str>) -> std::io::Result<()> {
    write_layout_to(built, &std::fs::File::create(out)?, ref_name)
}

/// Like [`write_layout`], into an open (empty) file.
pub fn write_layout_to(built: &BuiltImage, file: &std::fs::File, ref_name: Option<&str>) -> std::io::Result<()> {
    let mut w = LayoutWriter::new(std::io::BufWriter::with_capacity(1 << 20, file))?;
    for m in &built.manifests {
        for l in &m.layers {
            w.blob_file(&l.digest, &l.path)?;
        }
        w.blob_bytes(&m.config_digest, &m.config_bytes)?;
        w.blob_bytes(&m.digest, &m.bytes)?;
    }
    w.blob_bytes(&built.top_digest, &built.top_bytes)?;
    let index = tarball::layout_index(
        built.top_media_type,
        &built.top_digest,
        built.top_bytes.len() as u64,
        ref_name.filter(|_| built.manifests.len() > 1),
    );
    let docker = match built.manifests.as_slice() {
        [m] => Some(tarball::docker_manifest(
            &m.config_digest,
            &m.layers.iter().map(|l| l.digest.clone()).collect::<Vec<_>>(),
            &ref_name.map(|n| vec![n.to_string()]).unwrap_or_default(),
        )),
        _ => None,
    };
    let mut buf = w.finish(&index, docker.as_deref())?;
    std::io::Write::flush(&mut buf)?;
    buf.into_inner().map_err(|e| e.into_error())?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(arch: &str) -> ConfigBlob {
        ConfigBlob { architecture: arch.into(), os: "linux".into(), ..Default::default() }
    }

    fn layer(digest: &str) -> BuiltLayer {
        BuiltLayer {
            digest: digest.into(),
            diff_id: format!("{digest}-diff"),
            size: 3,
            compression: Compression::Gzip,
            path: PathBuf::from("/nonexistent"),
            created_by: format!("made {digest}"),
            mount_from: None,
        }
    }

    #[test]
    fn manifests_carry_layers_history_and_annotations() {
        let annotations = BTreeMap::from([("org.opencontainers.image.title".to_string(), "app".to_string())]);
        // (docker media types, annotations, manifest type, annotations in the manifest)
        let cases = [
            (false, BTreeMap::new(), media::OCI_MANIFEST, Value::Null),
            (true, BTreeMap::new(), media::DOCKER_MANIFEST, Value::Null),
            (false, annotations.clone(), media::OCI_MANIFEST, json!({"org.opencontainers.image.title": "app"})),
        ];
        for (docker, ann, want_type, want_ann) in cases {
            let m = manifest(config("amd64"), vec![layer("sha256:a"), layer("sha256:b")], &ann, docker);
            let j: Value = serde_json::from_slice(&m.bytes).unwrap();
            assert_eq!(m.media_type, want_type);
            assert_eq!(j["mediaType"], want_type);
            assert_eq!(j["annotations"], want_ann);
            assert_eq!(j["layers"].as_array().unwrap().len(), 2);
            assert_eq!(m.digest, sha256(&m.bytes));
            let cfg = ConfigBlob::from_slice(&m.config_bytes).unwrap();
            assert_eq!(cfg.rootfs.diff_ids, vec!["sha256:a-diff", "sha256:b-diff"]);
            assert_eq!(cfg.history.len(), 2);
            assert_eq!(cfg.created.as_deref(), Some(EPOCH));
        }
    }

    #[test]
    fn one_manifest_is_the_image_several_make_an_index() {
        let none = BTreeMap::new();
        let m = |arch: &str| manifest(config(arch), vec![layer("sha256:a")], &none, false);
        let one = image(vec![m("amd64")], false).unwrap();
        assert_eq!(one.top_digest, one.manifests[0].digest);
        let two = image(vec![m("amd64"), m("arm64")], false).unwrap();
        assert_eq!(two.top_media_type, media::OCI_INDEX);
        assert_eq!(two.unique_layers().len(), 1, "a layer shared by two platforms is one blob");
        assert!(matches!(image(vec![], false), Err(BuildError::Empty)));
        assert!(matches!(image(vec![m("amd64"), m("amd64")], false), Err(BuildError::DuplicatePlatform(_))));
    }
}
