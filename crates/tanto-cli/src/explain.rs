//! `tanto explain` (and `--explain`/`--fail-on-miss` on `run` and `call`):
//! why each step of the last run ran. Rendering only; the reasons come from
//! the engine (`tanto_engine::explain`).

use std::fmt::Write as _;
use std::io::Write as _;

use anyhow::{Context, Result};
use tanto_engine::explain::{ago, evicted_by, explain_state, Change, Explanation, Reason, KEEP_RUNS};
use tanto_engine::EngineOptions;

#[derive(clap::Args)]
pub struct ExplainArgs {
    /// JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Exit with status 1 when a step that could have come from the cache ran.
    #[arg(long)]
    fail_on_miss: bool,
}

pub async fn explain(args: ExplainArgs) -> Result<u8> {
    let options = EngineOptions::from_env(None)?;
    let state_dir = options.state_dir.clone();
    let e = tokio::task::spawn_blocking(move || explain_state(&options)).await.context("reading the runs")??;
    let Some(e) = e else {
        if args.json {
            println!("null");
        } else {
            println!("No run is recorded in `{}` yet: run a pipeline first.", state_dir.display());
        }
        return Ok(0);
    };
    print(&e, args.json)?;
    Ok(fail_on_miss(&e, args.fail_on_miss))
}

/// Prints an explanation on stdout.
pub fn print(e: &Explanation, json: bool) -> Result<()> {
    let mut out = if json {
        let mut v = serde_json::to_value(e)?;
        v["misses"] = e.misses().into();
        let mut b = serde_json::to_vec_pretty(&v)?;
        b.push(b'\n');
        b
    } else {
        render(e).into_bytes()
    };
    if !json && !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    std::io::stdout().write_all(&out)?;
    Ok(())
}

/// With `--fail-on-miss`: 1 (and a line on stderr) when a cacheable step ran.
pub fn fail_on_miss(e: &Explanation, on: bool) -> u8 {
    let misses = e.misses();
    if on && misses > 0 {
        eprintln!(
            "tanto: {misses} step{} ran that could have come from the cache (--fail-on-miss); `tanto explain` says why",
            if misses == 1 { "" } else { "s" }
        );
        return 1;
    }
    0
}

fn short(d: &str) -> String {
    let hex = d.strip_prefix("sha256:").unwrap_or(d);
    hex[..hex.len().min(12)].to_string()
}

/// The text form: one block per step that ran.
pub fn render(e: &Explanation) -> String {
    let mut t = String::new();
    let ran = e.executed.len();
    let what = if e.pipeline.is_empty() { String::new() } else { format!("`{}`, ", e.pipeline) };
    let _ = writeln!(
        t,
        "Run {} ({what}finished {}): {} step{}, {} cached, {} ran.",
        e.run,
        ago(e.finished_ms),
        e.steps,
        if e.steps == 1 { "" } else { "s" },
        e.cached,
        ran
    );
    for s in &e.executed {
        let _ = writeln!(t, "\n#{} {}", s.step, s.label);
        let _ = match &s.reason {
            Reason::New => writeln!(t, "   new: no earlier run (of the last {KEEP_RUNS}) had this step"),
            Reason::NeverCached => {
                writeln!(t, "   never cached: it runs each time (a function's runtime, a service)")
            }
            Reason::Evicted { evicted_ms, by } => {
                writeln!(t, "   evicted: its result was in the cache and was {} {}", evicted_by(by), ago(*evicted_ms))
            }
            Reason::FailedBefore { previous_run } => {
                writeln!(t, "   failed in run {previous_run}: failures are never cached")
            }
            Reason::Lost { previous_run } => writeln!(
                t,
                "   its result from run {previous_run} is no longer in the cache (removed other than by GC or prune)"
            ),
            Reason::InputChanged { previous_run, changes } => {
                let _ = writeln!(t, "   changed since run {previous_run}:");
                if changes.is_empty() {
                    let _ = writeln!(t, "     (nothing explain can name: the key's encoding differs)");
                }
                for c in changes {
                    change(&mut t, c);
                }
                Ok(())
            }
        };
    }
    t
}

fn change(t: &mut String, c: &Change) {
    let digests = match (&c.old, &c.new) {
        (Some(o), Some(n)) => format!(": {} → {}", short(o), short(n)),
        _ => String::new(),
    };
    let by = c.step.map(|n| format!(" (made by #{n})")).unwrap_or_default();
    let _ = match c.what.as_str() {
        "input" => writeln!(t, "     input `{}` {}{digests}{by}", c.name, c.change),
        "host" => writeln!(t, "     host directory `{}` {}{digests}", c.name, c.change),
        "env" => writeln!(t, "     env `{}` {}", c.name, c.change),
        "secret" => writeln!(t, "     secret `{}` {}", c.name, c.change),
        _ => writeln!(t, "     `{}` {}", c.name, c.change),
    };
    if let Some(p) = &c.paths {
        for (what, list) in [("changed", &p.changed), ("added", &p.added), ("removed", &p.removed)] {
            if !list.is_empty() {
                let _ = writeln!(t, "       {what}: {}", list.join(", "));
            }
        }
        if p.truncated {
            let _ = writeln!(t, "       (and more)");
        }
    } else if c.what == "host" || c.label.as_deref().is_some_and(|l| l.starts_with("upload ")) {
        let _ = writeln!(t, "       (which paths is not known: it was uploaded again in between)");
    }
}

/// After a `run` or `call`: prints the explanation of this engine's run
/// (`--explain`) and says whether to fail (`--fail-on-miss`).
pub async fn after_run(engine: &tanto_engine::Engine, show: bool, fail: bool) -> Result<u8> {
    if !show && !fail {
        return Ok(0);
    }
    let Some(e) = engine.explain().await? else { return Ok(0) };
    if show {
        // on stderr: stdout is the command's
        eprint!("{}", render(&e));
    }
    Ok(fail_on_miss(&e, fail))
}
