//! `tanto doctor`: how tanto will run here — root or rootless, the user
//! namespace's ID map, the OCI runtime, the overlay driver, the network
//! backend, cgroups, other platforms — each found by trying it, and what is
//! missing for the rest. As a normal user the checks that need the engine's
//! user namespace run in it (`tanto doctor --inside`, started through the same
//! entry every engine takes), so what doctor says is what the engine gets.

use anyhow::Result;
use serde_json::{json, Value};
use tanto_engine::probe;
use tanto_engine::userns::{self, MapPlan};

#[derive(clap::Args)]
pub struct DoctorArgs {
    /// Print the checks as JSON.
    #[arg(long)]
    json: bool,
    /// Run only the checks that need the engine's namespace (internal).
    #[arg(long, hide = true)]
    pub(crate) inside: bool,
}

/// One finding: `ok` (works), `limited` (works with a limit) or `missing`.
struct Check {
    name: String,
    status: String,
    detail: String,
}

fn check(name: &str, status: &str, detail: impl Into<String>) -> Check {
    Check { name: name.into(), status: status.into(), detail: detail.into() }
}

fn tried(name: &str, r: Result<String, String>, otherwise: &str) -> Check {
    match r {
        Ok(detail) => check(name, "ok", detail),
        Err(detail) => check(name, otherwise, detail),
    }
}

/// The checks made in the engine's namespace (or as root).
fn inside_checks() -> Vec<Check> {
    let options = tanto_engine::EngineOptions::from_env(None);
    let mut out = vec![check(
        "mode",
        "ok",
        if tanto_engine::rootless() { "rootless: in a user namespace of tanto's own" } else { "root" },
    )];
    out.extend(paths(&options));
    if tanto_engine::rootless() {
        let ids = tanto_engine::mapped_ids();
        out.push(if ids >= 65536 {
            check("id map", "ok", format!("{ids} IDs (0 is you)"))
        } else {
            check("id map", "limited", format!("{ids} ID: {}", userns::SINGLE_LIMITS))
        });
    }
    let runtime = options.as_ref().map(|o| o.runtime).unwrap_or_default();
    out.push(tried("runtime", probe::runtime(runtime), "missing"));
    // where the engine's snapshots go: the state dir's filesystem is the one that counts
    let scratch = match &options {
        Ok(o) => o.state_dir.join(format!("tmp/doctor-{}", std::process::id())),
        Err(_) => std::env::temp_dir().join(format!("tanto-doctor-{}", std::process::id())),
    };
    out.push(tried("overlay", probe::overlay(&scratch), "missing"));
    out.push(tried("network", probe::network(), "missing"));
    out.push(tried("cgroups", probe::cgroups(), "limited"));
    if let Ok(o) = &options {
        // the shared cache, when one is configured (a registry a miss is asked)
        if let Some(r) = tokio::runtime::Handle::current().block_on(tanto_engine::remote_cache::probe(o)) {
            out.push(tried("shared cache", r, "limited"));
        }
    }
    let missing = tanto_engine::emulation_missing();
    out.push(if missing.is_empty() {
        check("emulation", "ok", "every platform QEMU provides here")
    } else {
        check(
            "emulation",
            "limited",
            format!(
                "no binfmt_misc handler for {} (install qemu-user-static; as root, scripts/setup.sh registers them)",
                missing.join(", ")
            ),
        )
    });
    out
}

/// The engine clients here use: a remote one (`TANTO_HOST`, or a local engine
/// serving its default socket) is asked for its version through a session;
/// nothing is started.
async fn engine_check() -> Check {
    let socket =
        tanto_engine::EngineOptions::from_env(None).ok().map(|o| tanto_engine::remote::default_socket(&o.run_dir));
    let remote = match tanto_engine::remote::Remote::from_env(socket.as_deref()) {
        Ok(Some(r)) => r,
        Ok(None) => {
            let how = if std::env::var("TANTO_HOST").as_deref() == Ok("auto") {
                "none serves the default socket now: the next client starts one (TANTO_HOST=auto)"
            } else {
                "an engine in each client's process (no TANTO_HOST, no engine on the default socket)"
            };
            return check("engine", "ok", how);
        }
        Err(e) => return check("engine", "missing", e.to_string()),
    };
    let cwd = std::env::current_dir().unwrap_or_else(|_| "/".into());
    let run_dir = std::env::temp_dir();
    let req = tanto_gql::Request { query: "{ version }".into(), variables: None, operation_name: None };
    match remote.attach(cwd, run_dir, "doctor").await {
        Ok(session) => {
            let answer = session.execute(&req).await;
            match answer.pointer("/data/version").and_then(serde_json::Value::as_str) {
                Some(v) => check("engine", "ok", format!("the engine at `{}` answers (API {v})", remote.address)),
                None => check("engine", "missing", format!("the engine at `{}` answered {answer}", remote.address)),
            }
        }
        Err(e) => check("engine", "missing", e.to_string()),
    }
}

pub async fn doctor(args: DoctorArgs) -> Result<u8> {
    let mut checks = tokio::task::spawn_blocking(move || gather(args.inside)).await?;
    if !args.inside {
        checks.push(engine_check().await);
    }
    if args.json || args.inside {
        let v: Vec<Value> =
            checks.iter().map(|c| json!({"check": c.name, "status": c.status, "detail": c.detail})).collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
        for c in &checks {
            println!("{:<8} {:<width$}  {}", c.status, c.name, c.detail);
        }
    }
    Ok(if checks.iter().any(|c| c.status == "missing") { 1 } else { 0 })
}

fn gather(inside: bool) -> Vec<Check> {
    if inside || rustix::process::geteuid().is_root() {
        return inside_checks();
    }
    // A normal user: what the host side sets up, then the rest from inside.
    let uid = rustix::process::getuid().as_raw();
    let name = userns::user_name(uid).unwrap_or_else(|| uid.to_string());
    let mut out = vec![check("mode", "ok", format!("rootless, as `{name}` (uid {uid})"))];
    out.push(match userns::plan_for_me() {
        MapPlan::Subordinate { uid: u, gid: g } => check(
            "user namespace",
            "ok",
            format!(
                "you as 0, subordinate IDs {}-{} (gids {}-{}) as 1-{} through newuidmap/newgidmap",
                u.start,
                u64::from(u.start) + u64::from(u.count) - 1,
                g.start,
                u64::from(g.start) + u64::from(g.count) - 1,
                u.count.min(g.count)
            ),
        ),
        MapPlan::Single { why } => {
            check("user namespace", "limited", format!("only your own ID ({why}): {}", userns::SINGLE_LIMITS))
        }
    });
    if let Err(e) = probe::device("/dev/net/tun") {
        out.push(check(
            "tun device",
            "missing",
            format!("{e}: slirp4netns needs it for container networks (as root: `chmod 0666 /dev/net/tun`, as udev does on most systems)"),
        ));
    }
    let me = std::env::current_exe().unwrap_or_else(|_| "/proc/self/exe".into());
    match std::process::Command::new(me).args(["doctor", "--inside"]).output() {
        Ok(o) => match serde_json::from_slice::<Vec<Value>>(&o.stdout) {
            Ok(list) => out.extend(list.into_iter().filter(|v| v["check"] != "mode").map(|v| {
                let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
                Check { name: s("check"), status: s("status"), detail: s("detail") }
            })),
            Err(_) => out.push(check(
                "user namespace",
                "missing",
                format!("entering it failed: {}", String::from_utf8_lossy(&o.stderr).trim()),
            )),
        },
        Err(e) => out.push(check("user namespace", "missing", format!("starting tanto again: {e}"))),
    }
    out
}

fn paths(options: &Result<tanto_engine::EngineOptions, tanto_engine::EngineError>) -> Vec<Check> {
    match options {
        Ok(o) => vec![
            check("state dir", "ok", o.state_dir.display().to_string()),
            check("run dir", "ok", o.run_dir.display().to_string()),
        ],
        Err(e) => vec![check("state dir", "missing", e.to_string())],
    }
}
