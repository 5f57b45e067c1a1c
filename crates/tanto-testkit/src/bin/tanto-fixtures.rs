//! `tanto-fixtures`: a local registry with busybox in it, for scripts.
//!
//! ```text
//! tanto-fixtures serve --dir D [--engine-config PATH] [--foreground]
//!     start docker-registry (data, log and pidfile in D), push
//!     library/busybox:1.36 and :latest, write the engine config (default
//!     D/engine.toml) and print, on stdout:
//!         REGISTRY=127.0.0.1:PORT
//!         REGISTRY_PID=PID
//!         TANTO_CONFIG=PATH
//!     Without --foreground the registry keeps running after the command
//!     exits (stop it with `stop`); if one is already running in D it is
//!     reused. With --foreground it runs until SIGINT or SIGTERM.
//! tanto-fixtures stop --dir D
//!     stop the registry recorded in D (by PID).
//! tanto-fixtures debian-image --registry ADDR --name NAME
//!     build (mmdebstrap, cached per month) and push a Debian image to the
//!     registry at ADDR as library/NAME:latest, and print IMAGE=ADDR/library/NAME:latest.
//!     NAME: debian-python (benchmark B6) or debian-python-pip (slow tier).
//! tanto-fixtures prereqs
//!     list what tests need from this machine (tanto_testkit::prereq) and
//!     what is missing, with how to install it; tests that need something
//!     missing are skipped (failed under CI).
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use tanto_testkit::prereq::Need;
use tanto_testkit::{registry, BUSYBOX_REPOSITORY, BUSYBOX_TAGS};

const USAGE: &str = "usage:
  tanto-fixtures serve --dir DIR [--engine-config PATH] [--foreground]
  tanto-fixtures stop --dir DIR
  tanto-fixtures debian-image --registry ADDR --name debian-python|debian-python-pip
  tanto-fixtures prereqs";

struct Args {
    command: String,
    dir: PathBuf,
    registry: Option<String>,
    name: Option<String>,
    engine_config: Option<PathBuf>,
    foreground: bool,
}

fn parse_args() -> Result<Args> {
    let mut it = std::env::args().skip(1);
    let command = it.next().context("missing command")?;
    if command == "-h" || command == "--help" || command == "help" {
        println!("{USAGE}");
        std::process::exit(0);
    }
    if command == "prereqs" {
        return Ok(Args {
            command,
            dir: PathBuf::new(),
            registry: None,
            name: None,
            engine_config: None,
            foreground: false,
        });
    }
    let mut dir = None;
    let mut engine_config = None;
    let mut foreground = false;
    let mut registry = None;
    let mut name = None;
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        let mut value =
            |name: &str| inline.clone().or_else(|| it.next()).with_context(|| format!("`{name}` needs a value"));
        match flag.as_str() {
            "--dir" => dir = Some(PathBuf::from(value("--dir")?)),
            "--engine-config" => engine_config = Some(PathBuf::from(value("--engine-config")?)),
            "--foreground" => foreground = true,
            "--registry" => registry = Some(value("--registry")?),
            "--name" => name = Some(value("--name")?),
            other => bail!("unknown argument `{other}`"),
        }
    }
    if command == "debian-image" {
        if registry.is_none() || name.is_none() {
            bail!("`debian-image` needs `--registry ADDR` and `--name NAME`");
        }
        return Ok(Args { command, dir: PathBuf::new(), registry, name, engine_config, foreground });
    }
    if command != "serve" && command != "stop" {
        bail!("unknown command `{command}`");
    }
    let dir = dir.context("`--dir DIR` is required")?;
    Ok(Args { command, dir, registry, name, engine_config, foreground })
}

fn absolute(p: &Path) -> Result<PathBuf> {
    Ok(if p.is_absolute() { p.to_path_buf() } else { std::env::current_dir()?.join(p) })
}

/// Blocks SIGINT and SIGTERM in this thread (and threads started later), so
/// [`wait_for_signal`] can take them. Children get an empty mask from std.
fn block_signals() -> libc::sigset_t {
    // SAFETY: plain signal-mask calls on an initialised sigset_t.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

/// Waits until SIGINT or SIGTERM (blocked by [`block_signals`]).
fn wait_for_signal(set: &libc::sigset_t) {
    let mut sig = 0;
    // SAFETY: `set` is initialised; sigwait only writes `sig`.
    unsafe { libc::sigwait(set, &mut sig) };
}

fn serve(args: &Args) -> Result<()> {
    let dir = absolute(&args.dir)?;
    std::fs::create_dir_all(&dir).with_context(|| format!("creating `{}`", dir.display()))?;
    let config_path = absolute(&args.engine_config.clone().unwrap_or_else(|| dir.join("engine.toml")))?;
    let started = Instant::now();
    // before any thread exists, so that no thread takes the signals
    let signals = args.foreground.then(block_signals);

    let mut foreground_registry = None;
    let (pid, addr) = match registry::running_in(&dir) {
        Some((pid, addr)) if !args.foreground => {
            eprintln!("reusing the registry already running in `{}`", dir.display());
            (pid, addr)
        }
        _ => {
            registry::stop_pidfile(&dir)?; // a stale one
            let reg = if args.foreground {
                registry::Registry::start(&dir)?
            } else {
                registry::Registry::start_detached(&dir)?
            };
            let found = (reg.pid(), reg.address());
            if args.foreground {
                foreground_registry = Some(reg);
            } else {
                reg.detach();
            }
            found
        }
    };
    let pushed = tanto_testkit::publish_busybox(&addr);
    let published = match pushed {
        Ok(p) => p,
        Err(e) => {
            if foreground_registry.is_none() {
                let _ = registry::stop_pidfile(&dir);
            }
            return Err(e.context("pushing busybox"));
        }
    };
    for tag in BUSYBOX_TAGS {
        let r = registry::get_manifest(&addr, BUSYBOX_REPOSITORY, tag)?;
        if r.status != 200 || tanto_testkit::sha256_digest(&r.body) != published.digest_of(tag) {
            bail!("manifest {BUSYBOX_REPOSITORY}:{tag} read back as HTTP {}", r.status);
        }
    }
    registry::write_engine_config(&config_path, &addr)?;
    eprintln!(
        "registry {addr} (pid {pid}, data in {}): pushed {BUSYBOX_REPOSITORY}:{} {}{} in {:.2}s",
        dir.display(),
        BUSYBOX_TAGS.join(","),
        published.manifest_digest,
        match &published.index_digest {
            Some(index) => format!(" (:latest: index {index} with linux/arm64)"),
            None => String::new(),
        },
        started.elapsed().as_secs_f64()
    );
    println!("REGISTRY={addr}");
    println!("REGISTRY_PID={pid}");
    println!("TANTO_CONFIG={}", config_path.display());
    if let Some(reg) = foreground_registry {
        eprintln!("serving until SIGINT or SIGTERM");
        if let Some(set) = &signals {
            wait_for_signal(set);
        }
        reg.stop();
        eprintln!("registry stopped");
    }
    Ok(())
}

fn debian_image(args: &Args) -> Result<()> {
    let (addr, name) = (args.registry.as_deref().unwrap(), args.name.as_deref().unwrap());
    let Some(image) = tanto_testkit::DebianImage::by_name(name) else {
        let known: Vec<_> = tanto_testkit::DEBIAN_IMAGES.iter().map(|i| i.name).collect();
        bail!("unknown image `{name}` (known: {})", known.join(", "));
    };
    let started = Instant::now();
    let reference = image.publish(addr)?;
    eprintln!("pushed {reference} in {:.1}s", started.elapsed().as_secs_f64());
    println!("IMAGE={reference}");
    Ok(())
}

/// Prints each test prerequisite and whether it is there.
fn prereqs() {
    let missing: Vec<_> = Need::ALL.iter().filter_map(|n| n.missing().map(|why| (n, why))).collect();
    for (need, why) in &missing {
        println!("missing {need:?}: {why}");
    }
    println!(
        "test prerequisites: {} of {} there{}",
        Need::ALL.len() - missing.len(),
        Need::ALL.len(),
        if missing.is_empty() { "" } else { " (tests that need the missing ones are skipped; under CI they fail)" }
    );
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e:#}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = match args.command.as_str() {
        "serve" => serve(&args),
        "debian-image" => debian_image(&args),
        "prereqs" => {
            prereqs();
            Ok(())
        }
        _ => registry::stop_pidfile(&args.dir).map(|stopped| {
            eprintln!("{}", if stopped { "registry stopped" } else { "no registry was running" });
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
