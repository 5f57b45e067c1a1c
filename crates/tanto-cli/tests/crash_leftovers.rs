//! A killed engine leaves nothing running and nothing secret behind: the real
//! `tanto session` binary runs a long exec with a secret file mounted, is
//! killed with SIGKILL, and a second engine starts on the same directories.
//! Its container dies with it (the runtime is tied to the engine with
//! `PR_SET_PDEATHSIG`, the container's init to the runtime) or, without that
//! init (`noInit`), at the next engine's start at the latest; the next engine
//! removes the dead one's secret files, bundles and runtime state.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

tanto_testkit::tests! {
    // test                                             prerequisites                          kind
    a_killed_engine_leaves_no_container_and_no_secret:  [Root, Registry, Busybox, OciRuntime]  sync;
}

/// A `tanto session` and where it listens.
struct Session {
    child: Child,
    port: u16,
    token: String,
}

impl Session {
    fn start(env: &[(&str, &Path)]) -> Session {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tanto"));
        cmd.arg("session").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("starting `tanto session`");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("session said {line:?}: {e}"));
        Session { port: v["port"].as_u64().unwrap() as u16, token: v["session_token"].as_str().unwrap().into(), child }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

fn base64(data: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = c.iter().enumerate().fold(0u32, |n, (i, b)| n | (*b as u32) << (16 - 8 * i));
        for i in 0..4 {
            out.push(if i <= c.len() { A[(n >> (18 - 6 * i) & 63) as usize] as char } else { '=' });
        }
    }
    out
}

/// POSTs a GraphQL query; the answer's JSON (`None` when the connection broke).
fn post(port: u16, token: &str, query: &str) -> Option<Value> {
    let body = json!({ "query": query }).to_string();
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    let req = format!(
        "POST /query HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        base64(format!("{token}:").as_bytes()),
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).ok()?;
    let text = String::from_utf8_lossy(&resp);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).ok()?;
            if n == 0 {
                break;
            }
            out.push_str(tail.get(..n)?);
            rest = tail.get(n + 2..)?;
        }
        out
    } else {
        body.to_string()
    };
    serde_json::from_str(&body).ok()
}

/// Processes on the host whose command line holds `marker`.
fn processes_with(marker: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let zombie = std::fs::read_to_string(e.path().join("stat")).is_ok_and(|s| s.contains(") Z "));
        if !zombie && String::from_utf8_lossy(&cmdline).contains(marker) {
            found.push(pid);
        }
    }
    found
}

/// Entries of `dir` (recursively for `secrets`/`runtime`-like dirs one level down)
/// whose names start with the engine `pid`'s prefixes.
fn owned_by(dir: &Path, pid: u32) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let prefixes = [format!("t{pid}-"), format!("{pid}-")];
    let mut dirs = vec![dir.to_path_buf()];
    for sub in ["secrets", "sockets", "exports", "runtime"] {
        dirs.push(dir.join(sub));
    }
    for d in dirs {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if prefixes.iter().any(|p| name.starts_with(p)) {
                found.push(e.path());
            }
        }
    }
    found
}

fn mounts_of(dir: &Path, pid: u32) -> Vec<String> {
    let needle = format!("{}/t{pid}-", dir.display());
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    info.lines().filter_map(|l| l.split(' ').nth(4)).filter(|m| m.starts_with(&needle)).map(String::from).collect()
}

fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("timed out waiting for {what}");
    false
}

fn a_killed_engine_leaves_no_container_and_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let (_registry, config) = tanto_testkit::busybox_registry(dir.path()).expect("a registry with busybox");
    // a run dir of this test's own (the engine mounts a tmpfs there unless it is one)
    let run = RunDir(tempfile::Builder::new().prefix("tanto-crash-test-").tempdir_in("/run").unwrap().keep());
    let state = dir.path().join("state");
    let env: &[(&str, &Path)] = &[
        ("TANTO_CONFIG", &config),
        ("TANTO_STATE_DIR", &state),
        ("TANTO_RUN_DIR", run.0.as_path()),
        ("HOME", dir.path()),
    ];

    // (noInit, the container is gone as soon as its engine is)
    for (no_init, dies_with_engine) in [(false, true), (true, false)] {
        let engine = Session::start(env);
        let secret =
            post(engine.port, &engine.token, r#"{ setSecret(name: "tok", plaintext: "crash-test-secret") { id } }"#)
                .expect("setSecret");
        let secret_id = secret["data"]["setSecret"]["id"].as_str().unwrap_or_else(|| panic!("{secret}")).to_string();
        let marker = format!("tanto-crash-marker-{}", uuid_like());
        let query = format!(
            r#"{{ container {{ from(address: "busybox") {{ withMountedSecret(path: "/run/s", source: "{secret_id}") {{
                withExec(args: ["sh", "-c", "cat /run/s >/dev/null; sleep 987; : {marker}"], noInit: {no_init}) {{ stdout }} }} }} }} }}"#
        );
        let (port, token) = (engine.port, engine.token.clone());
        let waiter = std::thread::spawn(move || post(port, &token, &query));
        let case = format!("noInit: {no_init}");
        assert!(
            wait_for("the container", Duration::from_secs(120), || !processes_with(&marker).is_empty()),
            "{case}: the exec never started"
        );
        let pid = engine.pid();
        let secret_files = owned_by(&run.0.as_path().join("secrets"), pid);
        assert!(!secret_files.is_empty(), "{case}: the secret file is in the run dir while the exec runs");
        assert!(!owned_by(run.0.as_path(), pid).is_empty(), "{case}: a bundle while the exec runs");

        let mut child = engine.child;
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(waiter.join().unwrap().is_none(), "{case}: the query dies with its engine");
        if dies_with_engine {
            assert!(
                wait_for("the container to die", Duration::from_secs(10), || processes_with(&marker).is_empty()),
                "{case}: the container outlived its engine: {:?}",
                processes_with(&marker)
            );
        }

        // the next engine cleans up at start
        let next = Session::start(env);
        assert!(
            wait_for("the container to go", Duration::from_secs(10), || processes_with(&marker).is_empty()),
            "{case}: the container outlived the next engine's start: {:?}",
            processes_with(&marker)
        );
        assert_eq!(owned_by(run.0.as_path(), pid), Vec::<PathBuf>::new(), "{case}: left in the run dir");
        assert_eq!(mounts_of(run.0.as_path(), pid), Vec::<String>::new(), "{case}: mounts left");
        let ok = post(next.port, &next.token, "{ version }").expect("the next engine answers");
        assert!(ok.get("errors").is_none(), "{ok}");
        let mut next = next.child;
        drop(next.stdin.take()); // a session ends when its stdin closes
        next.wait().unwrap();
    }
    // nothing of either engine is left once both are gone
    let left: Vec<String> = std::fs::read_dir(run.0.as_path().join("secrets"))
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    assert_eq!(left, Vec::<String>::new());
}

/// The test's run dir; whatever a failed run left in it (containers with the
/// test's marker, mounts) goes with it.
struct RunDir(PathBuf);

impl Drop for RunDir {
    fn drop(&mut self) {
        for pid in processes_with("tanto-crash-marker-") {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
        let prefix = format!("{}", self.0.display());
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut mounts: Vec<&str> = info
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| *m == prefix || m.starts_with(&format!("{prefix}/")))
            .collect();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            let _ = Command::new("umount").args(["-l", m]).status();
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn uuid_like() -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{:x}{:x}", t, std::process::id())
}
