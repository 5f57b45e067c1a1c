//! `tanto prune` and `tanto du`: the state directory's cache, without an engine.

use std::fmt::Write as _;
use std::io::Write as _;

use anyhow::{Context, Result};
use serde_json::json;
use tanto_engine::cache::{format_size, DiskSpace};
use tanto_engine::explain::ago;
use tanto_engine::gc::{parse_filters, prune_state, space_state, PruneScope, SpaceState};
use tanto_engine::EngineOptions;

#[derive(clap::Args)]
pub struct PruneArgs {
    /// Everything no running step holds (default: what the `[gc]` policy says).
    #[arg(long, conflicts_with = "keep_storage")]
    all: bool,
    /// Prune down to SIZE (bytes, `512MB`, `20GiB` or a percentage of the disk).
    #[arg(long, value_name = "SIZE")]
    keep_storage: Option<String>,
    /// Only records that match (repeatable, all must match): `type=KIND`
    /// (exec, image-layer, file, local, http, git, kept) or `until=DURATION`
    /// (not used for that long, e.g. `24h`). With a filter and no
    /// `--keep-storage`, every matching record no running step holds goes.
    #[arg(long, value_name = "FILTER")]
    filter: Vec<String>,
}

#[derive(clap::Args)]
pub struct DuArgs {
    /// JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub async fn prune(args: PruneArgs) -> Result<u8> {
    let scope = match (&args.keep_storage, args.all) {
        (Some(s), _) => {
            PruneScope::KeepStorage(DiskSpace::parse(s).map_err(|e| anyhow::anyhow!("`--keep-storage`: {e}"))?)
        }
        (None, true) => PruneScope::All,
        (None, false) if !args.filter.is_empty() => PruneScope::All,
        (None, false) => PruneScope::Policy,
    };
    let filter = parse_filters(&args.filter).map_err(|e| anyhow::anyhow!("`--filter`: {e}"))?;
    let options = EngineOptions::from_env(None)?;
    let report =
        tokio::task::spawn_blocking(move || prune_state(&options, scope, &filter)).await.context("pruning")??;
    let text = format!(
        "Deleted {} records ({} snapshots, {} blobs); the cache went from {} to {}\nTotal reclaimed space: {}\n",
        report.records,
        report.snapshots,
        report.blobs,
        format_size(report.before),
        format_size(report.after),
        format_size(report.freed)
    );
    std::io::stdout().write_all(text.as_bytes())?;
    Ok(0)
}

pub async fn du(args: DuArgs) -> Result<u8> {
    let options = EngineOptions::from_env(None)?;
    let state_dir = options.state_dir.clone();
    let SpaceState { space, policy, disk_total, disk_free } =
        tokio::task::spawn_blocking(move || space_state(&options)).await.context("measuring")??;
    if args.json {
        let v = json!({
            "stateDir": state_dir,
            "kinds": space.kinds.iter().map(|(k, s)| (k.clone(), json!({
                "records": s.records, "inUse": s.in_use, "bytes": s.bytes,
            }))).collect::<serde_json::Map<_, _>>(),
            "lowerSnapshots": space.lower_snapshots,
            "blobs": space.blobs,
            "volumes": space.volumes,
            "mirrors": space.mirrors,
            "total": space.total,
            "cache": space.cache,
            "policy": {
                "reservedSpace": policy.reserved_space,
                "maxUsedSpace": policy.max_used_space,
                "minFreeSpace": policy.min_free_space,
                "targetSpace": policy.target_space,
            },
            "disk": { "total": disk_total, "free": disk_free },
            "pipelines": space.pipelines,
            "notInARecordedRun": space.unattributed,
        });
        let mut out = serde_json::to_vec_pretty(&v)?;
        out.push(b'\n');
        std::io::stdout().write_all(&out)?;
        return Ok(0);
    }
    let mut rows: Vec<(String, String, String, u64)> =
        space.kinds.iter().map(|(k, s)| (k.clone(), s.records.to_string(), s.in_use.to_string(), s.bytes)).collect();
    for (name, bytes) in [
        ("lower snapshots", space.lower_snapshots),
        ("other blobs", space.blobs),
        ("cache volumes", space.volumes),
        ("client mirrors", space.mirrors),
    ] {
        rows.push((name.to_string(), "-".into(), "-".into(), bytes));
    }
    let mut t = String::new();
    writeln!(t, "{:<16} {:>8} {:>7} {:>9}", "KIND", "RECORDS", "IN USE", "SIZE")?;
    for (name, records, in_use, bytes) in rows {
        writeln!(t, "{name:<16} {records:>8} {in_use:>7} {:>9}", format_size(bytes))?;
    }
    writeln!(t, "{:<16} {:>8} {:>7} {:>9}", "total", "", "", format_size(space.total))?;
    if !space.pipelines.is_empty() {
        writeln!(t)?;
        pipeline_table(&mut t, &space)?;
    }
    let size = |v: i64| format_size(v.max(0) as u64);
    writeln!(t)?;
    writeln!(t, "State directory: {}", state_dir.display())?;
    writeln!(t, "Cache (what [gc] counts and prunes): {}", format_size(space.cache))?;
    writeln!(
        t,
        "Policy: reservedSpace {}, maxUsedSpace {}, minFreeSpace {}, targetSpace {}",
        size(policy.reserved_space),
        size(policy.max_used_space),
        size(policy.min_free_space),
        size(policy.target_space)
    )?;
    writeln!(t, "Disk: {} free of {}", format_size(disk_free), format_size(disk_total))?;
    std::io::stdout().write_all(t.as_bytes())?;
    Ok(0)
}

/// Longest pipeline name shown in the table (the JSON has it whole).
const NAME_WIDTH: usize = 40;

/// The cache space per pipeline: what its recorded runs use, what only they
/// use (`UNIQUE`: what removing them would free), and what no run uses.
fn pipeline_table(t: &mut String, report: &tanto_engine::gc::SpaceReport) -> std::fmt::Result {
    writeln!(
        t,
        "{:<w$} {:>5} {:>8} {:>9} {:>9} {:>9}  DIRECTORY",
        "PIPELINE",
        "RUNS",
        "RECORDS",
        "SIZE",
        "UNIQUE",
        "LAST RUN",
        w = NAME_WIDTH
    )?;
    for p in &report.pipelines {
        let name = if p.pipeline.is_empty() { "(unnamed)" } else { p.pipeline.as_str() };
        let name = if name.chars().count() > NAME_WIDTH {
            format!("{}…", name.chars().take(NAME_WIDTH - 1).collect::<String>())
        } else {
            name.to_string()
        };
        writeln!(
            t,
            "{name:<w$} {:>5} {:>8} {:>9} {:>9} {:>9}  {}",
            p.runs,
            p.records,
            format_size(p.bytes),
            format_size(p.exclusive),
            ago(p.last_run_ms),
            p.workdir,
            w = NAME_WIDTH
        )?;
    }
    writeln!(
        t,
        "{:<w$} {:>5} {:>8} {:>9}",
        format!("used by none of the last {} runs", tanto_engine::explain::KEEP_RUNS),
        "",
        "",
        format_size(report.unattributed),
        w = NAME_WIDTH
    )
}
