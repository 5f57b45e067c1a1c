//! Images in and out: registries, tarballs, the client's image store.
//! Image assembly is `crate::image` (over `tanto_oci::build`), the client's
//! store `crate::docker_api`, credentials `crate::export`.

use tanto_contract::image::{ImageOptions, ImageVariant, ResolvedImage};
use tanto_contract::{EngineResult, Images};
use tanto_model::Ref;

use super::EngineBackend;
use crate::EngineError;

#[async_trait::async_trait]
impl Images for EngineBackend {
    fn default_platform(&self) -> String {
        self.platform.clone()
    }

    async fn resolve_image(&self, address: &str, platform: &str) -> EngineResult<ResolvedImage> {
        let cache_key = (address.to_string(), platform.to_string());
        if let Some(img) = self.images.lock().get(&cache_key) {
            return Ok(img.clone());
        }
        let r = tanto_oci::reference::ImageRef::parse(address)?;
        let want: tanto_oci::platform::Platform = platform.parse()?;
        let img = self.worker().registry.resolve_with_auth(&r, &want, &self.pull_auth(&r)).await?;
        let raw = tanto_oci::image::ConfigBlob::from_slice(&img.config_bytes)
            .map_err(|e| EngineError::input(format!("image `{address}` has an unreadable config: {e}")))?;
        let diff_ids = &raw.rootfs.diff_ids;
        if diff_ids.len() != img.layers.len() {
            return Err(EngineError::input(format!(
                "image `{address}` is inconsistent: {} layers but {} diff_ids in its config",
                img.layers.len(),
                diff_ids.len()
            )));
        }
        let layers = img
            .layers
            .iter()
            .zip(diff_ids)
            .map(|(l, diff)| Ok((diff.parse()?, l.source(&img.source)?)))
            .collect::<Result<_, tanto_model::DigestError>>()
            .map_err(|e| EngineError::input(format!("image `{address}`: {e}")))?;
        let name = match img.reference.tag() {
            Some(tag) => format!("{}:{tag}", img.reference.name()),
            None => img.reference.name(),
        };
        let resolved = ResolvedImage {
            reference: format!("{name}@{}", img.manifest_digest),
            platform: raw.platform().to_string(),
            config: crate::image_config::from_blob(&raw),
            layers,
        };
        self.images.lock().insert(cache_key, resolved.clone());
        Ok(resolved)
    }

    async fn export_image(&self, variants: &[ImageVariant], dest: &str, opts: &ImageOptions) -> EngineResult<String> {
        self.do_export_image(variants, dest, opts).await
    }

    async fn image_tarball(&self, variants: &[ImageVariant], opts: &ImageOptions) -> EngineResult<(Ref, String)> {
        self.do_image_tarball(variants, opts).await
    }

    async fn publish(&self, address: &str, variants: &[ImageVariant], opts: &ImageOptions) -> EngineResult<String> {
        self.do_publish(address, variants, opts).await
    }

    async fn import_image(
        &self,
        root: Option<&Ref>,
        path: &str,
        tag: &str,
        platform: &str,
    ) -> EngineResult<ResolvedImage> {
        self.do_import_image(root, path, tag, platform).await
    }

    async fn add_registry_auth(&self, address: &str, username: &str, secret_identity: &str) -> EngineResult<()> {
        self.do_add_registry_auth(address, username, secret_identity).await
    }

    fn remove_registry_auth(&self, address: &str) {
        self.do_remove_registry_auth(address)
    }

    async fn host_container_image(&self, name: &str, platform: &str) -> EngineResult<ResolvedImage> {
        self.do_host_container_image(name, platform).await
    }

    async fn load_host_image(&self, name: &str, variants: &[ImageVariant], opts: &ImageOptions) -> EngineResult<()> {
        self.do_load_host_image(name, variants, opts).await
    }
}
