//! Remote sources against local servers: a git repository served by
//! `git daemon` on loopback and a small HTTP server in the test.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

mod common;

use common::{engine_offline as engine, query};

tanto_testkit::tests! {
    // test               prerequisiteskind
    git_and_http_sources: [Root, Git]  async;
}

fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .args(["-c", "user.email=t@example.com", "-c", "user.name=t"])
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(ok, "git {args:?}");
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        // git daemon forks a child per connection: stop its whole process group.
        if let Some(pgid) = rustix::process::Pid::from_raw(self.0.id() as i32) {
            let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
        }
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A repository with two commits (tags v1.0.0 and v1.2.0) served by git daemon.
fn git_server(base: &Path) -> (Daemon, String) {
    let repo = base.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main", "."]);
    std::fs::write(repo.join("README.md"), "hello git\n").unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-qm", "one"]);
    git(&repo, &["tag", "v1.0.0"]);
    std::fs::write(repo.join("two.txt"), "two\n").unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-qm", "two"]);
    git(&repo, &["tag", "v1.2.0"]);
    let port = free_port();
    let child = Command::new("git")
        .args(["daemon", "--reuseaddr", "--export-all", "--listen=127.0.0.1"])
        .arg(format!("--port={port}"))
        .arg(format!("--base-path={}", base.display()))
        .arg(base)
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let url = format!("git://127.0.0.1:{port}/repo");
    for _ in 0..100 {
        if Command::new("git").args(["ls-remote", &url]).output().map(|o| o.status.success()).unwrap_or(false) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    (Daemon(child), url)
}

/// Serves `/file.txt` (needs `Authorization: Bearer sesame` for `/private.txt`).
fn http_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            let _ = reader.read_line(&mut request_line);
            let mut authorized = false;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if line.to_ascii_lowercase().starts_with("authorization: bearer sesame") {
                    authorized = true;
                }
            }
            let path = request_line.split_whitespace().nth(1).unwrap_or("/").to_string();
            let (status, body) = match path.as_str() {
                "/file.txt" => ("200 OK", "served file\n"),
                "/private.txt" if authorized => ("200 OK", "secret file\n"),
                "/private.txt" => ("401 Unauthorized", "no\n"),
                _ => ("404 Not Found", "missing\n"),
            };
            let mut s = stream;
            let _ = write!(s, "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        }
    });
    format!("http://{addr}")
}

async fn git_and_http_sources() {
    let tmp = tempfile::tempdir().unwrap();
    let (_daemon, repo) = git_server(&tmp.path().join("git"));
    let web = http_server();
    let e = engine(tmp.path()).await;

    // (query, expected data)
    let cases: Vec<(String, Value)> = vec![
        (
            format!(r#"{{ git(url: "{repo}") {{ tag(name: "v1.0.0") {{ tree(discardGitDir: true) {{ entries }} }} }} }}"#),
            json!({"git": {"tag": {"tree": {"entries": ["README.md"]}}}}),
        ),
        (
            format!(r#"{{ git(url: "{repo}") {{ branch(name: "main") {{ tree {{ entries file(path: "two.txt") {{ contents }} }} }} }} }}"#),
            json!({"git": {"branch": {"tree": {"entries": [".git/", "README.md", "two.txt"], "file": {"contents": "two\n"}}}}}),
        ),
        (
            format!(r#"{{ git(url: "{repo}") {{ tags branches latestVersion {{ ref }} }} }}"#),
            json!({"git": {"tags": ["v1.0.0", "v1.2.0"], "branches": ["main"], "latestVersion": {"ref": "refs/tags/v1.2.0"}}}),
        ),
        (
            format!(r#"{{ git(url: "{repo}", keepGitDir: false) {{ head {{ tree {{ entries }} }} }} }}"#),
            json!({"git": {"head": {"tree": {"entries": ["README.md", "two.txt"]}}}}),
        ),
        (
            format!(r#"{{ http(url: "{web}/file.txt") {{ name contents size }} }}"#),
            json!({"http": {"name": "file.txt", "contents": "served file\n", "size": 12}}),
        ),
        (
            format!(r#"{{ http(url: "{web}/file.txt", name: "renamed", permissions: 493) {{ name }} container {{ from(address: "scratch") {{ id }} }} }}"#)
                .replace(r#" container { from(address: "scratch") { id } }"#, ""),
            json!({"http": {"name": "renamed"}}),
        ),
    ];
    for (q, want) in &cases {
        let got = query(&e, q).await;
        assert_eq!(got.get("data"), Some(want), "{q}\n{got}");
    }

    // A commit pinned by SHA checks out that commit.
    let sha = query(&e, &format!(r#"{{ git(url: "{repo}") {{ tag(name: "v1.0.0") {{ commit }} }} }}"#)).await;
    let sha = sha["data"]["git"]["tag"]["commit"].as_str().unwrap().to_string();
    assert_eq!(sha.len(), 40);
    let pinned = query(
        &e,
        &format!(r#"{{ git(url: "{repo}") {{ commit(id: "{sha}") {{ tree(discardGitDir: true) {{ entries }} }} }} }}"#),
    )
    .await;
    assert_eq!(pinned["data"]["git"]["commit"]["tree"]["entries"], json!(["README.md"]), "{pinned}");

    // Errors name what is wrong, and the engine keeps serving.
    let errors: Vec<(String, &str)> = vec![
        (format!(r#"{{ git(url: "{repo}") {{ branch(name: "nope") {{ commit }} }} }}"#), "no branch `nope`"),
        (format!(r#"{{ http(url: "{web}/missing.txt") {{ contents }} }}"#), "404"),
        (format!(r#"{{ http(url: "{web}/private.txt") {{ contents }} }}"#), "401"),
        (
            format!(r#"{{ http(url: "{web}/file.txt", checksum: "sha256:{}") {{ contents }} }}"#, "0".repeat(64)),
            "digest",
        ),
    ];
    for (q, needle) in &errors {
        let got = query(&e, q).await;
        let msg = got["errors"][0]["message"].as_str().unwrap_or("").to_string();
        assert!(msg.contains(needle), "{q}: {msg:?} should contain {needle:?}");
    }

    // An Authorization header from a secret.
    let q = format!(r#"{{ http(url: "{web}/private.txt", authHeader: "SECRET") {{ contents }} }}"#);
    let secret_id = query(&e, r#"{ setSecret(name: "auth", plaintext: "Bearer sesame") { id } }"#).await;
    let id = secret_id["data"]["setSecret"]["id"].as_str().unwrap();
    let got = query(&e, &q.replace("SECRET", id)).await;
    assert_eq!(got["data"]["http"]["contents"], json!("secret file\n"), "{got}");

    // A second checkout of the same commit is a cache hit.
    let before = e.solver.stats().computed;
    let again = query(&e, &cases[0].0).await;
    assert_eq!(again.get("data"), Some(&cases[0].1));
    assert_eq!(e.solver.stats().computed, before);
}
