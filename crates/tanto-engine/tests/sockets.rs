//! Unix sockets of the host in containers (`Host.unixSocket`,
//! `withUnixSocket`, `withoutUnixSocket`): a container talks to a real
//! unix-socket server in this test through the mounted socket.
//!
//! The busybox image has no unix-socket client, so the test builds a small
//! static one with the C compiler the Rust toolchain links with.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::{json, Value};

tanto_testkit::tests! {
    // test                               prerequisites                                    kind
    containers_talk_to_host_unix_sockets: [Root, Registry, Busybox, OciRuntime, StaticCc]  async;
}

/// Connects to argv[1], sends argv[2] and a newline, prints the answer.
const CLIENT_C: &str = r#"
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <stdio.h>
int main(int argc, char **argv) {
    if (argc != 3) return 2;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {0};
    a.sun_family = AF_UNIX;
    strncpy(a.sun_path, argv[1], sizeof a.sun_path - 1);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) { perror("connect"); return 1; }
    dprintf(fd, "%s\n", argv[2]);
    shutdown(fd, SHUT_WR);
    char buf[512];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) fwrite(buf, 1, n, stdout);
    return 0;
}
"#;

/// Builds the static client into `dir/bin/sockclient`.
fn build_client(dir: &Path) {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(dir.join("client.c"), CLIENT_C).unwrap();
    let out = Command::new("cc")
        .args(["-static", "-O2", "-o"])
        .arg(bin.join("sockclient"))
        .arg(dir.join("client.c"))
        .output();
    match out {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!("cc -static failed (apt-get install gcc libc6-dev): {}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => panic!("no C compiler (apt-get install gcc libc6-dev): {e}"),
    }
}

/// A server on `path` that answers each line with `{greeting}: LINE`.
fn serve(path: &Path, greeting: &'static str) -> UnixListener {
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path).unwrap();
    // Only root may connect to the host socket itself.
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let l = listener.try_clone().unwrap();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(conn) = conn else { break };
            let mut line = String::new();
            let _ = BufReader::new(&conn).read_line(&mut line);
            let _ = write!(&conn, "{greeting}: {}", line);
        }
    });
    listener
}

async fn ok(e: &tanto_engine::Engine, q: &str) -> Value {
    let v = query(e, q).await;
    assert!(v.get("errors").is_none(), "{q}: {v}");
    v["data"].clone()
}

async fn socket_id(e: &tanto_engine::Engine, path: &Path) -> String {
    let v = ok(e, &format!(r#"{{ host {{ unixSocket(path: "{}") {{ id }} }} }}"#, path.display())).await;
    v["host"]["unixSocket"]["id"].as_str().unwrap().to_string()
}

async fn containers_talk_to_host_unix_sockets() {
    let fx = fixture();
    let tmp = tempfile::tempdir().unwrap();
    build_client(tmp.path());
    let e = engine(&fx, tmp.path()).await;
    let (a_path, b_path) = (tmp.path().join("a.sock"), tmp.path().join("b.sock"));
    let server_a = serve(&a_path, "host a");
    let _server_b = serve(&b_path, "host b");
    let (a, b) = (socket_id(&e, &a_path).await, socket_id(&e, &b_path).await);
    let base = r#"container { from(address: "busybox") { withDirectory(path: "/usr/local/bin", source: HOSTBIN) { withUser(name: "1000:1000")"#;
    let bin_id = ok(&e, r#"{ host { directory(path: "bin") { id } } }"#).await["host"]["directory"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let base = base.replace("HOSTBIN", &format!(r#""{bin_id}""#));
    // The client runs as user 1000: the bind-mounted host socket (root's, 0755)
    // refuses it; with an owner it gets a socket of its own (mode 0600).
    // (socket, owner, args, expected stdout, expected exit code)
    let client = |msg: &str| format!(r#"["/usr/local/bin/sockclient", "/run/s.sock", "{msg}"]"#);
    for (socket, owner, args, stdout, exit) in [
        (&a, "1000", client("one"), "host a: one\n", 0),
        (&b, "1000:1000", client("two"), "host b: two\n", 0),
        (&a, "", client("three"), "", 1),
        (&a, "1000", r#"["stat", "-c", "%u %g %a %F", "/run/s.sock"]"#.to_string(), "1000 1000 600 socket\n", 0),
    ] {
        let q = format!(
            r#"{{ {base} {{ withUnixSocket(path: "/run/s.sock", source: "{socket}", owner: "{owner}") {{ withExec(args: {args}, expect: ANY) {{ stdout exitCode }} }} }} }} }} }} }}"#
        );
        let v = ok(&e, &q).await;
        let got = &v["container"]["from"]["withDirectory"]["withUser"]["withUnixSocket"]["withExec"];
        assert_eq!(got, &json!({"stdout": stdout, "exitCode": exit}), "{q}");
    }

    // As root, the host socket itself is mounted; `mounts` does not list it,
    // and `withoutUnixSocket` takes it away.
    let root = |chain: &str| {
        format!(
            r#"{{ container {{ from(address: "busybox") {{ withDirectory(path: "/usr/local/bin", source: "{bin_id}") {{ withUnixSocket(path: "/run/s.sock", source: "{a}") {{ {chain} }} }} }} }} }}"#
        )
    };
    for (chain, want) in [
        (
            r#"withExec(args: ["/usr/local/bin/sockclient", "/run/s.sock", "root"]) { stdout }"#,
            json!({"withExec": {"stdout": "host a: root\n"}}),
        ),
        ("mounts", json!({"mounts": []})),
        (
            r#"withoutUnixSocket(path: "/run/s.sock") { withExec(args: ["test", "-e", "/run/s.sock"], expect: ANY) { exitCode } }"#,
            json!({"withoutUnixSocket": {"withExec": {"exitCode": 1}}}),
        ),
        (
            r#"withoutMount(path: "/run/s.sock") { withExec(args: ["test", "-S", "/run/s.sock"], expect: ANY) { exitCode } }"#,
            json!({"withoutMount": {"withExec": {"exitCode": 0}}}),
        ),
    ] {
        let v = ok(&e, &root(chain)).await;
        assert_eq!(v["container"]["from"]["withDirectory"]["withUnixSocket"], want, "{chain}");
    }

    // The exec is keyed on which socket (its host path), not on the socket
    // file: a server restarted at the same path is the same socket, so the
    // cached answer stands; another path runs again.
    let again = |id: &str| {
        root(r#"withExec(args: ["/usr/local/bin/sockclient", "/run/s.sock", "cached?"]) { stdout }"#).replace(&a, id)
    };
    let first = ok(&e, &again(&a)).await;
    drop(server_a);
    let _server_a2 = serve(&a_path, "host a, restarted");
    assert_eq!(ok(&e, &again(&a)).await, first, "same socket path: cached");
    assert_eq!(socket_id(&e, &a_path).await, a, "same path, same socket");
    let other = ok(&e, &again(&b)).await;
    assert_eq!(
        other["container"]["from"]["withDirectory"]["withUnixSocket"]["withExec"]["stdout"],
        "host b: cached?\n"
    );

    // Host.unixSocket needs a socket: (path, what the error says)
    std::fs::write(tmp.path().join("plain"), "x").unwrap();
    for (path, says) in [("plain", "is not a unix socket"), ("missing.sock", "no unix socket at")] {
        let v = query(&e, &format!(r#"{{ host {{ unixSocket(path: "{path}") {{ id }} }} }}"#)).await;
        assert!(first_error(&v).contains(says), "{path}: {v}");
    }
}
