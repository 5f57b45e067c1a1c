//! Container Device Interface (CDI): devices such as GPUs by name.
//!
//! A vendor's tool writes spec files (YAML or JSON) into the CDI spec directories
//! (`/etc/cdi`, then `/var/run/cdi`, which wins on conflicts). Each file has a
//! `kind` (`vendor/class`, e.g. `nvidia.com/gpu`), named `devices`, and
//! `containerEdits` (env, device nodes, mounts, hooks, additional gids) for the
//! spec as a whole and per device. A device is asked for by its fully-qualified
//! name `vendor/class=name` (`nvidia.com/gpu=0`, `nvidia.com/gpu=all`).
//!
//! [`resolve`] reads the specs of the requested kinds, picks the devices and
//! merges their edits, in the order the CDI reference implementation uses: the
//! spec-wide edits of a spec the first time one of its devices is used, then
//! the device's. Device nodes get what the spec leaves out (type, major,
//! minor, file mode) from the host node. The result is pure data
//! ([`DeviceEdits`]) that `spec::build` turns into OCI devices, cgroup rules,
//! mounts, env and hooks.
//!
//! Our own small parser: the `container-device-interface` crate pulls in a CLI
//! (clap), JSON-schema validation and file watching as mandatory dependencies,
//! which an engine that only reads specs at exec time does not need.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

/// Where specs are looked for when nothing else is configured, lowest priority first.
pub const DEFAULT_SPEC_DIRS: &[&str] = &["/etc/cdi", "/var/run/cdi"];

pub use tanto_model::cdi::{check_device_name, check_kind, qualify, NVIDIA_GPU_KIND};

/// A CDI error: lower-case, names the file or device, says what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CdiError(pub String);

impl fmt::Display for CdiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CdiError {}

fn err<T>(msg: impl Into<String>) -> Result<T, CdiError> {
    Err(CdiError(msg.into()))
}

/// `null` and a missing field both mean the default (Go writes `null` for empty lists).
fn nullable<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// One spec file.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpecFile {
    pub cdi_version: String,
    pub kind: String,
    #[serde(default, deserialize_with = "nullable")]
    pub devices: Vec<DeviceSpec>,
    /// Applied once when any device of this spec is used.
    #[serde(default, deserialize_with = "nullable")]
    pub container_edits: ContainerEdits,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceSpec {
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub container_edits: ContainerEdits,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ContainerEdits {
    #[serde(default, deserialize_with = "nullable")]
    pub env: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub device_nodes: Vec<DeviceNode>,
    #[serde(default, deserialize_with = "nullable")]
    pub mounts: Vec<CdiMount>,
    #[serde(default, deserialize_with = "nullable")]
    pub hooks: Vec<CdiHook>,
    #[serde(default, deserialize_with = "nullable", alias = "additionalGIDs")]
    pub additional_gids: Vec<u32>,
    /// Not supported: a device that needs it is refused rather than half set up.
    #[serde(default)]
    pub intel_rdt: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DeviceNode {
    /// Path in the container.
    pub path: String,
    /// Path on the host (default: `path`).
    #[serde(default)]
    pub host_path: Option<String>,
    /// `c`, `b`, `u` (= `c`) or `p`.
    #[serde(default, rename = "type")]
    pub typ: Option<String>,
    #[serde(default)]
    pub major: Option<i64>,
    #[serde(default)]
    pub minor: Option<i64>,
    #[serde(default)]
    pub file_mode: Option<u32>,
    /// cgroup access: a subset of `rwm` (default `rwm`).
    #[serde(default)]
    pub permissions: Option<String>,
    #[serde(default)]
    pub uid: Option<u32>,
    #[serde(default)]
    pub gid: Option<u32>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CdiMount {
    pub host_path: String,
    pub container_path: String,
    #[serde(default, rename = "type")]
    pub typ: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub options: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CdiHook {
    pub hook_name: String,
    pub path: String,
    #[serde(default, deserialize_with = "nullable")]
    pub args: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub env: Vec<String>,
    #[serde(default)]
    pub timeout: Option<i64>,
}

/// OCI hook lists a CDI hook may name.
pub const HOOK_NAMES: &[&str] =
    &["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"];

/// A device node ready for the runtime config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedNode {
    /// Path in the container (under /dev).
    pub path: String,
    /// `c`, `b` or `p`.
    pub typ: char,
    pub major: i64,
    pub minor: i64,
    pub file_mode: Option<u32>,
    /// cgroup access (`rwm` unless the spec says otherwise).
    pub permissions: String,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

/// A mount ready for the runtime config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedMount {
    pub source: PathBuf,
    pub target: String,
    /// `bind` for bind mounts.
    pub typ: String,
    pub options: Vec<String>,
}

impl ResolvedMount {
    pub fn is_bind(&self) -> bool {
        self.typ == "bind" || self.options.iter().any(|o| o == "bind" || o == "rbind")
    }

    pub fn readonly(&self) -> bool {
        self.options.iter().any(|o| o == "ro")
    }
}

/// The merged edits of the requested devices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceEdits {
    /// The fully-qualified names these edits are for.
    pub names: Vec<String>,
    /// `K=V`, applied in order over the container's env (a later value replaces).
    pub env: Vec<String>,
    pub devices: Vec<ResolvedNode>,
    pub mounts: Vec<ResolvedMount>,
    pub hooks: Vec<CdiHook>,
    pub additional_gids: Vec<u32>,
}

impl DeviceEdits {
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

fn split_qualified(name: &str) -> Result<(&str, &str), CdiError> {
    let (kind, dev) = name
        .split_once('=')
        .ok_or_else(|| CdiError(format!("`{name}` is not a cdi device name of the form `vendor.com/class=name`")))?;
    check_kind(kind).map_err(CdiError)?;
    check_device_name(dev).map_err(CdiError)?;
    Ok((kind, dev))
}

/// Parses one spec file's text (`json` picks the JSON parser; YAML otherwise)
/// and checks it.
pub fn parse_spec(text: &str, json: bool) -> Result<SpecFile, String> {
    let spec: SpecFile = if json {
        serde_json::from_str(text).map_err(|e| e.to_string())?
    } else {
        yaml_serde::from_str(text).map_err(|e| e.to_string())?
    };
    check_spec(&spec)?;
    Ok(spec)
}

fn check_spec(spec: &SpecFile) -> Result<(), String> {
    let v = spec.cdi_version.trim();
    let parts: Vec<&str> = v.split('.').collect();
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_digit())) {
        return Err(format!("`cdiVersion` `{v}` is not a version such as `0.6.0`"));
    }
    if parts[0] != "0" && parts[0] != "1" {
        return Err(format!("`cdiVersion` `{v}` is newer than this engine understands (0.x and 1.x)"));
    }
    check_kind(&spec.kind)?;
    if spec.devices.is_empty() {
        return Err("it defines no `devices`".into());
    }
    let mut seen = BTreeSet::new();
    for d in &spec.devices {
        check_device_name(&d.name).map_err(|e| format!("device {e}"))?;
        if !seen.insert(d.name.as_str()) {
            return Err(format!("device `{}` is defined twice", d.name));
        }
        check_edits(&d.container_edits).map_err(|e| format!("device `{}`: {e}", d.name))?;
    }
    check_edits(&spec.container_edits).map_err(|e| format!("containerEdits: {e}"))
}

fn check_edits(e: &ContainerEdits) -> Result<(), String> {
    for kv in &e.env {
        if kv.split_once('=').is_none_or(|(k, _)| k.is_empty()) {
            return Err(format!("env entry `{kv}` is not `NAME=value`"));
        }
    }
    for n in &e.device_nodes {
        if !n.path.starts_with('/') {
            return Err(format!("device node path `{}` is not absolute", n.path));
        }
        if let Some(t) = &n.typ {
            if !matches!(t.as_str(), "c" | "b" | "u" | "p") {
                return Err(format!("device node `{}` has type `{t}`; use c, b, u or p", n.path));
            }
        }
        if let Some(p) = &n.permissions {
            if p.is_empty() || !p.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
                return Err(format!("device node `{}` has permissions `{p}`; use letters of `rwm`", n.path));
            }
        }
    }
    for m in &e.mounts {
        if !m.container_path.starts_with('/') {
            return Err(format!("mount containerPath `{}` is not absolute", m.container_path));
        }
        if m.host_path.is_empty() {
            return Err(format!("mount at `{}` has no hostPath", m.container_path));
        }
    }
    for h in &e.hooks {
        if !HOOK_NAMES.contains(&h.hook_name.as_str()) {
            return Err(format!(
                "hook `{}` has hookName `{}`; use one of {}",
                h.path,
                h.hook_name,
                HOOK_NAMES.join(", ")
            ));
        }
        if !h.path.starts_with('/') {
            return Err(format!("hook path `{}` is not absolute", h.path));
        }
        if h.timeout.is_some_and(|t| t <= 0) {
            return Err(format!("hook `{}` has a timeout that is not positive", h.path));
        }
    }
    Ok(())
}

/// A spec file found in a spec dir.
#[derive(Debug, Clone)]
struct Loaded {
    path: PathBuf,
    /// Index of its dir: a higher one wins.
    priority: usize,
    spec: SpecFile,
}

fn creation_hint(kind: &str) -> String {
    if kind == NVIDIA_GPU_KIND {
        "create one with `nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml` (NVIDIA Container Toolkit) on a host with the NVIDIA driver".into()
    } else {
        format!("install the CDI spec of the vendor of `{kind}`")
    }
}

fn list_dirs(dirs: &[PathBuf]) -> String {
    dirs.iter().map(|d| format!("`{}`", d.display())).collect::<Vec<_>>().join(", ")
}

/// Reads the spec files of `kinds` from `dirs` (lowest priority first). A file
/// that cannot be parsed is an error unless it plainly declares another kind.
fn load(dirs: &[PathBuf], kinds: &BTreeSet<&str>) -> Result<(Vec<Loaded>, bool), CdiError> {
    let mut out = Vec::new();
    let mut any_dir = false;
    for (priority, dir) in dirs.iter().enumerate() {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return err(format!("reading the cdi spec directory `{}`: {e}", dir.display())),
        };
        any_dir = true;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("json" | "yaml" | "yml")))
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for path in files {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| CdiError(format!("reading the cdi spec file `{}`: {e}", path.display())))?;
            let json = path.extension().is_some_and(|e| e == "json");
            match parse_spec(&text, json) {
                Ok(spec) if kinds.contains(spec.kind.as_str()) => out.push(Loaded { path, priority, spec }),
                Ok(_) => {}
                Err(problem) => {
                    if declared_kind(&text, json).is_some_and(|k| !kinds.contains(k.as_str())) {
                        tracing::debug!(path = %path.display(), %problem, "skipping an invalid cdi spec of a kind not asked for");
                        continue;
                    }
                    return err(format!(
                        "the cdi spec file `{}` is invalid: {problem}; fix or remove it",
                        path.display()
                    ));
                }
            }
        }
    }
    Ok((out, any_dir))
}

/// The `kind` of a spec that may not parse as a whole.
fn declared_kind(text: &str, json: bool) -> Option<String> {
    #[derive(Deserialize)]
    struct KindOnly {
        kind: String,
    }
    let k: KindOnly = if json { serde_json::from_str(text).ok()? } else { yaml_serde::from_str(text).ok()? };
    Some(k.kind)
}

/// Resolves fully-qualified device names against the specs in `dirs` and
/// merges their edits. Reads the host's device nodes for what the specs leave out.
pub fn resolve(dirs: &[PathBuf], names: &[String]) -> Result<DeviceEdits, CdiError> {
    let mut out = DeviceEdits::default();
    if names.is_empty() {
        return Ok(out);
    }
    let mut wanted: Vec<(&str, &str, &str)> = Vec::new();
    for n in names {
        let (kind, dev) = split_qualified(n)?;
        if !wanted.iter().any(|(full, ..)| *full == n.as_str()) {
            wanted.push((n.as_str(), kind, dev));
        }
    }
    let kinds: BTreeSet<&str> = wanted.iter().map(|(_, k, _)| *k).collect();
    let (specs, any_dir) = load(dirs, &kinds)?;
    let mut edits: Vec<(String, &ContainerEdits)> = Vec::new();
    let mut used_specs: BTreeSet<&Path> = BTreeSet::new();
    for (full, kind, dev) in &wanted {
        let of_kind: Vec<&Loaded> = specs.iter().filter(|l| l.spec.kind == *kind).collect();
        if of_kind.is_empty() {
            let why = if any_dir {
                format!("no cdi spec for `{kind}` in {}", list_dirs(dirs))
            } else {
                format!("no cdi spec directory exists (looked for {})", list_dirs(dirs))
            };
            return err(format!("cannot give the container `{full}`: {why}; {}", creation_hint(kind)));
        }
        // The device from the highest-priority dir that defines it.
        let mut found: Vec<(&Loaded, &DeviceSpec)> = of_kind
            .iter()
            .flat_map(|l| l.spec.devices.iter().filter(|d| d.name == *dev).map(move |d| (*l, d)))
            .collect();
        found.sort_by_key(|(l, _)| std::cmp::Reverse(l.priority));
        let Some(&(spec, device)) = found.first() else {
            let known: BTreeSet<&str> =
                of_kind.iter().flat_map(|l| l.spec.devices.iter().map(|d| d.name.as_str())).collect();
            let files: Vec<String> = of_kind.iter().map(|l| format!("`{}`", l.path.display())).collect();
            return err(format!(
                "unknown cdi device `{full}`: the specs for `{kind}` ({}) define {}; pick one of those or regenerate the spec",
                files.join(", "),
                known.into_iter().collect::<Vec<_>>().join(", ")
            ));
        };
        if let Some((other, _)) = found.get(1).filter(|(l, _)| l.priority == spec.priority) {
            return err(format!(
                "cdi device `{full}` is defined by both `{}` and `{}`; remove one of them",
                spec.path.display(),
                other.path.display()
            ));
        }
        if used_specs.insert(spec.path.as_path()) {
            edits.push((format!("{full} (spec-wide edits of `{}`)", spec.path.display()), &spec.spec.container_edits));
        }
        edits.push((full.to_string(), &device.container_edits));
        out.names.push(full.to_string());
    }
    for (what, e) in edits {
        apply(&mut out, &what, e)?;
    }
    Ok(out)
}

/// Adds one set of edits to `out`, filling device nodes from the host.
fn apply(out: &mut DeviceEdits, what: &str, e: &ContainerEdits) -> Result<(), CdiError> {
    if e.intel_rdt.is_some() {
        return err(format!(
            "cdi device `{what}` asks for `intelRdt` edits, which tanto does not support; use a spec without them"
        ));
    }
    out.env.extend(e.env.iter().cloned());
    for n in &e.device_nodes {
        let node = fill_node(n).map_err(|m| CdiError(format!("cdi device `{what}`: device node `{}`: {m}", n.path)))?;
        out.devices.retain(|d| d.path != node.path);
        out.devices.push(node);
    }
    for m in &e.mounts {
        let mut options = m.options.clone();
        let typ = m.typ.clone().filter(|t| !t.is_empty() && t != "none").unwrap_or_else(|| "bind".into());
        if typ == "bind" && !options.iter().any(|o| o == "bind" || o == "rbind") {
            options.push("rbind".into());
        }
        out.mounts.retain(|x| x.target != m.container_path);
        out.mounts.push(ResolvedMount {
            source: PathBuf::from(&m.host_path),
            target: m.container_path.clone(),
            typ,
            options,
        });
    }
    out.hooks.extend(e.hooks.iter().cloned());
    for g in &e.additional_gids {
        if *g != 0 && !out.additional_gids.contains(g) {
            out.additional_gids.push(*g);
        }
    }
    Ok(())
}

/// A device node with type, numbers and mode; what the spec leaves out comes
/// from the host node (`hostPath`, else `path`).
fn fill_node(n: &DeviceNode) -> Result<ResolvedNode, String> {
    let path = clean_dev_path(&n.path)?;
    let host = n.host_path.clone().filter(|p| !p.is_empty()).unwrap_or_else(|| n.path.clone());
    let mut typ = n.typ.as_deref().map(|t| if t == "u" { 'c' } else { t.chars().next().unwrap_or('c') });
    let (mut major, mut minor) = (n.major, n.minor);
    let mut file_mode = n.file_mode;
    let complete = matches!(typ, Some('p')) || (typ.is_some() && major.is_some() && minor.is_some());
    match rustix::fs::stat(host.as_str()) {
        Ok(st) => {
            let host_typ = match rustix::fs::FileType::from_raw_mode(st.st_mode) {
                rustix::fs::FileType::CharacterDevice => 'c',
                rustix::fs::FileType::BlockDevice => 'b',
                rustix::fs::FileType::Fifo => 'p',
                _ => return Err(format!("the host path `{host}` is not a device node")),
            };
            if typ.is_some_and(|t| t != host_typ) {
                return Err(format!("the spec says type `{}` but the host node `{host}` is of type `{host_typ}`", typ.unwrap_or('?')));
            }
            typ.get_or_insert(host_typ);
            if major.is_none() && minor.is_none() && host_typ != 'p' {
                major = Some(rustix::fs::major(st.st_rdev) as i64);
                minor = Some(rustix::fs::minor(st.st_rdev) as i64);
            }
            file_mode.get_or_insert(st.st_mode & 0o777);
        }
        Err(e) if !complete => {
            return Err(format!(
                "the host has no usable `{host}` ({e}) and the spec does not give its type and numbers; is the driver loaded? regenerate the spec"
            ))
        }
        Err(_) => {}
    }
    let typ = typ.unwrap_or('c');
    if typ != 'p' && (major.is_none() || minor.is_none()) {
        return Err("the spec gives only one of `major` and `minor`".into());
    }
    Ok(ResolvedNode {
        path,
        typ,
        major: major.unwrap_or(0),
        minor: minor.unwrap_or(0),
        file_mode,
        permissions: n.permissions.clone().unwrap_or_else(|| "rwm".into()),
        uid: n.uid,
        gid: n.gid,
    })
}

/// Device nodes are created by the runtime; only inside the container's /dev
/// tmpfs, so none ever lands in the root filesystem.
fn clean_dev_path(p: &str) -> Result<String, String> {
    let parts: Vec<&str> = p.split('/').filter(|s| !s.is_empty() && *s != ".").collect();
    if parts.contains(&"..") || parts.len() < 2 || parts[0] != "dev" {
        return Err(format!("`{p}` is not a path under /dev; tanto creates device nodes only in the container's /dev"));
    }
    Ok(format!("/{}", parts.join("/")))
}

/// Env entries with `edits` applied: a name set again replaces the old value.
pub fn merge_env(env: &mut Vec<String>, edits: &[String]) {
    for kv in edits {
        let name = kv.split_once('=').map(|(k, _)| k).unwrap_or(kv);
        env.retain(|e| e.split_once('=').map(|(k, _)| k).unwrap_or(e) != name);
        env.push(kv.clone());
    }
}

#[cfg(test)]
mod tests;
