//! Images out (`publish`, `Container.export`, `asTarball`) and in (`import`).
//!
//! Layers of a container come from its rootfs snapshot chain, bottom first:
//! a snapshot made by applying a pulled layer is that layer's blob, reused as
//! is (recompressed only when a compression is forced); any other snapshot
//! is the tar of its diff directory (overlay whiteouts and opaque dirs turned
//! into OCI `.wh.` entries), made once per compression and remembered in the
//! store; where the chain continues at a sub-path (a mounted directory's
//! output, `withRootfs`), everything below is squashed into one layer.
//! Empty diffs make no layer. Every layer gets one history entry (buildah
//! and podman refuse images without), and the config carries env, workdir,
//! user, entrypoint, cmd, labels, exposed ports, volumes and stop signal.
//!
//! Secrets never reach an image: they are not in the config (secret env vars
//! live beside it), and secret mounts are bind mounts whose stubs tanto-exec
//! removes, so only what a command itself wrote into the rootfs is there.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use futures::{StreamExt, TryStreamExt};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use tanto_api::dagger::backend::{Compression, ImageOptions};
use tanto_api::dagger::objects::{ContainerObj, FileObj};
use tanto_api::dagger::ResolvedImage;
use tanto_api::gql::FieldError;
use tanto_model::{BlobSource, LocalOp, Op, Ref, StableHasher, Vertex};
use tanto_oci::layer::diff::{self, TreeKind};
use tanto_oci::layer::Compression as Comp;
use tanto_oci::platform::Platform;
use tanto_oci::registry::media;
use tanto_oci::tarball::{self, LayoutWriter};
use tanto_store::{CacheRecord, LayerBlob, SnapshotId, Store};

use crate::backend::EngineBackend;

/// The `created` time of images and their history entries.
const EPOCH: &str = "1970-01-01T00:00:00Z";

/// Name of the file `asTarball` makes.
pub const TARBALL_NAME: &str = "container.tar";

fn msg(e: impl std::fmt::Display) -> FieldError {
    FieldError::from(e.to_string())
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, FieldError> + Send + 'static,
) -> Result<T, FieldError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| FieldError::from(format!("internal error: {e}")))?
}

fn comp_of(c: Compression) -> Comp {
    match c {
        Compression::Gzip => Comp::Gzip,
        Compression::Zstd => Comp::Zstd,
        Compression::Uncompressed => Comp::None,
    }
}

fn comp_name(c: Comp) -> &'static str {
    match c {
        Comp::Gzip => "gzip",
        Comp::Zstd => "zstd",
        Comp::None => "none",
    }
}

/// One layer of a built image.
#[derive(Debug, Clone)]
struct LayerOut {
    digest: String,
    diff_id: String,
    size: u64,
    compression: Comp,
    path: PathBuf,
    created_by: String,
    /// (host, repository) that already has this blob: a push to the same
    /// host can mount it instead of uploading.
    mount_from: Option<(String, String)>,
}

/// One platform's manifest.
struct ManifestOut {
    media_type: &'static str,
    bytes: Vec<u8>,
    digest: String,
    platform: Platform,
    config_digest: String,
    config_bytes: Vec<u8>,
    layers: Vec<LayerOut>,
}

/// An image ready to write or push: the top object (a manifest, or an index
/// of several) and everything it refers to.
pub(crate) struct BuiltImage {
    top_media_type: &'static str,
    top_bytes: Vec<u8>,
    top_digest: String,
    manifests: Vec<ManifestOut>,
}

impl BuiltImage {
    /// What a local image store calls this image: the config digest of a
    /// single-platform image, else the index digest.
    pub(crate) fn config_digest(&self) -> &str {
        match self.manifests.as_slice() {
            [m] => &m.config_digest,
            _ => &self.top_digest,
        }
    }
}

fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// Where a layer of the chain comes from.
enum Piece {
    /// A pulled (or imported) layer: its blob.
    Blob { snap: SnapshotId, source: BlobSource, diff_id: String },
    /// A snapshot's own diff directory.
    Diff { snap: SnapshotId },
    /// Everything visible at `selector` of `snap` (its whole chain), as one layer.
    Squash { snap: SnapshotId, selector: String },
}

fn is_root_selector(sel: &str) -> bool {
    sel.split('/').all(|c| c.is_empty() || c == ".")
}

impl EngineBackend {
    /// The layers of `c`'s rootfs, bottom first.
    async fn layers_of(&self, c: &ContainerObj, opts: &ImageOptions) -> Result<Vec<LayerOut>, FieldError> {
        let Some(rootfs) = &c.rootfs else {
            return Ok(Vec::new());
        };
        // The rootfs lineage: which snapshots are pulled layers, and labels.
        let mut blobs: HashMap<SnapshotId, (BlobSource, String)> = HashMap::new();
        let mut labels: HashMap<SnapshotId, String> = HashMap::new();
        let mut top = None;
        let mut cur = Some(rootfs.clone());
        while let Some(r) = cur {
            let snap = self.snapshot(Some(&r)).await?.expect("a ref has a snapshot");
            top.get_or_insert(snap);
            labels.insert(snap, r.vertex.label());
            cur = match &r.vertex.op {
                Op::ImageLayer(l) => {
                    blobs.insert(snap, (l.blob.clone(), l.diff_id.to_string()));
                    r.vertex.inputs.first().cloned()
                }
                Op::Exec(e) if r.output == 0 => e.rootfs.map(|i| r.vertex.inputs[i as usize].clone()),
                Op::File(f) if r.output == 0 => f.base.map(|i| r.vertex.inputs[i as usize].clone()),
                _ => None,
            };
        }
        let store = self.worker().store.clone();
        let top = top.expect("the rootfs was solved");
        // The snapshot chain, top first.
        let pieces = {
            let store = store.clone();
            blocking(move || {
                let mut out = Vec::new();
                let mut cur = top;
                loop {
                    match blobs.remove(&cur) {
                        Some((source, diff_id)) => out.push(Piece::Blob { snap: cur, source, diff_id }),
                        None => out.push(Piece::Diff { snap: cur }),
                    }
                    match store.snapshot_parent(cur).map_err(msg)? {
                        None => break,
                        Some((p, sel)) if is_root_selector(&sel) => cur = p,
                        Some((p, sel)) => {
                            out.push(Piece::Squash { snap: p, selector: sel });
                            break;
                        }
                    }
                }
                out.reverse();
                Ok(out)
            })
            .await?
        };
        let forced = opts.forced_compression.map(comp_of);
        let mut layers = Vec::new();
        for piece in pieces {
            if let Some(l) = self.layer_of(&store, piece, forced, &labels, c).await? {
                layers.push(l);
            }
        }
        Ok(layers)
    }

    async fn layer_of(
        &self,
        store: &Store,
        piece: Piece,
        forced: Option<Comp>,
        labels: &HashMap<SnapshotId, String>,
        c: &ContainerObj,
    ) -> Result<Option<LayerOut>, FieldError> {
        match piece {
            Piece::Blob { snap, source, diff_id } => {
                let digest = source.digest.to_string();
                let path = store.blob_path(&digest);
                if !path.is_file() {
                    let src = tanto_oci::registry::BlobSource::from(&source);
                    let auth = crate::export::auth_for(&self.host.auth, &[&source.host]);
                    self.worker()
                        .registry
                        .fetch_blob_with_auth(&src, &digest, Some(source.size), &path, &auth)
                        .await
                        .map_err(|e| {
                        format!("layer `{digest}` is no longer in the state directory and cannot be fetched again: {e}")
                    })?;
                }
                let have = match Comp::from_media_type(&source.media_type) {
                    Some(h) => h,
                    None => {
                        let mut head = [0u8; 4];
                        let _ = std::fs::File::open(&path).and_then(|mut f| std::io::Read::read(&mut f, &mut head));
                        Comp::sniff(&head)
                    }
                };
                let created_by = match &c.image_ref {
                    Some(r) => format!("layer {} of {r}", short(&digest)),
                    None => format!("layer {}", short(&digest)),
                };
                let want = forced.unwrap_or(have);
                if want == have {
                    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(source.size);
                    let mount_from =
                        (!source.host.is_empty()).then(|| (source.host.clone(), source.repository.clone()));
                    return Ok(Some(LayerOut {
                        digest,
                        diff_id,
                        size,
                        compression: have,
                        path,
                        created_by,
                        mount_from,
                    }));
                }
                let blob = self
                    .cached_blob(store, snap, want, &format!("recompressed:{}", comp_name(want)), move |out| {
                        diff::recompress(&path, want, out)
                    })
                    .await?;
                Ok(Some(LayerOut {
                    path: store.blob_path(&blob.digest),
                    digest: blob.digest,
                    diff_id,
                    size: blob.size,
                    compression: want,
                    created_by,
                    mount_from: None,
                }))
            }
            Piece::Diff { snap } => {
                let dir = store.snapshot_dir(snap);
                let empty = std::fs::read_dir(&dir).map(|mut d| d.next().is_none()).unwrap_or(true);
                if empty {
                    return Ok(None);
                }
                let want = forced.unwrap_or(Comp::Gzip);
                let blob = self
                    .cached_blob(store, snap, want, comp_name(want), move |out| {
                        diff::write_layer(&dir, TreeKind::Diff, want, out)
                    })
                    .await?;
                let created_by = labels.get(&snap).cloned().unwrap_or_else(|| "tanto".into());
                Ok(Some(LayerOut {
                    path: store.blob_path(&blob.digest),
                    digest: blob.digest,
                    diff_id: blob.diff_id,
                    size: blob.size,
                    compression: want,
                    created_by,
                    mount_from: None,
                }))
            }
            Piece::Squash { snap, selector } => {
                let want = forced.unwrap_or(Comp::Gzip);
                let view_store = store.clone();
                let sel = selector.clone();
                let blob = self
                    .cached_blob(store, snap, want, &format!("{}:{selector}", comp_name(want)), move |out| {
                        let view = view_store.view(Some(snap), &sel).map_err(|e| diff::DiffError::Read {
                            path: PathBuf::from(&sel),
                            source: std::io::Error::other(e.to_string()),
                        })?;
                        diff::write_layer(view.path(), TreeKind::Flat, want, out)
                    })
                    .await?;
                Ok(Some(LayerOut {
                    path: store.blob_path(&blob.digest),
                    digest: blob.digest,
                    diff_id: blob.diff_id,
                    size: blob.size,
                    compression: want,
                    created_by: format!("tanto: base at {selector}"),
                    mount_from: None,
                }))
            }
        }
    }

    /// The blob made from `snap` under `cache_name`, making it with `make` once.
    async fn cached_blob(
        &self,
        store: &Store,
        snap: SnapshotId,
        _want: Comp,
        cache_name: &str,
        make: impl FnOnce(&Path) -> Result<diff::LayerBlob, diff::DiffError> + Send + 'static,
    ) -> Result<LayerBlob, FieldError> {
        if let Some(b) = store.layer_blob(snap, cache_name).map_err(msg)? {
            return Ok(b);
        }
        let store = store.clone();
        let name = cache_name.to_string();
        blocking(move || {
            let tmp = store.tmp_path("layer");
            let made = make(&tmp);
            let made = match made {
                Ok(m) => m,
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(msg(e));
                }
            };
            store.put_blob_file(&made.digest, &tmp).map_err(msg)?;
            let b = LayerBlob { digest: made.digest, diff_id: made.diff_id, size: made.size };
            store.save_layer_blob(snap, &name, &b).map_err(msg)?;
            Ok(b)
        })
        .await
    }

    async fn manifest_of(&self, c: &ContainerObj, opts: &ImageOptions) -> Result<ManifestOut, FieldError> {
        let docker = opts.docker_media_types;
        let layers = self.layers_of(c, opts).await?;
        let platform = Platform::parse(&c.platform).map_err(msg)?;
        let mut cfg = tanto_oci::image::ImageConfig {
            architecture: platform.architecture.clone(),
            os: platform.os.clone(),
            variant: platform.variant.clone(),
            // Reproducible: the same container is the same image, whenever it is published.
            created: Some(EPOCH.into()),
            ..Default::default()
        };
        let k = &c.config;
        let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
        cfg.config.env = k.env.clone();
        cfg.config.user = some(&k.user);
        cfg.config.working_dir = some(&k.workdir);
        cfg.config.entrypoint = (!k.entrypoint.is_empty()).then(|| k.entrypoint.clone());
        cfg.config.cmd = (!k.cmd.is_empty()).then(|| k.cmd.clone());
        cfg.config.labels = k.labels.clone();
        cfg.config.stop_signal = some(&k.stop_signal);
        if let Some(h) = &k.healthcheck {
            cfg.config.extra.insert("Healthcheck".into(), h.to_docker_json().map_err(msg)?);
        }
        for p in &k.exposed_ports {
            cfg.config
                .exposed_ports
                .insert(format!("{}/{}", p.port, p.protocol.to_ascii_lowercase()), Default::default());
        }
        for v in &k.volumes {
            cfg.config.volumes.insert(v.clone(), Default::default());
        }
        cfg.rootfs.diff_ids = layers.iter().map(|l| l.diff_id.clone()).collect();
        cfg.history = layers
            .iter()
            .map(|l| tanto_oci::image::History {
                created: Some(EPOCH.into()),
                created_by: Some(l.created_by.clone()),
                comment: Some("tanto".into()),
                ..Default::default()
            })
            .collect();
        let config_bytes = cfg.to_vec();
        let config_digest = sha256(&config_bytes);
        let (manifest_type, config_type) = if docker {
            (media::DOCKER_MANIFEST, media::DOCKER_CONFIG)
        } else {
            (media::OCI_MANIFEST, media::OCI_CONFIG)
        };
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": manifest_type,
            "config": {"mediaType": config_type, "digest": config_digest, "size": config_bytes.len()},
            "layers": layers.iter().map(|l| json!({
                "mediaType": diff::layer_media_type(l.compression, docker),
                "digest": l.digest,
                "size": l.size,
            })).collect::<Vec<Value>>(),
        });
        let bytes = serde_json::to_vec(&manifest).expect("json");
        Ok(ManifestOut {
            media_type: manifest_type,
            digest: sha256(&bytes),
            bytes,
            platform,
            config_digest,
            config_bytes,
            layers,
        })
    }

    /// The image of `variants` (one per platform; empty containers are left out).
    pub(crate) async fn build_image(
        &self,
        variants: &[ContainerObj],
        opts: &ImageOptions,
    ) -> Result<BuiltImage, FieldError> {
        let variants: Vec<&ContainerObj> = variants.iter().filter(|c| c.rootfs.is_some()).collect();
        if variants.is_empty() {
            return Err(
                "no containers to export: the container has no filesystem (start with `from` or `withRootfs`)".into()
            );
        }
        let mut manifests = Vec::new();
        let mut seen = HashSet::new();
        for c in variants {
            let m = self.manifest_of(c, opts).await?;
            if !seen.insert(m.platform.to_string()) {
                return Err(
                    format!("two platform variants are for `{}`; give one container per platform", m.platform).into()
                );
            }
            manifests.push(m);
        }
        if manifests.len() == 1 {
            let m = &manifests[0];
            return Ok(BuiltImage {
                top_media_type: m.media_type,
                top_bytes: m.bytes.clone(),
                top_digest: m.digest.clone(),
                manifests,
            });
        }
        let index_type = if opts.docker_media_types { media::DOCKER_MANIFEST_LIST } else { media::OCI_INDEX };
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
        let bytes = serde_json::to_vec(&index).expect("json");
        Ok(BuiltImage { top_media_type: index_type, top_digest: sha256(&bytes), top_bytes: bytes, manifests })
    }

    pub(crate) async fn do_publish(
        &self,
        address: &str,
        variants: &[ContainerObj],
        opts: &ImageOptions,
    ) -> Result<String, FieldError> {
        let r = tanto_oci::reference::ImageRef::parse(address).map_err(msg)?;
        if r.digest().is_some() {
            return Err(format!(
                "cannot publish to `{address}`: give a tag, not a digest (the digest is what publish returns)"
            )
            .into());
        }
        let tag = r.tag().unwrap_or("latest").to_string();
        let built = self.build_image(variants, opts).await?;
        let auth = self.registry_auth(r.registry());
        let registry = self.worker().registry.clone();
        let push_host = registry.config().endpoint_for(r.origin_host(), false).host;
        let mut layers: Vec<(String, PathBuf, Option<String>)> = Vec::new();
        let mut seen = HashSet::new();
        for l in built.manifests.iter().flat_map(|m| &m.layers) {
            if seen.insert(l.digest.clone()) {
                let mount = l.mount_from.as_ref().filter(|(h, _)| *h == push_host).map(|(_, repo)| repo.clone());
                layers.push((l.digest.clone(), l.path.clone(), mount));
            }
        }
        let (reg, target, creds) = (&registry, &r, &auth);
        futures::stream::iter(layers)
            .map(move |(digest, path, mount)| async move {
                reg.push_blob(target, &digest, &path, mount.as_deref(), creds).await.map_err(msg)
            })
            .buffer_unordered(4)
            .try_collect::<Vec<bool>>()
            .await?;
        for m in &built.manifests {
            registry.push_blob_bytes(&r, &m.config_digest, &m.config_bytes, &auth).await.map_err(msg)?;
        }
        if built.manifests.len() > 1 {
            for m in &built.manifests {
                registry.push_manifest(&r, &m.digest, m.media_type, &m.bytes, &auth).await.map_err(msg)?;
            }
        }
        let digest =
            registry.push_manifest(&r, &tag, built.top_media_type, &built.top_bytes, &auth).await.map_err(msg)?;
        tracing::info!(reference = %r, %digest, "published");
        Ok(format!("{}:{tag}@{digest}", r.name()))
    }

    pub(crate) async fn do_export_image(
        &self,
        variants: &[ContainerObj],
        dest: &str,
        opts: &ImageOptions,
    ) -> Result<String, FieldError> {
        let built = self.build_image(variants, opts).await?;
        let target = self.host.path(dest);
        let out = target.clone();
        blocking(move || {
            let (Some(parent), Some(name)) = (target.parent(), target.file_name()) else {
                return Err(format!("cannot export an image to `{}`", target.display()).into());
            };
            if std::fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir()) {
                return Err(format!(
                    "cannot export the image to `{}`: it is a directory; give a file path such as `image.tar`",
                    target.display()
                )
                .into());
            }
            std::fs::create_dir_all(parent).map_err(|e| format!("cannot create `{}`: {e}", parent.display()))?;
            let tmp = parent.join(format!(
                ".{}.tanto-{}-{}",
                name.to_string_lossy(),
                std::process::id(),
                uuid::Uuid::new_v4().simple()
            ));
            if let Err(e) = write_layout(&built, &tmp, None) {
                let _ = std::fs::remove_file(&tmp);
                return Err(format!("writing the image tarball `{}`: {e}", target.display()).into());
            }
            // rename replaces a symlink at `target` instead of writing through it
            std::fs::rename(&tmp, &target).map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                format!("writing the image tarball `{}`: {e}", target.display())
            })?;
            Ok(())
        })
        .await?;
        Ok(out.to_string_lossy().into_owned())
    }

    pub(crate) async fn do_image_tarball(
        &self,
        variants: &[ContainerObj],
        opts: &ImageOptions,
    ) -> Result<(Ref, String), FieldError> {
        let built = self.build_image(variants, opts).await?;
        let store = self.worker().store.clone();
        let vertex = blocking(move || {
            let tmp = store.tmp_path("tarball");
            let digest = match write_layout(&built, &tmp, None).and_then(|_| file_sha256(&tmp)) {
                Ok(d) => d,
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(format!("writing the image tarball: {e}").into());
                }
            };
            let mut h = StableHasher::new();
            h.str("container-tarball").str(&digest);
            let vertex = Vertex::new(
                Op::Local(LocalOp {
                    digest: h.finish(),
                    path: String::new(),
                    include: vec![],
                    exclude: vec![],
                    gitignore: false,
                }),
                vec![],
            );
            let key = vertex.key().to_string();
            if store.lookup(&key).map_err(msg)?.is_some() {
                let _ = std::fs::remove_file(&tmp);
                return Ok(vertex);
            }
            let prep = store.prepare(None).map_err(msg)?;
            let dest = prep.upper.join(TARBALL_NAME);
            let moved = std::fs::rename(&tmp, &dest).and_then(|_| {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o644))
            });
            if let Err(e) = moved {
                let _ = std::fs::remove_file(&tmp);
                store.abort(prep);
                return Err(format!("storing the image tarball: {e}").into());
            }
            let id = prep.id;
            store.commit(&key, &CacheRecord { outputs: vec![id], meta: None }).map_err(msg)?;
            Ok(vertex)
        })
        .await?;
        Ok((Ref::new(vertex, 0), format!("/{TARBALL_NAME}")))
    }

    pub(crate) async fn do_import_image(
        &self,
        source: &FileObj,
        tag: &str,
        platform: &str,
    ) -> Result<ResolvedImage, FieldError> {
        let snap = self.snapshot(source.root.as_ref()).await?;
        let store = self.worker().store.clone();
        let path = source.path.clone();
        let file = blocking(move || {
            let view = store.view(snap, "/").map_err(msg)?;
            let root =
                crate::fsops::Root::open(view.path()).map_err(|e| format!("opening the tarball's directory: {e}"))?;
            root.open_file(&path).map_err(|e| format!("image tarball `{path}`: {e}").into())
        })
        .await?;
        self.import_tarball_file(file, Path::new(&source.path), tag, platform).await
    }

    /// Reads an image from an open OCI or docker tarball (`name` names it in
    /// errors), its blobs moved into the store.
    pub(crate) async fn import_tarball_file(
        &self,
        file: std::fs::File,
        name: &Path,
        tag: &str,
        platform: &str,
    ) -> Result<ResolvedImage, FieldError> {
        let store = self.worker().store.clone();
        let tag = tag.to_string();
        let name = name.to_path_buf();
        let want = Platform::parse(platform).map_err(msg)?;
        let img = blocking(move || {
            let scratch = store.root().join("tmp");
            let put_store = store.clone();
            let mut put = move |digest: &str, tmp: &Path| -> std::io::Result<()> {
                put_store.put_blob_file(digest, tmp).map(|_| ()).map_err(|e| std::io::Error::other(e.to_string()))
            };
            let blob_store = store.clone();
            tarball::read_image_tarball(&name, file, &tag, &want, &scratch, &mut put, &|d| blob_store.blob_path(d))
                .map_err(msg)
        })
        .await?;
        let reference = img.ref_name.clone().unwrap_or_else(|| img.digest.clone());
        let layers = img
            .layers
            .iter()
            .map(|l| -> Result<_, tanto_model::DigestError> {
                let blob = BlobSource {
                    digest: l.digest.parse()?,
                    media_type: l.media_type.clone(),
                    size: l.size,
                    host: String::new(),
                    repository: String::new(),
                    http: false,
                };
                Ok((l.diff_id.parse()?, blob))
            })
            .collect::<Result<_, _>>()
            .map_err(msg)?;
        let platform = if img.config.os.is_empty() { platform.to_string() } else { img.config.platform().to_string() };
        Ok(ResolvedImage { reference, platform, config: crate::backend::image_config(&img.config), layers })
    }
}

fn short(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    &hex[..hex.len().min(12)]
}

fn file_sha256(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(format!("sha256:{}", hex::encode(h.finalize())))
}

/// Writes `built` as an OCI layout tarball (with Docker's `manifest.json`
/// for a single-platform image).
/// `ref_name` (`repo:tag`) becomes the `RepoTags` of `manifest.json`, or the
/// ref name of the index's entry for a multi-platform image.
pub(crate) fn write_layout(built: &BuiltImage, out: &Path, ref_name: Option<&str>) -> std::io::Result<()> {
    let file = std::fs::File::create(out)?;
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
