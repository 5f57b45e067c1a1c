//! The `tanto` binary: CLI and engine in one. Command-line definitions live
//! here; everything else is in the library crates.

mod call;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use std::io::IsTerminal;
use tanto_engine::progress::ProgressMode;
use tanto_engine::{Engine, EngineOptions};

mod codegen;
mod command;
mod develop;
mod doctor;
mod explain;
mod init;
mod space;

const VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Parser)]
#[command(name = "tanto", version, about = "A programmable, container-native CI/CD engine that speaks Dagger's API")]
struct Cli {
    /// How to show progress on stderr: auto (a live view on a terminal, plain
    /// lines otherwise and in CI), tty, plain, dots or quiet. Also `TANTO_PROGRESS`.
    #[arg(long, global = true, value_parser = ["auto", "tty", "plain", "logs", "dots", "quiet"])]
    progress: Option<String>,
    #[command(subcommand)]
    command: Command,
}

/// The name the binary was invoked as: `dagger` through a symlink of that
/// name (existing scripts switch by PATH alone), else `tanto`.
pub fn program_name() -> &'static str {
    static NAME: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        let argv0 = std::env::args_os().next().unwrap_or_default();
        match Path::new(&argv0).file_name().and_then(|n| n.to_str()) {
            Some("dagger") => "dagger",
            _ => "tanto",
        }
    })
}

#[derive(Subcommand)]
enum Command {
    /// Start an engine session for an SDK: prints {"port","session_token"} on
    /// stdout, serves until stdin closes or SIGTERM. Unknown flags are ignored.
    Session {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
        args: Vec<String>,
    },
    /// Run a command with an engine session (DAGGER_SESSION_PORT/TOKEN set for it).
    Run {
        /// Directory host paths are relative to (default: the current directory).
        #[arg(long)]
        workdir: Option<PathBuf>,
        /// When a step's command fails, open a shell in its container first
        /// (on this terminal); the run then goes on with the step's error.
        #[arg(short, long)]
        interactive: bool,
        /// At the end, say why each step that ran ran (on stderr; see `tanto explain`).
        #[arg(long)]
        explain: bool,
        /// Exit with status 1 when a step that could have come from the cache
        /// ran (and the command succeeded), for CI.
        #[arg(long)]
        fail_on_miss: bool,
        /// The command and its arguments.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Execute a GraphQL query (from FILE or stdin) and print the JSON result.
    Query {
        file: Option<PathBuf>,
        /// Variables as a JSON object.
        #[arg(long)]
        vars: Option<String>,
        #[arg(long)]
        workdir: Option<PathBuf>,
    },
    /// Call one or more functions of a module, interconnected into a pipeline.
    ///
    /// `tanto call [-m DIR] [--CTOR-ARG=V] FUNCTION [--ARG=V] [FUNCTION ...]`;
    /// `tanto call --help` lists the module's functions.
    #[command(disable_help_flag = true)]
    Call {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// List the functions of a module (or of what a chain of its functions returns).
    Functions {
        /// The module: a local directory (default: the nearest with a dagger.json from here up).
        #[arg(short = 'm', long = "mod")]
        module: Option<String>,
        /// Functions to follow before listing.
        functions: Vec<String>,
    },
    /// Initialize a new module (dagger.json; with --sdk, the SDK's template, vendored SDK and lock).
    Init(init::InitArgs),
    /// Install a local module as a dependency of the current module (and regenerate its SDK files).
    #[command(visible_alias = "use")]
    Install(develop::InstallArgs),
    /// Prepare a local module for development: set its SDK (--sdk) and
    /// regenerate its SDK files (vendored SDK with its dependencies' bindings, uv.lock).
    Develop(develop::DevelopArgs),
    /// Remove cache records no running step holds, least recently used first:
    /// as the `[gc]` policy says, everything (--all) or down to a size.
    Prune(space::PruneArgs),
    /// Show the cache's disk space per kind of record and per pipeline (what
    /// its recorded runs use, and what only they use), and the `[gc]` limits.
    Du(space::DuArgs),
    /// Say why each step of the last run ran: new, an input changed (which,
    /// and for host directories which paths), evicted, or never cached.
    Explain(explain::ExplainArgs),
    /// Print tanto's version and the Dagger API version it serves.
    Version,
    /// Run a command in tanto's user namespace: rootless, as root over your
    /// own and subordinate IDs — to look at or remove state dir files that
    /// belong to your subordinate IDs (`tanto unshare rm -rf ~/.local/share/tanto`),
    /// or to run tools as the engine does. As root it just runs the command.
    Unshare {
        /// The command and its arguments.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Say how tanto will run here — root or rootless, OCI runtime, overlay
    /// driver, network, cgroups, emulation — and what is missing for the rest.
    Doctor(doctor::DoctorArgs),
    /// A long-lived engine other clients use (`tanto engine serve`).
    Engine {
        #[command(subcommand)]
        command: EngineCommand,
    },
    /// Facts about the API schema tanto serves.
    Schema {
        #[command(subcommand)]
        command: SchemaCommand,
    },
}

#[derive(Subcommand)]
enum EngineCommand {
    /// Serve one engine to many clients until SIGTERM: on a unix socket
    /// (default `RUN_DIR/engine.sock`, which local clients use when it is up)
    /// and/or on TCP with TLS. Clients set `TANTO_HOST=tcp://HOST:PORT` (or
    /// `unix:///PATH`), `TANTO_TLS_CA`, `TANTO_TOKEN`/`TANTO_TOKEN_FILE`.
    Serve(ServeArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Where to listen: `tcp://HOST:PORT` (TLS) or `unix:///PATH`; repeatable.
    #[arg(long)]
    listen: Vec<String>,
    /// The server's TLS certificate (PEM, chain first).
    #[arg(long)]
    tls_cert: Option<PathBuf>,
    /// The server's TLS private key (PEM).
    #[arg(long)]
    tls_key: Option<PathBuf>,
    /// Require client certificates signed by this CA (PEM): mutual TLS.
    #[arg(long)]
    tls_client_ca: Option<PathBuf>,
    /// A file whose first line is the token clients must present.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// Stop once no client has been attached for this long (`15m`, `1h`):
    /// an engine started on demand (`TANTO_HOST=auto`) goes away by itself.
    #[arg(long)]
    idle_timeout: Option<String>,
}

#[derive(Subcommand)]
enum SchemaCommand {
    /// Implemented fields / fields in the v0.21 schema for the core types,
    /// read from the resolvers' field tables (no engine needed), and what remains.
    Coverage {
        /// All object types, not only the core ones.
        #[arg(long)]
        all: bool,
        /// Also list the implemented fields.
        #[arg(long)]
        implemented: bool,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

async fn schema_coverage(all: bool, implemented: bool, json: bool) -> Result<u8> {
    use tanto_api::dagger::coverage;
    let schema = tanto_api::schema::dagger_v021();
    let names: Vec<String> = if all {
        schema
            .types()
            .filter(|t| t.kind == tanto_gql::schema::TypeKind::Object && !t.builtin)
            .map(|t| t.name.to_string())
            .collect()
    } else {
        coverage::CORE_TYPES.iter().map(|s| s.to_string()).collect()
    };
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let report = coverage::report(schema, &names);
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", coverage::render(&report, implemented));
    }
    Ok(0)
}

/// Logs on stderr (`TANTO_LOG`, default `warn`), and spans exported over OTLP
/// when the `OTEL_EXPORTER_OTLP_*` variables ask for it (inside the runtime:
/// the gRPC exporter lives on it).
fn init_logging() {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    use tracing_subscriber::Layer as _;
    let mut filter = tracing_subscriber::EnvFilter::try_from_env("TANTO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // HTTP/2 frames (remote engines) only when asked for by name
    let asked = std::env::var("TANTO_LOG").unwrap_or_default();
    for quiet in ["h2=warn", "hyper=warn", "rustls=warn"] {
        if !asked.contains(quiet.split('=').next().unwrap_or_default()) {
            if let Ok(d) = quiet.parse() {
                filter = filter.add_directive(d);
            }
        }
    }
    // colour only for a terminal, as progress does
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(tanto_engine::progress::log_writer)
        .with_ansi(ansi)
        .with_target(false)
        .with_filter(filter);
    let (otel, otel_error) = match tanto_engine::telemetry::layer_from_env() {
        Ok(layer) => (layer, None),
        Err(e) => (None, Some(e)),
    };
    tracing_subscriber::registry().with(fmt).with(otel).init();
    if let Some(e) = otel_error {
        tracing::warn!("OpenTelemetry: {e}");
    }
}

/// `--workdir DIR` / `--workdir=DIR` among arbitrary flags.
fn find_workdir(args: &[String]) -> Option<PathBuf> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--workdir" {
            return it.next().map(PathBuf::from);
        }
        if let Some(v) = a.strip_prefix("--workdir=") {
            return Some(PathBuf::from(v));
        }
    }
    None
}

/// `--progress` when given (`tanto call` reads its own among its arguments).
static PROGRESS: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// `--interactive`: failed steps open a shell first.
static INTERACTIVE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn set_interactive() {
    INTERACTIVE.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// What this invocation runs, as `tanto du` and `tanto explain` name it.
static PIPELINE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Longest pipeline name kept.
const PIPELINE_NAME_MAX: usize = 200;

/// A command line as a shell would read it back: words with spaces or
/// shell characters in single quotes; the program as its file name.
fn command_line(words: &[String]) -> String {
    let mut out = String::new();
    for (i, w) in words.iter().enumerate() {
        let w = match i {
            0 => Path::new(w).file_name().and_then(|n| n.to_str()).unwrap_or(w),
            _ => w.as_str(),
        };
        if i > 0 {
            out.push(' ');
        }
        let plain =
            !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c) || !c.is_ascii());
        if plain {
            out.push_str(w);
        } else {
            out.push('\'');
            out.push_str(&w.replace('\'', "'\\''"));
            out.push('\'');
        }
        if out.len() > PIPELINE_NAME_MAX {
            let cut = (0..=PIPELINE_NAME_MAX).rev().find(|&n| out.is_char_boundary(n)).unwrap_or(0);
            out.truncate(cut);
            out.push('…');
            break;
        }
    }
    out
}

/// The command line of the process that started this one: for a `session`,
/// the SDK program (`python3 ci.py`).
fn parent_command() -> Option<Vec<String>> {
    let raw = std::fs::read(format!("/proc/{}/cmdline", std::os::unix::process::parent_id())).ok()?;
    let words: Vec<String> =
        raw.split(|b| *b == 0).filter(|w| !w.is_empty()).map(|w| String::from_utf8_lossy(w).into_owned()).collect();
    (!words.is_empty()).then_some(words)
}

/// The pipeline `command` runs: `tanto run`'s command, the SDK program that
/// started a `session`, `call FUNCTION ...`, `query FILE`, ...
fn pipeline_of(command: &Command) -> String {
    let words = |verb: &str, rest: &[String]| {
        let mut w = vec![verb.to_string()];
        w.extend(rest.iter().cloned());
        command_line(&w)
    };
    match command {
        Command::Session { .. } => parent_command().map(|w| command_line(&w)).unwrap_or_else(|| "session".into()),
        Command::Run { command, .. } => command_line(command),
        Command::Call { args } => words("call", args),
        Command::Functions { functions, .. } => words("functions", functions),
        Command::Query { file: Some(f), .. } => words("query", &[f.display().to_string()]),
        Command::Query { file: None, .. } => "query".into(),
        Command::Init(_) => "init".into(),
        Command::Install(_) => "install".into(),
        Command::Develop(_) => "develop".into(),
        _ => String::new(),
    }
}

/// Sets the progress mode asked for on the command line (first one wins).
pub fn set_progress(mode: &str) {
    let _ = PROGRESS.set(mode.to_string());
}

/// The progress mode: `--progress`, else `TANTO_PROGRESS`, else `auto` — which
/// is plain for the `session` an SDK starts (its stderr is the SDK's to relay).
fn progress_mode(session: bool) -> Result<ProgressMode> {
    let asked = PROGRESS
        .get()
        .cloned()
        .or_else(|| std::env::var("TANTO_PROGRESS").ok().filter(|v| !v.is_empty()))
        .or_else(|| std::env::var("DAGGER_PROGRESS").ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "auto".into());
    if session && asked == "auto" {
        return Ok(ProgressMode::Plain);
    }
    ProgressMode::parse(&asked).map_err(anyhow::Error::msg)
}

async fn start_engine(workdir: Option<PathBuf>) -> Result<Arc<Engine>> {
    start_engine_as(workdir, false).await
}

async fn start_engine_as(workdir: Option<PathBuf>, session: bool) -> Result<Arc<Engine>> {
    let mut options = EngineOptions::from_env(workdir)?;
    options.progress = progress_mode(session)?;
    options.interactive = INTERACTIVE.load(std::sync::atomic::Ordering::Relaxed);
    options.pipeline = PIPELINE.get().cloned().unwrap_or_default();
    Ok(Engine::start(options).await?)
}

/// Resolves when stdin reaches EOF, or on SIGTERM/SIGINT.
async fn session_end(watch_stdin: bool) {
    use tokio::io::AsyncReadExt;
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("installing a SIGINT handler");
    let stdin_eof = async {
        if !watch_stdin {
            return std::future::pending().await;
        }
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 1024];
        loop {
            match stdin.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::select! {
        _ = stdin_eof => {}
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// A listener on 127.0.0.1 for an SDK's session: it, its port and a new token.
async fn sdk_listener() -> Result<(tokio::net::TcpListener, u16, String)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("listening on 127.0.0.1")?;
    let port = listener.local_addr()?.port();
    Ok((listener, port, uuid::Uuid::new_v4().to_string()))
}

/// What an SDK that spawned `tanto session` reads from its stdout.
fn announce(port: u16, token: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", serde_json::json!({"port": port, "session_token": token}))?;
    out.flush()?;
    Ok(())
}

/// The environment `tanto run` gives its command: where its session is.
fn session_env(port: u16, token: &str) -> Vec<(String, String)> {
    vec![("DAGGER_SESSION_PORT".to_string(), port.to_string()), ("DAGGER_SESSION_TOKEN".into(), token.to_string())]
}

async fn session(args: Vec<String>) -> Result<u8> {
    let engine = start_engine_as(find_workdir(&args), true).await?;
    let (listener, port, token) = sdk_listener().await?;
    announce(port, &token)?;
    let span = tanto_engine::telemetry::session_span("session");
    tanto_engine::server::serve_traced(engine.clone(), listener, token, span, session_end(true)).await;
    engine.shutdown().await;
    engine.progress().finish(false);
    Ok(0)
}

async fn run(workdir: Option<PathBuf>, command: Vec<String>, explain: bool, fail_on_miss: bool) -> Result<u8> {
    let engine = start_engine(workdir).await?;
    let (listener, port, token) = sdk_listener().await?;
    let span = tanto_engine::telemetry::session_span("run");
    let mut env = session_env(port, &token);
    if tanto_engine::telemetry::enabled() {
        // the command's own spans (an SDK's) join the session's trace
        use tracing_opentelemetry::OpenTelemetrySpanExt as _;
        env.extend(tanto_engine::telemetry::inject(&span.context()).into_iter().map(|(k, v)| (k.to_string(), v)));
    }
    // Under the live view the command's output goes through it (above the
    // view, whole lines), or the two would overwrite each other.
    let live = engine.progress().mode() == ProgressMode::Tty;
    let pipe_stdout = live && std::io::stdout().is_terminal();
    if live && std::env::var_os("PYTHONUNBUFFERED").is_none() {
        env.push(("PYTHONUNBUFFERED".into(), "1".into()));
    }
    let started = command::start(command::Spec { argv: &command, env, pipe_stdout, pipe_stderr: live })
        .with_context(|| format!("starting `{}`", command[0]))?;
    let mut child = started.child;
    let mut forwards = Vec::new();
    if let Some(err) = started.stderr {
        forwards.push(tokio::spawn(forward_lines(err, engine.progress().clone(), true)));
    }
    if let Some(out) = started.stdout {
        forwards.push(tokio::spawn(forward_lines(out, engine.progress().clone(), false)));
    }
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(tanto_engine::server::serve_traced(engine.clone(), listener, token, span, async {
        let _ = done_rx.await;
    }));
    let status = tokio::select! {
        s = child.wait() => s?,
        _ = session_end(false) => {
            child.kill().await;
            child.wait().await?
        }
    };
    // What the command wrote is relayed; a process it left behind holding the
    // pipes open does not keep tanto waiting.
    for mut f in forwards {
        if tokio::time::timeout(std::time::Duration::from_secs(1), &mut f).await.is_err() {
            f.abort();
        }
    }
    let _ = done_tx.send(());
    let _ = server.await;
    engine.shutdown().await;
    engine.progress().finish(true);
    let code = tanto_engine::userns::exit_code(status);
    let missed = explain::after_run(&engine, explain, fail_on_miss).await?;
    Ok(if code == 0 { missed } else { code })
}

/// Copies a command's output to the terminal through the progress view, a
/// line at a time (a partial line when it has been waiting for 50 ms).
async fn forward_lines(
    mut from: impl tokio::io::AsyncRead + Unpin,
    progress: tanto_engine::progress::Progress,
    stderr: bool,
) {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let read = if buf.is_empty() {
            from.read(&mut chunk).await.map(Some)
        } else {
            match tokio::time::timeout(std::time::Duration::from_millis(50), from.read(&mut chunk)).await {
                Ok(r) => r.map(Some),
                Err(_) => Ok(None),
            }
        };
        match read {
            Ok(Some(0)) | Err(_) => break,
            Ok(Some(n)) => {
                buf.extend_from_slice(&chunk[..n]);
                if let Some(end) = buf.iter().rposition(|b| *b == b'\n') {
                    let rest = buf.split_off(end + 1);
                    progress.passthrough(stderr, &buf);
                    buf = rest;
                }
            }
            Ok(None) => {
                // A prompt or a progress bar without a newline: shown as a line.
                buf.push(b'\n');
                progress.passthrough(stderr, &std::mem::take(&mut buf));
            }
        }
    }
    if !buf.is_empty() {
        buf.push(b'\n');
        progress.passthrough(stderr, &buf);
    }
}

async fn query(
    remote: Option<tanto_engine::remote::Remote>,
    file: Option<PathBuf>,
    vars: Option<String>,
    workdir: Option<PathBuf>,
) -> Result<u8> {
    let text = match &file {
        Some(f) => std::fs::read_to_string(f).with_context(|| format!("reading `{}`", f.display()))?,
        None => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).context("reading the query from stdin")?;
            s
        }
    };
    let variables = match vars {
        Some(v) => match serde_json::from_str::<serde_json::Value>(&v).context("`--vars` must be a JSON object")? {
            serde_json::Value::Object(m) => Some(m),
            _ => bail!("`--vars` must be a JSON object"),
        },
        None => None,
    };
    let request = tanto_gql::Request { query: text, variables, operation_name: None };
    let result = match remote {
        Some(remote) => attach(&remote, workdir).await?.execute(&request).await,
        None => {
            let engine = start_engine(workdir).await?;
            let result = engine.execute(request).await;
            engine.shutdown().await;
            engine.progress().finish(true);
            result
        }
    };
    // A long chain of calls nests its answer as deep: printed and dropped without recursion.
    let mut out = tanto_gql::json_to_vec_pretty(&result);
    out.push(b'\n');
    std::io::stdout().write_all(&out)?;
    let failed = result.get("errors").is_some();
    tanto_gql::drop_json(result);
    Ok(if failed { 1 } else { 0 })
}

/// `tanto engine serve`.
async fn engine_serve(args: ServeArgs) -> Result<u8> {
    use tanto_engine::remote::{self, tls::ServerTls, Address, ServeOptions};
    let tls = match (args.tls_cert, args.tls_key) {
        (Some(cert), Some(key)) => Some(ServerTls { cert, key, client_ca: args.tls_client_ca }),
        (None, None) if args.tls_client_ca.is_none() => None,
        _ => bail!("--tls-cert and --tls-key go together (and --tls-client-ca needs them)"),
    };
    let token = args.token_file.as_deref().map(remote::read_token).transpose()?;
    let idle_timeout = match &args.idle_timeout {
        Some(d) => Some(std::time::Duration::from_nanos(
            tanto_contract::image::parse_duration(d).map_err(|e| anyhow::anyhow!("--idle-timeout: {e}"))?.max(0) as u64,
        )),
        None => None,
    };
    let engine = start_engine_as(None, true).await?;
    let mut listen = Vec::new();
    for l in &args.listen {
        listen.push(Address::parse(l).map_err(anyhow::Error::msg)?);
    }
    if listen.is_empty() && remote::systemd_sockets() == 0 {
        listen.push(Address::Unix(remote::default_socket(&engine.options.run_dir)));
    }
    let opts = ServeOptions { listen, tls, token, idle_timeout };
    let ready = |bound: &[Address]| {
        let list: Vec<String> = bound.iter().map(|a| a.to_string()).collect();
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", serde_json::json!({ "listen": list }));
        let _ = out.flush();
        eprintln!("tanto: engine serving on {}", list.join(", "));
    };
    let served = remote::serve(engine.clone(), opts, ready, session_end(false)).await;
    engine.shutdown().await;
    engine.progress().finish(false);
    served?;
    Ok(0)
}

/// The remote engine a client verb uses (`TANTO_HOST`, or a local engine
/// serving its default socket; with `TANTO_HOST=auto`, one started now if
/// none is); `None`: an engine in this process.
fn remote_engine() -> Result<Option<tanto_engine::remote::Remote>> {
    let options = EngineOptions::from_env(None).ok();
    let socket = options.as_ref().map(|o| tanto_engine::remote::default_socket(&o.run_dir));
    if std::env::var("TANTO_HOST").as_deref() == Ok("auto") {
        let (Some(options), Some(socket)) = (options, socket.as_ref()) else {
            bail!("TANTO_HOST=auto: no run directory for the engine's socket (set TANTO_RUN_DIR)");
        };
        if std::os::unix::net::UnixStream::connect(socket).is_err() {
            start_local_engine(&options, socket)?;
        }
    }
    Ok(tanto_engine::remote::Remote::from_env(socket.as_deref())?)
}

/// Starts `tanto engine serve` on `socket` in the background, in its own
/// process group, stopping after `TANTO_IDLE_TIMEOUT` (default 15m) without
/// clients; its log goes to `STATE_DIR/engine.log` (the run dir becomes a
/// tmpfs of the engine's). Returns once it answers.
fn start_local_engine(options: &EngineOptions, socket: &Path) -> Result<()> {
    use std::os::unix::process::CommandExt;
    if !rustix::process::geteuid().is_root() && std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        bail!(
            "TANTO_HOST=auto as a normal user needs XDG_RUNTIME_DIR (the engine's socket lives there; a private /tmp directory is not shared)"
        );
    }
    std::fs::create_dir_all(&options.state_dir)
        .with_context(|| format!("creating `{}`", options.state_dir.display()))?;
    let log_path = options.state_dir.join("engine.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("opening `{}`", log_path.display()))?;
    let idle = std::env::var("TANTO_IDLE_TIMEOUT").ok().filter(|v| !v.is_empty()).unwrap_or_else(|| "15m".into());
    let mut child = std::process::Command::new(std::env::current_exe().context("finding the tanto binary")?)
        .args(["engine", "serve", "--listen", &format!("unix://{}", socket.display()), "--idle-timeout", &idle])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .process_group(0)
        .spawn()
        .context("starting `tanto engine serve`")?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        if std::os::unix::net::UnixStream::connect(socket).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            bail!("the engine started for TANTO_HOST=auto exited ({status}); see `{}`", log_path.display());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    bail!(
        "the engine started for TANTO_HOST=auto did not answer on `{}` in 30 s; see `{}`",
        socket.display(),
        log_path.display()
    )
}

/// Attaches to `remote` for this client: host paths relative to `workdir`.
async fn attach(
    remote: &tanto_engine::remote::Remote,
    workdir: Option<PathBuf>,
) -> Result<Arc<tanto_engine::remote::Attached>> {
    let options = EngineOptions::from_env(workdir)?;
    let pipeline = PIPELINE.get().cloned().unwrap_or_default();
    Ok(Arc::new(remote.attach(options.workdir, options.run_dir, &pipeline).await?))
}

/// `tanto session` against a remote engine: the SDK talks to a local listener.
async fn session_remote(remote: tanto_engine::remote::Remote, args: Vec<String>) -> Result<u8> {
    let attached = attach(&remote, find_workdir(&args)).await?;
    let (listener, port, token) = sdk_listener().await?;
    announce(port, &token)?;
    let trace = tanto_engine::telemetry::SessionTrace::new(tanto_engine::telemetry::session_span("session"));
    let end = attached.clone();
    let handler: Arc<dyn tanto_contract::QueryHandler> = attached;
    tanto_engine::server::serve_session(listener, token, handler, usize::MAX, trace, async move {
        tokio::select! {
            _ = session_end(true) => {}
            _ = end.closed() => eprintln!("tanto: the engine ended the session"),
        }
    })
    .await;
    Ok(0)
}

/// `tanto run` against a remote engine.
async fn run_remote(
    remote: tanto_engine::remote::Remote,
    workdir: Option<PathBuf>,
    command: Vec<String>,
) -> Result<u8> {
    let attached = attach(&remote, workdir).await?;
    let (listener, port, token) = sdk_listener().await?;
    let env = session_env(port, &token);
    let started = command::start(command::Spec { argv: &command, env, pipe_stdout: false, pipe_stderr: false })
        .with_context(|| format!("starting `{}`", command[0]))?;
    let mut child = started.child;
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let trace = tanto_engine::telemetry::SessionTrace::new(tanto_engine::telemetry::session_span("run"));
    let handler: Arc<dyn tanto_contract::QueryHandler> = attached.clone();
    let server =
        tokio::spawn(tanto_engine::server::serve_session(listener, token, handler, usize::MAX, trace, async {
            let _ = done_rx.await;
        }));
    let status = tokio::select! {
        s = child.wait() => s?,
        _ = session_end(false) => {
            child.kill().await;
            child.wait().await?
        }
    };
    let _ = done_tx.send(());
    let _ = server.await;
    Ok(tanto_engine::userns::exit_code(status))
}

/// Whether a verb starts an engine or touches the state dir: as a normal user
/// it runs in the engine's user namespace (rootless mode).
fn needs_namespace(cmd: &Command) -> bool {
    match cmd {
        Command::Doctor(args) => args.inside,
        Command::Version | Command::Schema { .. } => false,
        _ => true,
    }
}

fn main() -> ExitCode {
    // Before anything else, while this is the only thread: the engine side of
    // rootless mode enters its user namespace here.
    if let Err(e) = tanto_engine::userns::enter_if_asked() {
        eprintln!("tanto: {e}");
        return ExitCode::from(1);
    }
    let cli = Cli::parse();
    if let Command::Version = cli.command {
        println!("tanto {VERSION} (Dagger API {})", tanto_api::dagger::API_VERSION);
        return ExitCode::SUCCESS;
    }
    let remote = match &cli.command {
        Command::Session { .. }
        | Command::Run { .. }
        | Command::Query { .. }
        | Command::Call { .. }
        | Command::Functions { .. } => match remote_engine() {
            Ok(r) => r,
            Err(e) => {
                eprintln!("tanto: {e:#}");
                return ExitCode::from(1);
            }
        },
        _ => None,
    };
    if remote.is_none()
        && needs_namespace(&cli.command)
        && !rustix::process::geteuid().is_root()
        && !tanto_engine::rootless()
    {
        return ExitCode::from(tanto_engine::userns::host_side());
    }
    if let Some(p) = &cli.progress {
        set_progress(p);
    }
    if let Command::Unshare { command } = &cli.command {
        use std::os::unix::process::CommandExt;
        let err = std::process::Command::new(&command[0])
            .args(&command[1..])
            .env(tanto_engine::userns::UNSHARED_ENV, "1")
            .exec();
        eprintln!("tanto: starting `{}`: {err}", command[0]);
        return ExitCode::from(127);
    }
    let _ = PIPELINE.set(pipeline_of(&cli.command));
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tanto: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    {
        let _in_runtime = rt.enter();
        init_logging();
    }
    use tracing::Instrument as _;
    let span = |verb| tanto_engine::telemetry::session_span(verb);
    let result = rt.block_on(async {
        match cli.command {
            // served sessions make their own span (its parent may come from the first request)
            Command::Session { args } => match remote {
                Some(r) => session_remote(r, args).await,
                None => session(args).await,
            },
            Command::Run { workdir, interactive, command, explain, fail_on_miss } => {
                if interactive {
                    set_interactive();
                }
                match remote {
                    Some(r) if !interactive && !explain && !fail_on_miss => run_remote(r, workdir, command).await,
                    Some(_) => Err(anyhow::anyhow!(
                        "--interactive, --explain and --fail-on-miss need an engine in this process: set TANTO_HOST=local"
                    )),
                    None => run(workdir, command, explain, fail_on_miss).await,
                }
            }
            Command::Query { file, vars, workdir } => query(remote, file, vars, workdir).instrument(span("query")).await,
            Command::Call { args } => call::run_call(remote, args).instrument(span("call")).await,
            Command::Functions { module, functions } => {
                call::run_functions(remote, module, functions).instrument(span("functions")).await
            }
            Command::Engine { command: EngineCommand::Serve(args) } => engine_serve(args).await,
            Command::Init(args) => init::init(args).instrument(span("init")).await,
            Command::Install(args) => develop::install(args).instrument(span("install")).await,
            Command::Develop(args) => develop::develop(args).instrument(span("develop")).await,
            Command::Prune(args) => space::prune(args).await,
            Command::Du(args) => space::du(args).await,
            Command::Explain(args) => explain::explain(args).await,
            Command::Schema { command: SchemaCommand::Coverage { all, implemented, json } } => {
                schema_coverage(all, implemented, json).await
            }
            Command::Doctor(args) => doctor::doctor(args).await,
            Command::Version | Command::Unshare { .. } => unreachable!("handled above"),
        }
    });
    // the spans not yet sent, within a bounded time (a receiver that is down never holds up the exit)
    tanto_engine::telemetry::shutdown();
    // Background threads (stdin reader, blocking pool) must not delay exit.
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tanto: {e:#}");
            1
        }
    };
    rt.shutdown_timeout(std::time::Duration::from_secs(5));
    ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipelines_are_named_by_their_command_line() {
        let long = "x".repeat(PIPELINE_NAME_MAX + 50);
        // (words, name)
        let cases: [(&[&str], String); 6] = [
            (&["/usr/bin/python3", "ci.py"], "python3 ci.py".into()),
            (&["go", "run", "./ci", "--tag=v1.2"], "go run ./ci --tag=v1.2".into()),
            (&["sh", "-c", "make test"], "sh -c 'make test'".into()),
            (&["echo", "it's", ""], r"echo 'it'\''s' ''".into()),
            (&["node", "ci.mjs", "é"], "node ci.mjs é".into()),
            (&["echo", &long], format!("echo {}…", &long[..PIPELINE_NAME_MAX - 5])),
        ];
        for (words, want) in cases {
            let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
            assert_eq!(command_line(&words), want, "{words:?}");
        }
    }
}
