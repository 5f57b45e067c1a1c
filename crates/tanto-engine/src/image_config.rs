//! The one conversion between a container's image config
//! (`tanto_contract::image::ImageConfig`, what the API carries) and the OCI
//! config blob (`tanto_oci::image::ConfigBlob`, what images hold), both ways.

use tanto_contract::image::{Healthcheck, ImageConfig, ImageVariant, Port};
use tanto_contract::EngineError;
use tanto_oci::image::ConfigBlob;
use tanto_oci::platform::Platform;

/// A container's image config from an image's OCI config blob.
pub(crate) fn from_blob(raw: &ConfigBlob) -> ImageConfig {
    let c = &raw.config;
    ImageConfig {
        env: c.env.clone(),
        user: c.user.clone().unwrap_or_default(),
        workdir: c.working_dir.clone().unwrap_or_default(),
        entrypoint: c.entrypoint.clone().unwrap_or_default(),
        cmd: c.cmd.clone().unwrap_or_default(),
        labels: c.labels.clone(),
        exposed_ports: c
            .exposed_ports
            .keys()
            .filter_map(|k| {
                let (port, proto) = k.split_once('/').unwrap_or((k.as_str(), "tcp"));
                Some(Port {
                    port: port.parse().ok()?,
                    protocol: proto.to_ascii_uppercase(),
                    description: None,
                    skip_healthcheck: false,
                })
            })
            .collect(),
        volumes: c.volumes.keys().cloned().collect(),
        stop_signal: c.stop_signal.clone().unwrap_or_default(),
        healthcheck: c.extra.get("Healthcheck").and_then(Healthcheck::from_docker_json),
    }
}

/// The OCI config blob of an image made of `c`.
pub(crate) fn to_blob(c: &ImageVariant) -> Result<ConfigBlob, EngineError> {
    let platform = Platform::parse(&c.platform)?;
    let mut cfg = ConfigBlob {
        architecture: platform.architecture.clone(),
        os: platform.os.clone(),
        variant: platform.variant.clone(),
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
        cfg.config.extra.insert("Healthcheck".into(), h.to_docker_json().map_err(EngineError::input)?);
    }
    for p in &k.exposed_ports {
        cfg.config.exposed_ports.insert(format!("{}/{}", p.port, p.protocol.to_ascii_lowercase()), Default::default());
    }
    for v in &k.volumes {
        cfg.config.volumes.insert(v.clone(), Default::default());
    }
    Ok(cfg)
}
