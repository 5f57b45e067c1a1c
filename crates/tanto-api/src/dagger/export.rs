//! Artifacts and images out: `Directory.export`, `File.export`,
//! `Container.export` / `asTarball` / `publish` / `import` / `exportImage`
//! (into the client's docker or podman image store), and registry
//! credentials (`withRegistryAuth`, kept for the session as Dagger does).

use serde_json::Value as Json;
use tanto_model::{ImageLayerOp, Op, Ref, Vertex};

use super::container::ctr;
use super::dispatch::{fields, Fields};
use super::objects::*;
use super::{leaf, paths, resolved, Api, Object};
use crate::dagger::ApiError;
use tanto_contract::image::{Compression, ImageOptions, ImageVariant, ResolvedImage};
use tanto_gql::{Args, Resolved};

/// The container fields of this module.
pub(super) static CONTAINER_FIELDS: Fields<ContainerObj> = fields! { |api, c, call, a|
    "export" => api.container_export(c, a).await,
    "asTarball" => api.container_as_tarball(c, a).await,
    "publish" => api.container_publish(c, a).await,
    "import" => api.container_import(c, a).await,
    "withRegistryAuth" => api.with_registry_auth(c, a).await,
    "exportImage" => {
        let variants = api.variants(c, a)?;
        api.engine.images.load_host_image(a.string("name")?, &variants, &image_options(a)?).await?;
        Ok(Resolved::Null)
    },
    "withoutRegistryAuth" => {
        api.engine.images.remove_registry_auth(a.string("address")?);
        ctr(c.clone())
    },
};

/// `forcedCompression` and `mediaTypes` of publish/export/asTarball.
fn image_options(a: &Args) -> Result<ImageOptions, ApiError> {
    let forced_compression = match a.opt_enum_value("forcedCompression")? {
        None => None,
        Some("Gzip" | "GZIP" | "EStarGZ" | "ESTARGZ") => Some(Compression::Gzip),
        Some("Zstd" | "ZSTD") => Some(Compression::Zstd),
        Some("Uncompressed" | "UNCOMPRESSED") => Some(Compression::Uncompressed),
        Some(other) => {
            return Err(format!("`forcedCompression` must be Gzip, Zstd, EStarGZ or Uncompressed, not `{other}`").into())
        }
    };
    let docker_media_types = match a.opt_enum_value("mediaTypes")?.unwrap_or("OCIMediaTypes") {
        "OCIMediaTypes" | "OCI" => false,
        "DockerMediaTypes" | "DOCKER" => true,
        other => return Err(format!("`mediaTypes` must be OCIMediaTypes or DockerMediaTypes, not `{other}`").into()),
    };
    Ok(ImageOptions { forced_compression, docker_media_types })
}

/// A container of `img` (as `from` makes one) with `base`'s platform fallback.
pub(super) fn container_of_image(base: &ContainerObj, img: ResolvedImage) -> ContainerObj {
    let mut top: Option<Ref> = None;
    for (diff_id, blob) in img.layers {
        let v = Vertex::new(Op::ImageLayer(ImageLayerOp { diff_id, blob }), top.into_iter().collect());
        top = Some(Ref::new(v, 0));
    }
    let mut n = base.clone();
    n.rootfs = top;
    n.config = img.config;
    n.platform = img.platform;
    n.image_ref = Some(img.reference);
    n.exec = None;
    n
}

/// What an image is made of a container.
fn image_variant(c: &ContainerObj) -> ImageVariant {
    ImageVariant {
        rootfs: c.rootfs.clone(),
        platform: c.platform.clone(),
        config: c.config.clone(),
        image_ref: c.image_ref.clone(),
        annotations: c.annotations.clone(),
    }
}

impl Api {
    /// The receiver and its `platformVariants`, receiver first, as image variants.
    fn variants(&self, c: &ContainerObj, a: &Args) -> Result<Vec<ImageVariant>, ApiError> {
        let mut out = vec![image_variant(c)];
        for id in a.opt_list("platformVariants")?.unwrap_or(&[]) {
            out.push(image_variant(&self.load_container(id)?));
        }
        Ok(out)
    }

    async fn container_export(&self, c: &ContainerObj, a: &Args) -> Result<Resolved, ApiError> {
        let raw = a.string("path")?;
        let path =
            if a.opt_bool("expand")?.unwrap_or(false) { paths::expand(raw, &c.config.env) } else { raw.to_string() };
        let variants = self.variants(c, a)?;
        Ok(leaf(self.engine.images.export_image(&variants, &path, &image_options(a)?).await?))
    }

    async fn container_as_tarball(&self, c: &ContainerObj, a: &Args) -> Result<Resolved, ApiError> {
        let variants = self.variants(c, a)?;
        let (root, path) = self.engine.images.image_tarball(&variants, &image_options(a)?).await?;
        Ok(resolved(Object::File(FileObj { root: Some(root), path })))
    }

    async fn container_publish(&self, c: &ContainerObj, a: &Args) -> Result<Resolved, ApiError> {
        if a.get("registryService").is_some_and(|v| !v.is_null()) {
            return Err("not implemented yet: Container.publish(registryService:)".into());
        }
        let variants = self.variants(c, a)?;
        Ok(leaf(self.engine.images.publish(a.string("address")?, &variants, &image_options(a)?).await?))
    }

    async fn container_import(&self, c: &ContainerObj, a: &Args) -> Result<Resolved, ApiError> {
        let file = self.load_file(a.get("source").unwrap_or(&Json::Null))?;
        let tag = a.opt_string("tag")?.unwrap_or("");
        let img = self.engine.images.import_image(file.root.as_ref(), &file.path, tag, &c.platform).await?;
        Ok(resolved(Object::Container(container_of_image(c, img))))
    }

    async fn with_registry_auth(&self, c: &ContainerObj, a: &Args) -> Result<Resolved, ApiError> {
        let secret = self.load_secret(a.get("secret").unwrap_or(&Json::Null))?;
        self.engine.images.add_registry_auth(a.string("address")?, a.string("username")?, &secret.identity).await?;
        Ok(resolved(Object::Container(c.clone())))
    }

    /// `Directory.export(path, wipe)`.
    pub(super) async fn directory_export(&self, d: &DirectoryObj, a: &Args) -> Result<Resolved, ApiError> {
        let wipe = a.opt_bool("wipe")?.unwrap_or(false);
        Ok(leaf(self.engine.host.export_directory(d.root.as_ref(), &d.path, a.string("path")?, wipe).await?))
    }

    /// `File.export(path, allowParentDirPath)`.
    pub(super) async fn file_export(&self, f: &FileObj, a: &Args) -> Result<Resolved, ApiError> {
        let allow = a.opt_bool("allowParentDirPath")?.unwrap_or(false);
        Ok(leaf(self.engine.host.export_file(f.root.as_ref(), &f.path, a.string("path")?, allow).await?))
    }
}
