//! Rootless mode through the real `tanto` binary, run by normal users of this
//! host: `tanto-rootless` (65536 subordinate IDs) and `tanto-rootless-single`
//! (none: the single-ID fallback), which `scripts/setup.sh` makes. Root (the
//! test) starts every `tanto` as the user through `setpriv` with a clean
//! environment — `HOME`, `XDG_DATA_HOME` (so the state dir is
//! `$XDG_DATA_HOME/tanto`) and `XDG_RUNTIME_DIR` (the run dir
//! `$XDG_RUNTIME_DIR/tanto`) in a temp dir of the user's, `TANTO_CONFIG` the
//! config of a local registry with busybox — and `tanto run` starts
//! `rootless_pipeline.py` (the official Python SDK) as the user on the host.
//!
//! With subordinate IDs, as a table of cases on one state dir: `tanto doctor`,
//! a container exec (the SDK's process is the user's), a rerun served from the
//! cache (in the user's state dir, owned by the user's IDs), host export and
//! upload, services (a binding by host name, a host service), files of other
//! users in containers, and no leftovers: no process of the user, nothing of
//! the user's under /run/tanto or /var/lib/tanto, no new `tanto*` link in the
//! host's network namespace, an empty run dir. Without: an exec works, the
//! limit is said once, switching users fails at once with an error that says
//! why. Needs root (to switch users), the users, docker-registry,
//! busybox-static and an OCI runtime.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tanto_testkit::prereq::{self, HostUser, ROOTLESS_SINGLE_USER, ROOTLESS_USER};

tanto_testkit::tests! {
    // test                                      prerequisites                                                                  kind
    rootless_pipelines_as_a_normal_user:         [Root, RootlessUser, RootlessPythonSdk, Registry, Busybox, OciRuntime]        sync;
    rootless_single_id_fallback:                 [Root, RootlessSingleUser, RootlessPythonSdk, Registry, Busybox, OciRuntime]  sync;
}

/// How long one `tanto` may take before the test kills it (a hang is a failure).
const TIMEOUT: Duration = Duration::from_secs(90);

/// What a command printed, and how it ended.
struct Out {
    /// `None`: killed after [`TIMEOUT`].
    status: Option<ExitStatus>,
    stdout: String,
    stderr: String,
    secs: f64,
}

impl Out {
    fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    fn show(&self) -> String {
        let how = match self.status {
            Some(s) => s.to_string(),
            None => format!("killed after {}s", TIMEOUT.as_secs()),
        };
        format!("{how}\n--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr)
    }

    /// stdout, or an error with everything when it failed.
    fn ok(&self, what: &str) -> Result<&str, String> {
        if self.success() {
            Ok(&self.stdout)
        } else {
            Err(format!("{what}: {}", self.show()))
        }
    }
}

/// One user's temp dir, registry and processes; on drop, kills the user's
/// processes that were not there before (by PID) and removes the dir.
struct Session {
    user: HostUser,
    /// The user's subordinate UIDs (start, count), if any.
    subuids: Option<(u32, u32)>,
    /// Root's, mode 0755: the registry, the engine config, `user/`.
    dir: tempfile::TempDir,
    _registry: tanto_testkit::Registry,
    config: PathBuf,
    /// The user's processes before the test.
    baseline: HashSet<u32>,
    /// `tanto*` links of the host's network namespace before the test.
    links_before: HashSet<String>,
    /// Whether the fallback run dir (`/tmp/tanto-UID`) was there before.
    tmp_run_dir_before: bool,
}

impl Session {
    fn new(name: &str) -> Session {
        let user = prereq::host_user(name).unwrap_or_else(|| panic!("no user `{name}`"));
        let subuids = prereq::subordinate_ids("/etc/subuid", name, user.uid);
        let dir = tempfile::tempdir().unwrap();
        set_mode(dir.path(), 0o755);
        let (registry, config) = tanto_testkit::busybox_registry(dir.path()).expect("a registry with busybox");
        let session = Session {
            baseline: user_pids(&user, subuids),
            links_before: tanto_links(),
            tmp_run_dir_before: Path::new(&format!("/tmp/tanto-{}", user.uid)).exists(),
            user,
            subuids,
            dir,
            _registry: registry,
            config,
        };
        for d in ["home", "data", "run", "work"] {
            std::fs::create_dir_all(session.mine().join(d)).unwrap();
        }
        // The binary and the SDK script where the user can reach them: the
        // checkout may sit below a directory only root may enter.
        let bin = session.dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        set_mode(&bin, 0o755);
        std::fs::copy(env!("CARGO_BIN_EXE_tanto"), bin.join("tanto")).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rootless_pipeline.py");
        std::fs::copy(script, bin.join("rootless_pipeline.py")).unwrap();
        set_mode(&bin.join("rootless_pipeline.py"), 0o644);
        session.chown_mine(&session.mine());
        session
    }

    /// The user's part of the temp dir.
    fn mine(&self) -> PathBuf {
        self.dir.path().join("user")
    }

    fn state_dir(&self) -> PathBuf {
        self.mine().join("data/tanto")
    }

    fn run_dir(&self) -> PathBuf {
        self.mine().join("run/tanto")
    }

    fn work(&self) -> PathBuf {
        self.mine().join("work")
    }

    /// Gives `path` and everything under it to the user.
    fn chown_mine(&self, path: &Path) {
        for entry in walk(path, usize::MAX) {
            std::os::unix::fs::lchown(&entry, Some(self.user.uid), Some(self.user.gid)).unwrap();
        }
    }

    /// `program args` as the user, with a clean environment, in `work/`.
    fn run(&self, program: &Path, args: &[&str]) -> Out {
        let (uid, gid) = (self.user.uid.to_string(), self.user.gid.to_string());
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid", &uid, "--regid", &gid, "--init-groups", "--"])
            .arg(program)
            .args(args)
            .env_clear()
            .env("HOME", self.mine().join("home"))
            .env("USER", &self.user.name)
            .env("LOGNAME", &self.user.name)
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("XDG_DATA_HOME", self.mine().join("data"))
            .env("XDG_RUNTIME_DIR", self.mine().join("run"))
            .env("TANTO_CONFIG", &self.config)
            .current_dir(self.work());
        run_with_timeout(cmd)
    }

    fn tanto(&self, args: &[&str]) -> Out {
        self.run(&self.dir.path().join("bin/tanto"), args)
    }

    /// `tanto run [run_args] -- python rootless_pipeline.py CASE ARGS`; its
    /// output and the `ROOTLESS_CASE` line the script printed.
    fn sdk(&self, run_args: &[&str], case: &str, args: &[&str]) -> Result<(Out, Value), String> {
        let python = prereq::rootless_python().map_err(|e| e.to_string())?;
        let script = self.dir.path().join("bin/rootless_pipeline.py");
        let (python, script) = (python.to_string_lossy().into_owned(), script.to_string_lossy().into_owned());
        let mut all = vec!["run"];
        all.extend(run_args);
        all.extend(["--", &python, &script, case]);
        all.extend(args);
        let out = self.tanto(&all);
        out.ok(&format!("tanto {}", all.join(" ")))?;
        let line = out.stdout.lines().find_map(|l| l.strip_prefix("ROOTLESS_CASE "));
        let line = line.ok_or_else(|| format!("{case}: no ROOTLESS_CASE line: {}", out.show()))?;
        let v: Value = serde_json::from_str(line).map_err(|e| format!("{case}: {e}: {line}"))?;
        // the SDK's process ran as the user on the host, not in the namespace
        let ids = (v["uid"].as_u64(), v["gid"].as_u64());
        if ids != (Some(self.user.uid.into()), Some(self.user.gid.into())) {
            return Err(format!("{case}: the command ran as uid/gid {ids:?}, not the user's: {v}"));
        }
        Ok((out, v))
    }

    /// Whether `uid` is the user's on the host: its own, or a subordinate ID.
    fn owns(&self, uid: u32) -> bool {
        uid == self.user.uid || self.subuids.is_some_and(|(s, n)| uid >= s && uid - s < n)
    }

    /// What the user's runs left behind (after a grace for exiting processes).
    fn leftovers(&self) -> Vec<String> {
        let mut found = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut left = new_pids(self);
        while !left.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            left = new_pids(self);
        }
        found.extend(left.iter().map(|p| format!("process {p} of the user: {}", cmdline(*p))));
        for root in ["/run/tanto", "/var/lib/tanto"] {
            for p in walk(Path::new(root), 4) {
                if std::fs::symlink_metadata(&p).is_ok_and(|m| self.owns(m.uid())) {
                    found.push(format!("{} is the user's", p.display()));
                }
            }
        }
        for link in tanto_links().difference(&self.links_before) {
            if !root_engines_link(link) {
                found.push(format!("a new link `{link}` in the host's network namespace"));
            }
        }
        for dir in [self.run_dir(), self.state_dir().join("mnt"), self.state_dir().join("tmp")] {
            for p in walk(&dir, 1).into_iter().skip(1) {
                found.push(format!("{} is left", p.display()));
            }
        }
        let tmp_run_dir = format!("/tmp/tanto-{}", self.user.uid);
        if !self.tmp_run_dir_before && Path::new(&tmp_run_dir).exists() {
            found.push(format!("{tmp_run_dir} was made although XDG_RUNTIME_DIR is set"));
        }
        found
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        for pid in new_pids(self) {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        }
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// `path` and what is under it, `depth` levels down, not following symlinks.
fn walk(path: &Path, depth: usize) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![(path.to_path_buf(), 0)];
    while let Some((p, d)) = todo.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&p) else { continue };
        if meta.is_dir() && d < depth {
            if let Ok(entries) = std::fs::read_dir(&p) {
                todo.extend(entries.flatten().map(|e| (e.path(), d + 1)));
            }
        }
        out.push(p);
    }
    out.sort();
    out
}

/// Runs `cmd` with its output captured; kills it after [`TIMEOUT`].
fn run_with_timeout(mut cmd: Command) -> Out {
    let start = Instant::now();
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("starting setpriv");
    let reader = |mut r: Box<dyn Read + Send>| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            let _ = tx.send(String::from_utf8_lossy(&buf).into_owned());
        });
        rx
    };
    let stdout = reader(Box::new(child.stdout.take().unwrap()));
    let stderr = reader(Box::new(child.stderr.take().unwrap()));
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let collect = |rx: std::sync::mpsc::Receiver<String>| {
        rx.recv_timeout(Duration::from_secs(10)).unwrap_or_else(|_| "<still open 10s after the process ended>".into())
    };
    Out { status, stdout: collect(stdout), stderr: collect(stderr), secs: start.elapsed().as_secs_f64() }
}

/// Processes whose real or effective UID is `user`'s or one of its subordinate IDs.
fn user_pids(user: &HostUser, subuids: Option<(u32, u32)>) -> HashSet<u32> {
    let owns = |uid: u32| uid == user.uid || subuids.is_some_and(|(s, n)| uid >= s && uid - s < n);
    let Ok(entries) = std::fs::read_dir("/proc") else { return HashSet::new() };
    entries
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let status = std::fs::read_to_string(e.path().join("status")).ok()?;
            let uids = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
            let mut ids = uids.split_whitespace().filter_map(|u| u.parse::<u32>().ok());
            let (real, effective) = (ids.next()?, ids.next()?);
            (owns(real) || owns(effective)).then_some(pid)
        })
        .collect()
}

fn new_pids(s: &Session) -> Vec<u32> {
    let mut pids: Vec<u32> = user_pids(&s.user, s.subuids).difference(&s.baseline).copied().collect();
    pids.sort();
    pids
}

fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " ").trim().to_string())
        .unwrap_or_default()
}

/// The names of `tanto*` links in this (the host's) network namespace.
fn tanto_links() -> HashSet<String> {
    let out = Command::new("ip").args(["-o", "link", "show"]).output().expect("running ip");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .filter(|n| n.starts_with("tanto"))
        .collect()
}

/// Whether link `tanto<k>[v<n>]` belongs to a running engine of root's (another
/// test's): slot `k`'s file under /run/tanto/net names a live process of root.
fn root_engines_link(link: &str) -> bool {
    let slot: String = link["tanto".len()..].chars().take_while(|c| c.is_ascii_digit()).collect();
    let Ok(owner) = std::fs::read_to_string(format!("/run/tanto/net/slot-{slot}")) else { return false };
    let Some(pid) = owner.split_whitespace().next() else { return false };
    std::fs::metadata(format!("/proc/{pid}")).is_ok_and(|m| m.uid() == 0)
}

/// An HTTP server on the host's 127.0.0.1 that answers `body` to every
/// request, until dropped.
struct HostServer {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HostServer {
    fn start(body: &'static str) -> HostServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                let Ok((mut conn, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let _ = conn.set_nonblocking(false);
                let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf);
                let response = format!("HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len());
                let _ = conn.write_all(response.as_bytes());
            }
        });
        HostServer { port, stop, thread: Some(thread) }
    }
}

impl Drop for HostServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `tanto doctor --json` as a map of check → (status, detail).
fn doctor(s: &Session) -> Result<std::collections::HashMap<String, (String, String)>, String> {
    let out = s.tanto(&["doctor", "--json"]);
    let list: Vec<Value> =
        serde_json::from_str(out.ok("tanto doctor --json")?).map_err(|e| format!("{e}: {}", out.show()))?;
    Ok(list
        .iter()
        .map(|c| {
            let f = |k: &str| c[k].as_str().unwrap_or_default().to_string();
            (f("check"), (f("status"), f("detail")))
        })
        .collect())
}

fn expect(cond: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(what())
    }
}

type Case = fn(&Session) -> Result<(), String>;

/// a. doctor: rootless, a full ID map, overlay and network work, the paths.
fn doctor_says_rootless_with_a_full_map(s: &Session) -> Result<(), String> {
    let checks = doctor(s)?;
    let get = |name: &str| checks.get(name).cloned().ok_or_else(|| format!("no `{name}` check in {checks:?}"));
    let (_, mode) = get("mode")?;
    expect(mode.starts_with("rootless") && mode.contains(&s.user.name), || format!("mode: {mode}"))?;
    let (status, ids) = get("id map")?;
    let count: u64 = ids.split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or(0);
    expect(status == "ok" && count >= 65536, || format!("id map: {status} {ids}"))?;
    for name in ["user namespace", "overlay", "network", "runtime"] {
        let (status, detail) = get(name)?;
        expect(status == "ok", || format!("{name}: {status} {detail}"))?;
    }
    let (_, state) = get("state dir")?;
    expect(Path::new(&state) == s.state_dir(), || format!("state dir {state}, not {}", s.state_dir().display()))?;
    let (_, run) = get("run dir")?;
    expect(Path::new(&run) == s.run_dir(), || format!("run dir {run}, not {}", s.run_dir().display()))
}

/// b. `tanto run`: a container exec through the SDK, whose process is the user's.
fn run_executes_a_container_as_the_user(s: &Session) -> Result<(), String> {
    let (out, v) = s.sdk(&[], "exec", &[])?;
    expect(v["stdout"] == "hello from 0 in a container\n", || format!("{v}\n{}", out.show()))
}

/// c. The same run again: all cached, and the cache is in the user's state dir.
fn rerun_is_cached_in_the_users_state_dir(s: &Session) -> Result<(), String> {
    let (out, v) = s.sdk(&["--fail-on-miss"], "exec", &[])?;
    expect(v["stdout"] == "hello from 0 in a container\n", || format!("{v}\n{}", out.show()))?;
    let explain = s.tanto(&["explain", "--json"]);
    let e: Value = serde_json::from_str(explain.ok("tanto explain --json")?).map_err(|e| e.to_string())?;
    expect(e["executed"].as_array().is_some_and(|a| a.is_empty()) && e["misses"] == 0, || format!("explain: {e:#}"))?;
    let state = s.state_dir();
    let files = walk(&state, usize::MAX);
    for want in ["meta.db", "snapshots", "blobs"] {
        let p = state.join(want);
        let meta = std::fs::metadata(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        expect(meta.uid() == s.user.uid, || format!("{} is uid {}, not the user's", p.display(), meta.uid()))?;
    }
    let snapshots = walk(&state.join("snapshots"), 1).len() - 1;
    expect(snapshots > 0, || format!("no snapshot under {}", state.display()))?;
    let foreign: Vec<String> = files
        .iter()
        .filter_map(|p| std::fs::symlink_metadata(p).ok().filter(|m| !s.owns(m.uid())).map(|m| (p, m.uid())))
        .map(|(p, uid)| format!("{} (uid {uid})", p.display()))
        .collect();
    expect(foreign.is_empty(), || format!("not the user's IDs: {foreign:?}"))
}

/// d. Exports are the user's files; uploads read the user's own files.
fn host_export_and_upload_are_the_users(s: &Session) -> Result<(), String> {
    let (src, dest) = (s.work().join("src"), s.work().join("out"));
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::create_dir_all(&dest).unwrap();
    std::fs::write(src.join("a.txt"), "A\n").unwrap();
    std::fs::write(src.join("sub/b.txt"), "B\n").unwrap();
    // only the user may read it
    set_mode(&src.join("a.txt"), 0o600);
    s.chown_mine(&src);
    s.chown_mine(&dest);
    let (out, v) = s.sdk(&[], "export", &[&src.to_string_lossy(), &dest.to_string_lossy()])?;
    expect(v["listing"] == "A\nB\n", || format!("upload: {v}\n{}", out.show()))?;
    let want =
        [("file.txt", Some("made\n")), ("dir", None), ("dir/f.txt", Some("made\n")), ("dir/d/g.txt", Some("deep\n"))];
    for (path, text) in want {
        let p = dest.join(path);
        let meta = std::fs::symlink_metadata(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        let ids = (meta.uid(), meta.gid());
        expect(ids == (s.user.uid, s.user.gid), || format!("{path}: uid/gid {ids:?}, not the user's"))?;
        if let Some(text) = text {
            let got = std::fs::read_to_string(&p).unwrap_or_default();
            expect(got == text, || format!("{path}: {got:?}"))?;
        }
    }
    Ok(())
}

/// e. A service bound by host name, and a host service (a listener on the host's loopback).
fn services_and_host_services_are_reached(s: &Session) -> Result<(), String> {
    let server = HostServer::start("hello-host");
    let (out, v) = s.sdk(&[], "services", &[&server.port.to_string()])?;
    expect(v["bound"] == "hello-svc" && v["tunneled"] == "hello-host", || format!("{v}\n{}", out.show()))
}

/// f. Files of other users in containers, and switching users: the full map.
fn other_users_ids_in_containers(s: &Session) -> Result<(), String> {
    let (out, v) = s.sdk(&[], "chown", &[])?;
    expect(v["stdout"] == "1000:1000\n", || format!("chown: {v}\n{}", out.show()))?;
    // on the host, that file is the user's subordinate ID for 1000
    let (start, _) = s.subuids.ok_or("no subordinate IDs")?;
    let want = start + 999;
    let found = walk(&s.state_dir().join("snapshots"), usize::MAX)
        .iter()
        .any(|p| p.ends_with("x") && std::fs::symlink_metadata(p).is_ok_and(|m| m.uid() == want));
    expect(found, || format!("no /x of uid {want} (1000 in the container) under the state dir's snapshots"))?;
    let (out, v) = s.sdk(&[], "user", &[])?;
    expect(v["stdout"] == "65534\n", || format!("withUser(nobody): {v}\n{}", out.show()))
}

fn run_cases(s: &Session, cases: &[(&str, Case)]) {
    let mut failed = Vec::new();
    for (name, case) in cases {
        let start = Instant::now();
        let result = case(s);
        eprintln!(
            "case {name}: {} in {:.1}s",
            if result.is_ok() { "ok" } else { "FAILED" },
            start.elapsed().as_secs_f64()
        );
        if let Err(e) = result {
            failed.push(format!("{name}: {e}"));
        }
    }
    let left = s.leftovers();
    eprintln!("case no leftovers: {}", if left.is_empty() { "ok" } else { "FAILED" });
    if !left.is_empty() {
        failed.push(format!("leftovers after the runs: {left:#?}"));
    }
    assert!(failed.is_empty(), "{} of {} cases failed:\n\n{}", failed.len(), cases.len() + 1, failed.join("\n\n"));
}

fn rootless_pipelines_as_a_normal_user() {
    let s = Session::new(ROOTLESS_USER);
    // (case, check); in order: the rerun and explain follow the first run
    let cases: &[(&str, Case)] = &[
        ("doctor", doctor_says_rootless_with_a_full_map),
        ("run as the user", run_executes_a_container_as_the_user),
        ("cached rerun", rerun_is_cached_in_the_users_state_dir),
        ("export and upload", host_export_and_upload_are_the_users),
        ("services", services_and_host_services_are_reached),
        ("other users' IDs", other_users_ids_in_containers),
    ];
    run_cases(&s, cases);
}

/// The warning of a single-ID engine (`userns::SINGLE_LIMITS`).
const SINGLE_WARNING: &str = "give the user subordinate IDs";

/// h. Doctor says the map is limited and why.
fn doctor_says_the_map_is_limited(s: &Session) -> Result<(), String> {
    let checks = doctor(s)?;
    for name in ["user namespace", "id map"] {
        let (status, detail) = checks.get(name).cloned().unwrap_or_default();
        expect(status == "limited" && detail.contains(SINGLE_WARNING), || format!("{name}: {status} {detail}"))?;
    }
    Ok(())
}

/// h. A busybox exec works with only the user's own ID; the limit is said once.
fn single_id_exec_works_and_says_the_limit_once(s: &Session) -> Result<(), String> {
    let (out, v) = s.sdk(&[], "exec", &[])?;
    expect(v["stdout"] == "hello from 0 in a container\n", || format!("{v}\n{}", out.show()))?;
    let said = out.stderr.matches(SINGLE_WARNING).count();
    expect(said == 1, || format!("the limit is said {said} times, not once: {}", out.show()))
}

/// h. Switching to another user fails at once, saying why.
fn single_id_other_users_fail_clearly(s: &Session) -> Result<(), String> {
    let (out, v) = s.sdk(&[], "user", &[])?;
    let error = v["error"].as_str().unwrap_or_default();
    let says_why = ["subordinate", "mapped", "single"].iter().any(|w| error.contains(w));
    expect(says_why, || format!("withUser(nobody) did not fail saying why: {v}\n{}", out.show()))?;
    expect(out.secs < 30.0, || format!("took {:.0}s", out.secs))?;
    let (out, v) = s.sdk(&[], "chown", &[])?;
    expect(v["error"].is_string(), || format!("chown to 1000 did not fail: {v}\n{}", out.show()))?;
    expect(out.secs < 30.0, || format!("took {:.0}s", out.secs))
}

fn rootless_single_id_fallback() {
    let s = Session::new(ROOTLESS_SINGLE_USER);
    assert!(s.subuids.is_none(), "{ROOTLESS_SINGLE_USER} has subordinate IDs");
    let cases: &[(&str, Case)] = &[
        ("doctor", doctor_says_the_map_is_limited),
        ("exec with one ID", single_id_exec_works_and_says_the_limit_once),
        ("other users fail clearly", single_id_other_users_fail_clearly),
    ];
    run_cases(&s, cases);
}
