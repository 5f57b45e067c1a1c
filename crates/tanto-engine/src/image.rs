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

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use futures::{StreamExt, TryStreamExt};
use sha2::{Digest as _, Sha256};
use tanto_contract::image::{Compression, ImageOptions, ImageVariant, ResolvedImage};
use tanto_model::{BlobRepo, BlobSource, LayerBlob, LocalOp, Op, Ref, StableHasher, Vertex};
use tanto_oci::build::{self, BuiltImage, BuiltLayer};
use tanto_oci::layer::diff::{self, TreeKind};
use tanto_oci::platform::Platform;
use tanto_store::{CacheRecord, SnapshotId, Store};

use crate::backend::EngineBackend;
use crate::leftovers::AtomicFile;
use crate::worker::blocking;
use crate::EngineError;
use tanto_contract::Context as _;

/// Name of the file `asTarball` makes.
pub const TARBALL_NAME: &str = "container.tar";

fn comp_name(c: Compression) -> &'static str {
    match c {
        Compression::Gzip => "gzip",
        Compression::Zstd => "zstd",
        Compression::Uncompressed => "none",
    }
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
    async fn layers_of(&self, c: &ImageVariant, opts: &ImageOptions) -> Result<Vec<BuiltLayer>, EngineError> {
        let Some(rootfs) = &c.rootfs else {
            return Ok(Vec::new());
        };
        // The rootfs lineage: which snapshots are pulled layers, and labels.
        let mut blobs: HashMap<SnapshotId, (BlobSource, String)> = HashMap::new();
        let mut labels: HashMap<SnapshotId, String> = HashMap::new();
        let mut top = None;
        // Every snapshot of the chain stays held until its layers are made.
        let mut held = Vec::new();
        let mut cur = Some(rootfs.clone());
        while let Some(r) = cur {
            let h = self.snapshot(Some(&r)).await?;
            let snap = h.id.expect("a ref has a snapshot");
            held.push(h);
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
                    match store.snapshot_parent(cur)? {
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
        let forced = opts.forced_compression;
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
        forced: Option<Compression>,
        labels: &HashMap<SnapshotId, String>,
        c: &ImageVariant,
    ) -> Result<Option<BuiltLayer>, EngineError> {
        match piece {
            Piece::Blob { snap, source, diff_id } => {
                let digest = source.digest.to_string();
                let path = store.blob_path(&digest);
                if !path.is_file() {
                    let src = source.repo.clone();
                    let auth = crate::export::auth_for(&self.host.auth, &[&source.repo.host]);
                    self.worker()
                        .registry
                        .fetch_blob_with_auth(&src, &digest, Some(source.size), &path, &auth)
                        .await
                        .map_err(|e| {
                        EngineError::from(e).context(format_args!(
                            "layer `{digest}` is no longer in the state directory and cannot be fetched again"
                        ))
                    })?;
                }
                let have = match Compression::from_media_type(&source.media_type) {
                    Some(h) => h,
                    None => {
                        let mut head = [0u8; 4];
                        let _ = std::fs::File::open(&path).and_then(|mut f| std::io::Read::read(&mut f, &mut head));
                        Compression::sniff(&head)
                    }
                };
                let created_by = match &c.image_ref {
                    Some(r) => format!("layer {} of {r}", short(&digest)),
                    None => format!("layer {}", short(&digest)),
                };
                let want = forced.unwrap_or(have);
                if want == have {
                    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(source.size);
                    let mount_from = (!source.repo.host.is_empty())
                        .then(|| (source.repo.host.clone(), source.repo.repository.clone()));
                    return Ok(Some(BuiltLayer {
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
                    .cached_blob(store, snap, &format!("recompressed:{}", comp_name(want)), move |out| {
                        diff::recompress(&path, want, out)
                    })
                    .await?;
                Ok(Some(BuiltLayer {
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
                let want = forced.unwrap_or(Compression::Gzip);
                let blob = self
                    .cached_blob(store, snap, comp_name(want), move |out| {
                        diff::write_layer(&dir, TreeKind::Diff, want, out)
                    })
                    .await?;
                let created_by = labels.get(&snap).cloned().unwrap_or_else(|| "tanto".into());
                Ok(Some(BuiltLayer {
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
                let want = forced.unwrap_or(Compression::Gzip);
                let view_store = store.clone();
                let sel = selector.clone();
                let blob = self
                    .cached_blob(store, snap, &format!("{}:{selector}", comp_name(want)), move |out| {
                        let view = view_store.view(Some(snap), &sel).map_err(|e| diff::DiffError::Read {
                            path: PathBuf::from(&sel),
                            source: std::io::Error::other(e.to_string()),
                        })?;
                        diff::write_layer(view.path(), TreeKind::Flat, want, out)
                    })
                    .await?;
                Ok(Some(BuiltLayer {
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
        cache_name: &str,
        make: impl FnOnce(&Path) -> Result<LayerBlob, diff::DiffError> + Send + 'static,
    ) -> Result<LayerBlob, EngineError> {
        if let Some(b) = store.layer_blob(snap, cache_name)? {
            return Ok(b);
        }
        let store = store.clone();
        let name = cache_name.to_string();
        blocking(move || {
            let tmp = store.tmp_path("layer");
            let b = match make(&tmp) {
                Ok(b) => b,
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(e.into());
                }
            };
            store.put_blob_file(&b.digest, &tmp)?;
            store.save_layer_blob(snap, &name, &b)?;
            Ok(b)
        })
        .await
    }

    /// The OCI config of `c`, without rootfs and history (the builder adds them).
    /// The image of `variants` (one per platform; empty containers are left out).
    pub(crate) async fn build_image(
        &self,
        variants: &[ImageVariant],
        opts: &ImageOptions,
    ) -> Result<BuiltImage, EngineError> {
        let mut manifests = Vec::new();
        for c in variants.iter().filter(|c| c.rootfs.is_some()) {
            let config = crate::image_config::to_blob(c)?;
            let layers = self.layers_of(c, opts).await?;
            manifests.push(build::manifest(config, layers, &c.annotations, opts.docker_media_types));
        }
        Ok(build::image(manifests, opts.docker_media_types)?)
    }

    pub(crate) async fn do_publish(
        &self,
        address: &str,
        variants: &[ImageVariant],
        opts: &ImageOptions,
    ) -> Result<String, EngineError> {
        let r = tanto_oci::reference::ImageRef::parse(address)?;
        if r.digest().is_some() {
            return Err(EngineError::input(format!(
                "cannot publish to `{address}`: give a tag, not a digest (the digest is what publish returns)"
            )));
        }
        let tag = r.tag().unwrap_or("latest").to_string();
        let built = self.build_image(variants, opts).await?;
        let auth = self.registry_auth(r.registry());
        let registry = self.worker().registry.clone();
        let push_host = registry.config().endpoint_for(r.origin_host(), false).host;
        let layers: Vec<(String, PathBuf, Option<String>)> = built
            .unique_layers()
            .into_iter()
            .map(|l| {
                let mount = l.mount_from.as_ref().filter(|(h, _)| *h == push_host).map(|(_, repo)| repo.clone());
                (l.digest.clone(), l.path.clone(), mount)
            })
            .collect();
        let (reg, target, creds) = (&registry, &r, &auth);
        futures::stream::iter(layers)
            .map(move |(digest, path, mount)| async move {
                reg.push_blob(target, &digest, &path, mount.as_deref(), creds).await.map_err(EngineError::from)
            })
            .buffer_unordered(4)
            .try_collect::<Vec<bool>>()
            .await?;
        for m in &built.manifests {
            registry.push_blob_bytes(&r, &m.config_digest, &m.config_bytes, &auth).await?;
        }
        if built.manifests.len() > 1 {
            for m in &built.manifests {
                registry.push_manifest(&r, &m.digest, m.media_type, &m.bytes, &auth).await?;
            }
        }
        let digest = registry.push_manifest(&r, &tag, built.top_media_type, &built.top_bytes, &auth).await?;
        tracing::info!(reference = %r, %digest, "published");
        Ok(format!("{}:{tag}@{digest}", r.name()))
    }

    pub(crate) async fn do_export_image(
        &self,
        variants: &[ImageVariant],
        dest: &str,
        opts: &ImageOptions,
    ) -> Result<String, EngineError> {
        let built = self.build_image(variants, opts).await?;
        let target = self.host.path(dest);
        let out = target.clone();
        let run_dir = self.worker().executor.run_dir().to_path_buf();
        blocking(move || {
            let (Some(parent), Some(name)) = (target.parent(), target.file_name()) else {
                return Err(EngineError::input(format!("cannot export an image to `{}`", target.display())));
            };
            if std::fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir()) {
                return Err(EngineError::input(format!(
                    "cannot export the image to `{}`: it is a directory; give a file path such as `image.tar`",
                    target.display()
                )));
            }
            std::fs::create_dir_all(parent)
                .map_err(|e| EngineError::environment(format!("cannot create `{}`: {e}", parent.display())))?;
            // complete at `target` or not there at all, also when the engine is killed
            // (the rename replaces a symlink at `target` instead of writing through it)
            let written = AtomicFile::create(&run_dir, parent, name).and_then(|mut out| {
                build::write_layout_to(&built, out.file(), None)?;
                out.commit()
            });
            written.map_err(|e| {
                EngineError::environment(format!("writing the image tarball `{}`: {e}", target.display()))
            })?;
            Ok(())
        })
        .await?;
        Ok(out.to_string_lossy().into_owned())
    }

    pub(crate) async fn do_image_tarball(
        &self,
        variants: &[ImageVariant],
        opts: &ImageOptions,
    ) -> Result<(Ref, String), EngineError> {
        let built = self.build_image(variants, opts).await?;
        let store = self.worker().store.clone();
        let vertex = blocking(move || {
            let tmp = store.tmp_path("tarball");
            let digest = match build::write_layout(&built, &tmp, None).and_then(|_| file_sha256(&tmp)) {
                Ok(d) => d,
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(EngineError::environment(format!("writing the image tarball: {e}")));
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
            if store.lookup(&key)?.is_some() {
                let _ = std::fs::remove_file(&tmp);
                return Ok(vertex);
            }
            let prep = store.prepare(None)?;
            let dest = prep.upper.join(TARBALL_NAME);
            let moved = std::fs::rename(&tmp, &dest).and_then(|_| {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o644))
            });
            if let Err(e) = moved {
                let _ = std::fs::remove_file(&tmp);
                store.abort(prep);
                return Err(EngineError::environment(format!("storing the image tarball: {e}")));
            }
            let id = prep.id;
            store.commit(&key, &CacheRecord { outputs: vec![id], meta: None })?;
            Ok(vertex)
        })
        .await?;
        Ok((Ref::new(vertex, 0), format!("/{TARBALL_NAME}")))
    }

    pub(crate) async fn do_import_image(
        &self,
        root: Option<&Ref>,
        path: &str,
        tag: &str,
        platform: &str,
    ) -> Result<ResolvedImage, EngineError> {
        let snap = self.snapshot(root).await?;
        let store = self.worker().store.clone();
        let file_path = path.to_string();
        let file = blocking(move || {
            let view = store.view(snap.id, "/")?;
            let root = tanto_fs::Root::open(view.path())
                .map_err(|e| EngineError::internal(format!("opening the tarball's directory: {e}")))?;
            root.open_file(&file_path).context(format_args!("image tarball `{file_path}`"))
        })
        .await?;
        self.import_tarball_file(file, Path::new(path), tag, platform).await
    }

    /// Reads an image from an open OCI or docker tarball (`name` names it in
    /// errors), its blobs moved into the store.
    pub(crate) async fn import_tarball_file(
        &self,
        file: std::fs::File,
        name: &Path,
        tag: &str,
        platform: &str,
    ) -> Result<ResolvedImage, EngineError> {
        let store = self.worker().store.clone();
        let tag = tag.to_string();
        let name = name.to_path_buf();
        let want = Platform::parse(platform)?;
        let img = blocking(move || {
            let scratch = store.root().join("tmp");
            let put_store = store.clone();
            let mut put = move |digest: &str, tmp: &Path| -> std::io::Result<()> {
                put_store.put_blob_file(digest, tmp).map(|_| ()).map_err(|e| std::io::Error::other(e.to_string()))
            };
            let blob_store = store.clone();
            Ok(tanto_oci::tarball::read_image_tarball(&name, file, &tag, &want, &scratch, &mut put, &|d| {
                blob_store.blob_path(d)
            })?)
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
                    repo: BlobRepo::default(),
                };
                Ok((l.diff_id.parse()?, blob))
            })
            .collect::<Result<_, _>>()?;
        let platform = if img.config.os.is_empty() { platform.to_string() } else { img.config.platform().to_string() };
        Ok(ResolvedImage { reference, platform, config: crate::image_config::from_blob(&img.config), layers })
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
