//! The engine as an API object: its name and clients, its local cache's
//! space settings, the cache records and pruning them (`tanto_store::prune`).
//!
//! Space settings come from the engine config's `[gc]` section
//! (`reservedSpace`, `maxUsedSpace`, `minFreeSpace`, `targetSpace`; each a
//! number of bytes, a size with a unit such as `"512MB"` or `"20GiB"`, or a
//! percentage of the disk holding the state directory such as `"10%"`).
//! Unset ones take Dagger's defaults, computed from the size of that disk:
//! `reservedSpace` 10% of the disk up to 10 GB, `minFreeSpace` 20%,
//! `maxUsedSpace` 75%, and `targetSpace` the `maxUsedSpace` (a prune started
//! by the limits goes back down to them).

use std::path::Path;

use tanto_contract::cache::{CacheEntry, CacheEntrySet, CachePolicy, EngineInfo, PruneRequest};
use tanto_store::PrunePolicy;

use crate::backend::EngineBackend;
use crate::EngineError;

/// A disk space setting.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DiskSpace {
    Bytes(u64),
    /// Percent of the disk holding the state directory.
    Percent(f64),
}

impl DiskSpace {
    /// `512000000`, `"512MB"`, `"20GiB"`, `"10%"`.
    pub fn parse(s: &str) -> Result<DiskSpace, String> {
        let t = s.trim();
        if let Some(p) = t.strip_suffix('%') {
            let v: f64 = p.trim().parse().map_err(|_| format!("`{s}` is not a percentage"))?;
            if !(0.0..=100.0).contains(&v) {
                return Err(format!("`{s}` is not between 0% and 100%"));
            }
            return Ok(DiskSpace::Percent(v));
        }
        let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let v: f64 = num
            .parse()
            .map_err(|_| format!("`{s}` is not a size: use bytes, a unit (512MB, 20GiB) or a percentage (10%)"))?;
        let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1.0,
            "k" | "kb" => 1e3,
            "m" | "mb" => 1e6,
            "g" | "gb" => 1e9,
            "t" | "tb" => 1e12,
            "ki" | "kib" => 1024.0,
            "mi" | "mib" => 1024f64.powi(2),
            "gi" | "gib" => 1024f64.powi(3),
            "ti" | "tib" => 1024f64.powi(4),
            other => {
                return Err(format!("`{s}` has an unknown unit `{other}`: use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB"))
            }
        };
        Ok(DiskSpace::Bytes((v * mult).round() as u64))
    }

    pub fn bytes(self, disk_total: u64) -> u64 {
        match self {
            DiskSpace::Bytes(b) => b,
            DiskSpace::Percent(p) => (disk_total as f64 * p / 100.0) as u64,
        }
    }
}

/// The `[gc]` section of the engine config (unset: Dagger's defaults).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GcSettings {
    pub reserved_space: Option<DiskSpace>,
    pub max_used_space: Option<DiskSpace>,
    pub min_free_space: Option<DiskSpace>,
    pub target_space: Option<DiskSpace>,
}

const TEN_GB: u64 = 10_000_000_000;

impl GcSettings {
    pub fn from_config(
        config: &tanto_oci::config::EngineConfig,
        path: Option<&Path>,
    ) -> Result<GcSettings, EngineError> {
        let mut out = GcSettings::default();
        let Some(section) = config.extra.get("gc") else { return Ok(out) };
        let file = path.map(|p| p.display().to_string()).unwrap_or_else(|| "engine config".into());
        let table =
            section.as_table().ok_or_else(|| EngineError::input(format!("`{file}`: `[gc]` must be a table")))?;
        for (key, value) in table {
            let v = match (value.as_integer(), value.as_str()) {
                (Some(n), _) if n >= 0 => DiskSpace::Bytes(n as u64),
                (_, Some(s)) => {
                    DiskSpace::parse(s).map_err(|e| EngineError::input(format!("`{file}`: `[gc] {key}`: {e}")))?
                }
                _ => {
                    return Err(EngineError::input(format!(
                        "`{file}`: `[gc] {key}` must be a size string or a number of bytes, not {value}"
                    )))
                }
            };
            let slot = match key.as_str() {
                "reservedSpace" => &mut out.reserved_space,
                "maxUsedSpace" => &mut out.max_used_space,
                "minFreeSpace" => &mut out.min_free_space,
                "targetSpace" => &mut out.target_space,
                other => {
                    return Err(EngineError::input(format!(
                        "`{file}`: `[gc] {other}` is an unknown key: use reservedSpace, maxUsedSpace, minFreeSpace or targetSpace"
                    )))
                }
            };
            *slot = Some(v);
        }
        Ok(out)
    }

    /// The settings in bytes for a disk of `total` bytes.
    pub fn resolve(&self, total: u64) -> CachePolicy {
        let reserved = self.reserved_space.map(|d| d.bytes(total)).unwrap_or_else(|| (total / 10).min(TEN_GB));
        let max_used = self.max_used_space.map(|d| d.bytes(total)).unwrap_or(total / 100 * 75);
        let min_free = self.min_free_space.map(|d| d.bytes(total)).unwrap_or(total / 100 * 20);
        let target = self.target_space.map(|d| d.bytes(total)).unwrap_or(max_used);
        let i = |v: u64| v.min(i64::MAX as u64) as i64;
        CachePolicy {
            max_used_space: i(max_used),
            min_free_space: i(min_free),
            reserved_space: i(reserved),
            target_space: i(target),
        }
    }
}

/// The store's prune policy for the engine's limits (the automatic GC's, and
/// `prune(useDefaultPolicy: true)`'s).
pub fn store_policy(c: &CachePolicy) -> PrunePolicy {
    let b = |v: i64| v.max(0) as u64;
    PrunePolicy {
        reserved: b(c.reserved_space),
        max_used: Some(b(c.max_used_space)),
        min_free: Some(b(c.min_free_space)),
        target: Some(b(c.target_space)),
    }
}

/// A size as `docker` prints one: decimal units, three significant digits
/// (`0B`, `512B`, `1.23MB`, `20GB`); [`DiskSpace::parse`] reads it back.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 999.5 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    let text = if unit == 0 || v >= 99.95 {
        format!("{v:.0}")
    } else if v >= 9.995 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    let text = if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.') } else { &text };
    format!("{text}{}", UNITS[unit])
}

/// Builds the store policy for a prune request.
pub fn prune_policy(req: &PruneRequest, defaults: &CachePolicy, total: u64) -> Result<PrunePolicy, String> {
    let arg = |name: &str, v: &str| -> Result<Option<u64>, String> {
        if v.is_empty() {
            return Ok(None);
        }
        DiskSpace::parse(v).map(|d| Some(d.bytes(total))).map_err(|e| format!("`prune({name}:)`: {e}"))
    };
    let (reserved, max_used, min_free, target) = (
        arg("reservedSpace", &req.reserved_space)?,
        arg("maxUsedSpace", &req.max_used_space)?,
        arg("minFreeSpace", &req.min_free_space)?,
        arg("targetSpace", &req.target_space)?,
    );
    Ok(if req.use_default_policy {
        let d = store_policy(defaults);
        PrunePolicy {
            reserved: reserved.unwrap_or(d.reserved),
            max_used: max_used.or(d.max_used),
            min_free: min_free.or(d.min_free),
            target: target.or(d.target),
        }
    } else {
        PrunePolicy { reserved: reserved.unwrap_or(0), max_used, min_free, target }
    })
}

/// BuildKit's usage record type for a record kind.
fn record_type(kind: &str) -> &'static str {
    match kind {
        "local" => "source.local",
        "git" => "source.git.checkout",
        _ => "regular",
    }
}

/// This engine's name: the host name and the process id.
pub fn engine_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
    let host = if host.is_empty() { "localhost".to_string() } else { host };
    format!("{host}-tanto-{}", std::process::id())
}

impl EngineBackend {
    fn disk_total(&self) -> u64 {
        tanto_store::disk_space(self.worker().store.root()).map(|(t, _)| t).unwrap_or(0)
    }

    pub(crate) fn do_engine_info(&self) -> EngineInfo {
        EngineInfo { name: self.identity.name.clone(), clients: vec![self.identity.client_id.clone()] }
    }

    pub(crate) fn do_cache_policy(&self) -> CachePolicy {
        self.identity.gc.resolve(self.disk_total())
    }

    pub(crate) async fn do_cache_entries(&self, key: &str) -> Result<CacheEntrySet, EngineError> {
        let store = self.worker().store.clone();
        let key = key.to_string();
        crate::worker::blocking(move || {
            let entries = store.cache_entries()?;
            let mut blob_seen = std::collections::HashSet::new();
            let mut total: u64 = 0;
            let mut out = Vec::new();
            for e in entries.into_iter().filter(|e| e.key.starts_with(&key)) {
                total += e.size;
                for b in &e.blobs {
                    if !blob_seen.insert(b.clone()) {
                        // counted by an earlier entry of the set
                        total = total.saturating_sub(
                            std::fs::metadata(store.blob_path(b))
                                .map(|m| std::os::unix::fs::MetadataExt::blocks(&m) * 512)
                                .unwrap_or(0),
                        );
                    }
                }
                let ns = |s: i64| s.saturating_mul(1_000_000_000);
                out.push(CacheEntry {
                    record_type: record_type(&e.kind).to_string(),
                    description: if e.description.is_empty() {
                        format!("{} {}", if e.kind.is_empty() { "result" } else { &e.kind }, e.key)
                    } else {
                        e.description
                    },
                    key: e.key,
                    disk_space_bytes: e.size.min(i64::MAX as u64) as i64,
                    created_time_unix_nano: ns(e.created),
                    most_recent_use_time_unix_nano: ns(e.last_used),
                    actively_used: e.in_use,
                });
            }
            Ok(CacheEntrySet { entries: out, disk_space_bytes: total.min(i64::MAX as u64) as i64 })
        })
        .await
    }

    pub(crate) async fn do_cache_prune(&self, req: &PruneRequest) -> Result<(), EngineError> {
        let total = self.disk_total();
        let policy = prune_policy(req, &self.do_cache_policy(), total).map_err(EngineError::input)?;
        let store = self.worker().store.clone();
        let report =
            crate::worker::blocking(move || Ok(crate::gc::prune_exclusive(&store, &policy, &Default::default())?))
                .await?;
        tracing::info!(
            records = report.records,
            snapshots = report.snapshots,
            blobs = report.blobs,
            freed = report.freed,
            before = report.before,
            after = report.after,
            "pruned the cache"
        );
        Ok(())
    }
}

/// Who this engine is to its client.
#[derive(Debug, Clone)]
pub struct EngineIdentity {
    pub name: String,
    /// The session's client.
    pub client_id: String,
    pub gc: GcSettings,
}

impl Default for EngineIdentity {
    fn default() -> Self {
        EngineIdentity {
            name: engine_name(),
            client_id: uuid::Uuid::new_v4().simple().to_string(),
            gc: GcSettings::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_spaces() {
        let cases: &[(&str, Result<DiskSpace, &str>)] = &[
            ("512000000", Ok(DiskSpace::Bytes(512_000_000))),
            ("512MB", Ok(DiskSpace::Bytes(512_000_000))),
            ("1.5GB", Ok(DiskSpace::Bytes(1_500_000_000))),
            ("20GiB", Ok(DiskSpace::Bytes(20 << 30))),
            ("10 kb", Ok(DiskSpace::Bytes(10_000))),
            ("10%", Ok(DiskSpace::Percent(10.0))),
            ("150%", Err("between 0% and 100%")),
            ("10XB", Err("unknown unit `xb`")),
            ("lots", Err("is not a size")),
        ];
        for (input, want) in cases {
            match (DiskSpace::parse(input), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, *want, "{input}"),
                (Err(e), Err(w)) => assert!(e.contains(w), "{input}: {e}"),
                (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn sizes_print_as_docker_prints_them_and_parse_back() {
        // (bytes, printed)
        let cases = [
            (0, "0B"),
            (512, "512B"),
            (999, "999B"),
            (1000, "1kB"),
            (1_234_567, "1.23MB"),
            (12_345_678, "12.3MB"),
            (123_456_789, "123MB"),
            (999_999_999, "1GB"),
            (1_200_000_000, "1.2GB"),
            (20_000_000_000_000, "20TB"),
        ];
        for (bytes, want) in cases {
            let got = format_size(bytes);
            assert_eq!(got, want, "{bytes}");
            let DiskSpace::Bytes(back) = DiskSpace::parse(&got).unwrap() else { panic!("{got}: not bytes") };
            assert!(back.abs_diff(bytes) * 200 <= bytes.max(1), "{got} reads back as {back}, not about {bytes}");
        }
    }

    #[test]
    fn gc_settings_and_defaults() {
        const T: u64 = 1_000_000_000_000; // a 1 TB disk
        let parse = |text: &str| {
            let cfg: tanto_oci::config::EngineConfig = tanto_oci::config::EngineConfig::from_toml_str(text).unwrap();
            GcSettings::from_config(&cfg, None).map(|g| g.resolve(T)).map_err(|e| e.to_string())
        };
        let cache = |reserved: u64, max: u64, free: u64, target: u64| CachePolicy {
            reserved_space: reserved as i64,
            max_used_space: max as i64,
            min_free_space: free as i64,
            target_space: target as i64,
        };
        let cases: &[(&str, Result<CachePolicy, &str>)] = &[
            ("", Ok(cache(TEN_GB, 750_000_000_000, 200_000_000_000, 750_000_000_000))),
            ("[gc]\nmaxUsedSpace = \"100GB\"\n", Ok(cache(TEN_GB, 100_000_000_000, 200_000_000_000, 100_000_000_000))),
            (
                "[gc]\nreservedSpace = 1000\ntargetSpace = \"5%\"\n",
                Ok(cache(1000, 750_000_000_000, 200_000_000_000, 50_000_000_000)),
            ),
            ("[gc]\nkeepBytes = \"1GB\"\n", Err("unknown key")),
            ("[gc]\nminFreeSpace = true\n", Err("must be a size string")),
        ];
        for (text, want) in cases {
            match (parse(text), want) {
                (Ok(got), Ok(want)) => assert_eq!(&got, want, "{text}"),
                (Err(e), Err(w)) => assert!(e.contains(w), "{text}: {e}"),
                (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
            }
        }
        // a small disk: 10% is under 10 GB
        assert_eq!(GcSettings::default().resolve(50_000_000_000).reserved_space, 5_000_000_000);
    }

    #[test]
    fn prune_policies() {
        let defaults = CachePolicy { reserved_space: 10, max_used_space: 100, min_free_space: 20, target_space: 50 };
        let req = |default: bool, max: &str, reserved: &str| PruneRequest {
            use_default_policy: default,
            max_used_space: max.into(),
            reserved_space: reserved.into(),
            ..Default::default()
        };
        let p = |reserved, max_used, min_free, target| PrunePolicy { reserved, max_used, min_free, target };
        let cases = [
            (req(false, "", ""), Ok(p(0, None, None, None))),
            (req(true, "", ""), Ok(p(10, Some(100), Some(20), Some(50)))),
            (req(true, "80", ""), Ok(p(10, Some(80), Some(20), Some(50)))),
            (req(false, "50%", "5"), Ok(p(5, Some(500), None, None))),
            (req(false, "x", ""), Err("`prune(maxUsedSpace:)`")),
        ];
        for (r, want) in cases {
            match (prune_policy(&r, &defaults, 1000), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{r:?}"),
                (Err(e), Err(w)) => assert!(e.contains(w), "{r:?}: {e}"),
                (got, want) => panic!("{r:?}: got {got:?}, want {want:?}"),
            }
        }
    }
}
