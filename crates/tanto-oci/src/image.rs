//! The image config JSON (`application/vnd.oci.image.config.v1+json` and
//! Docker's `application/vnd.docker.container.image.v1+json`) as the engine
//! uses it.
//!
//! Why not `oci_spec::image::ImageConfiguration` directly: Docker configs
//! write `null` for empty lists and maps (fine for oci_spec's `Option`s), but
//! oci_spec keeps `ExposedPorts`/`Volumes`/`Labels` in `HashMap`s (random
//! order when written back), requires `architecture`/`os`, and drops fields it
//! does not know (`Healthcheck`, `Shell`, `OnBuild`, `ArgsEscaped`, ...).
//! [`ConfigBlob`] tolerates `null` and missing fields everywhere, keeps maps
//! sorted, and keeps unknown fields in `extra` so a config read, changed and
//! written back loses nothing. Convert with `From<&ImageConfiguration>` and
//! [`ConfigBlob::to_oci`].

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::platform::Platform;

/// Media types of image configs.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// The whole config blob.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfigBlob {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub architecture: String,
    #[serde(default, deserialize_with = "nullable")]
    pub os: String,
    #[serde(default, rename = "os.version", skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Runtime defaults. Docker calls it `config`.
    #[serde(default, deserialize_with = "nullable")]
    pub config: ContainerConfig,
    #[serde(default, deserialize_with = "nullable")]
    pub rootfs: RootFs,
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
    /// Fields this model does not name (`container_config`, `docker_version`, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The `config` object: what a container of this image runs by default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    #[serde(default, deserialize_with = "nullable_opt", skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "BTreeMap::is_empty")]
    pub exposed_ports: BTreeMap<String, Empty>,
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// `None` (unset) differs from `Some([])` (explicitly empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, Empty>,
    #[serde(default, deserialize_with = "nullable_opt", skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, deserialize_with = "labels", skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "nullable_opt", skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// `Healthcheck`, `Shell`, `OnBuild`, `ArgsEscaped`, ... as written.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Go's `struct{}` in `map[string]struct{}`: serialises as `{}`, accepts anything.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Empty;

impl Serialize for Empty {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        s.serialize_map(Some(0))?.end()
    }
}

impl<'de> Deserialize<'de> for Empty {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| Empty)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type", default = "layers_type", deserialize_with = "nullable_layers")]
    pub kind: String,
    #[serde(default, deserialize_with = "nullable")]
    pub diff_ids: Vec<String>,
}

impl Default for RootFs {
    fn default() -> Self {
        RootFs { kind: layers_type(), diff_ids: Vec::new() }
    }
}

fn layers_type() -> String {
    "layers".to_string()
}

fn nullable_layers<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_else(layers_type))
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn nullable<'de, D: Deserializer<'de>, T: DeserializeOwned + Default>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `null` and `""` are both "unset".
fn nullable_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.filter(|s| !s.is_empty()))
}

/// Labels with `null` values are dropped.
fn labels<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let m = Option::<BTreeMap<String, Option<String>>>::deserialize(d)?.unwrap_or_default();
    Ok(m.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect())
}

impl ConfigBlob {
    /// Parses a config blob.
    pub fn from_slice(bytes: &[u8]) -> Result<ConfigBlob, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// Serialises a config blob (compact JSON; field order is stable).
    pub fn to_vec(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("image config serialises")
    }

    /// The platform this image was built for.
    pub fn platform(&self) -> Platform {
        Platform::new(&self.os, &self.architecture, self.variant.as_deref())
    }

    /// Converts to oci_spec's type (unknown fields are dropped there).
    pub fn to_oci(&self) -> Result<oci_spec::image::ImageConfiguration, serde_json::Error> {
        serde_json::from_value(serde_json::to_value(self)?)
    }

    /// History entries that stand for a layer (not `empty_layer`).
    pub fn layer_history_count(&self) -> usize {
        self.history.iter().filter(|h| !h.empty_layer).count()
    }
}

impl ContainerConfig {
    /// The value of `name` in `Env`, if set.
    pub fn env_var(&self, name: &str) -> Option<&str> {
        self.env.iter().rev().find_map(|kv| match kv.split_once('=') {
            Some((k, v)) if k == name => Some(v),
            None if kv == name => Some(""),
            _ => None,
        })
    }
}

impl From<&oci_spec::image::ImageConfiguration> for ConfigBlob {
    fn from(c: &oci_spec::image::ImageConfiguration) -> ConfigBlob {
        serde_json::to_value(c).and_then(serde_json::from_value).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // What `docker inspect`-era configs look like: nulls everywhere, extra fields.
    const DOCKER: &str = r#"{
        "architecture": "amd64",
        "config": {
            "Hostname": "", "User": "", "AttachStdin": false,
            "ExposedPorts": {"80/tcp": {}, "443/tcp": {}},
            "Env": ["PATH=/usr/local/sbin:/usr/bin", "A=1", "A=2"],
            "Cmd": null, "Entrypoint": ["/docker-entrypoint.sh"],
            "Volumes": null, "WorkingDir": "", "Labels": {"maintainer": "x", "n": null},
            "OnBuild": null, "StopSignal": "SIGQUIT",
            "Healthcheck": {"Test": ["CMD", "true"]}, "ArgsEscaped": true
        },
        "container_config": {"Cmd": ["/bin/sh"]},
        "created": "2024-01-01T00:00:00Z",
        "docker_version": "20.10.7",
        "history": [
            {"created": "2024-01-01T00:00:00Z", "created_by": "/bin/sh -c #(nop) ADD file:x in /"},
            {"created_by": "/bin/sh -c #(nop) CMD [\"sh\"]", "empty_layer": true}
        ],
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": ["sha256:aaaa"]}
    }"#;

    #[test]
    fn docker_config_with_nulls() {
        let c = ConfigBlob::from_slice(DOCKER.as_bytes()).unwrap();
        assert_eq!(c.platform().to_string(), "linux/amd64");
        assert_eq!(c.config.user, None);
        assert_eq!(c.config.working_dir, None);
        assert_eq!(c.config.cmd, None);
        assert_eq!(c.config.entrypoint.as_deref(), Some(&["/docker-entrypoint.sh".to_string()][..]));
        assert_eq!(c.config.exposed_ports.keys().collect::<Vec<_>>(), ["443/tcp", "80/tcp"]);
        assert!(c.config.volumes.is_empty());
        assert_eq!(c.config.labels.len(), 1);
        assert_eq!(c.config.stop_signal.as_deref(), Some("SIGQUIT"));
        assert_eq!(c.config.env_var("A"), Some("2"));
        assert_eq!(c.config.env_var("PATH"), Some("/usr/local/sbin:/usr/bin"));
        assert_eq!(c.config.env_var("B"), None);
        assert!(c.config.extra.contains_key("Healthcheck"));
        assert!(c.extra.contains_key("container_config"));
        assert_eq!(c.rootfs.diff_ids, ["sha256:aaaa"]);
        assert_eq!(c.layer_history_count(), 1);

        // round trip keeps everything, and is stable
        let again = ConfigBlob::from_slice(&c.to_vec()).unwrap();
        assert_eq!(again, c);
        assert_eq!(again.to_vec(), c.to_vec());

        // oci_spec accepts what we write
        let oci = c.to_oci().unwrap();
        assert_eq!(oci.config().as_ref().unwrap().entrypoint().as_ref().unwrap()[0], "/docker-entrypoint.sh");
        let back = ConfigBlob::from(&oci);
        assert_eq!(back.config.exposed_ports, c.config.exposed_ports);
    }

    #[test]
    fn minimal_and_empty_configs() {
        let cases = [
            r#"{}"#,
            r#"{"architecture":"arm64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#,
            r#"{"config":null,"rootfs":null,"history":null}"#,
            r#"{"config":{"Env":null,"Labels":null,"ExposedPorts":null},"rootfs":{"type":null,"diff_ids":null}}"#,
        ];
        for text in cases {
            let c = ConfigBlob::from_slice(text.as_bytes()).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert!(c.config.env.is_empty());
            assert_eq!(c.rootfs.kind, "layers");
            ConfigBlob::from_slice(&c.to_vec()).unwrap();
        }
    }
}
