//! Hostile or odd input meets a clear error, and containers run confined:
//! real engines (in-process) against a real local registry, as tables of cases.
//!
//! - The default seccomp profile and `no_new_privs` (off only with
//!   `insecureRootCapabilities`): `unshare`, `mount` and `keyctl` (a small
//!   static C program built by the test; busybox has no keyctl).
//! - A NUL byte in what becomes a C string of the process is refused, never
//!   silently cut short.
//! - A FIFO or a device is refused as host upload content, and reading one
//!   never waits.

mod common;

use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

tanto_testkit::tests! {
    // test                                                 prerequisites                                    kind
    default_containers_run_under_seccomp_and_no_new_privs:  [Root, Registry, Busybox, OciRuntime, StaticCc]  async;
    nul_bytes_in_exec_strings_are_refused:                  [Root, Registry, Busybox, OciRuntime]            async;
    fifos_and_devices_are_refused_never_waited_on:          [Root, Registry, Busybox, OciRuntime]            async;
}

/// Asks for the session keyring's id (creating it): the kernel keyring is not
/// namespaced, so the default profile refuses every keyring call.
const KEYCTL_C: &str = r#"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(void) {
    long r = syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3 /* session */, 1);
    if (r < 0) { printf("keyctl: %s\n", strerror(errno)); return 1; }
    printf("keyctl: ok\n");
    return 0;
}
"#;

fn build_keyctl(dir: &Path) {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(dir.join("keyctl.c"), KEYCTL_C).unwrap();
    let out = Command::new("cc")
        .args(["-static", "-O2", "-o"])
        .arg(bin.join("keyctl"))
        .arg(dir.join("keyctl.c"))
        .output()
        .expect("no C compiler (apt-get install gcc libc6-dev)");
    assert!(out.status.success(), "cc -static failed: {}", String::from_utf8_lossy(&out.stderr));
}

async fn ok(e: &tanto_engine::Engine, q: &str) -> Value {
    let v = query(e, q).await;
    assert!(v.get("errors").is_none(), "{q}: {v}");
    v["data"].clone()
}

async fn default_containers_run_under_seccomp_and_no_new_privs() {
    let fx = fixture();
    let tmp = tempfile::tempdir().unwrap();
    build_keyctl(tmp.path());
    let e = engine(&fx, tmp.path()).await;
    let bin = ok(&e, r#"{ host { directory(path: "bin") { id } } }"#).await["host"]["directory"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let status = r#"grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status | tr -s '\t' ' ' | tr '\n' ' '"#;
    // (command, insecureRootCapabilities, exit code, what the output holds)
    let cases: &[(&str, bool, i64, &str)] = &[
        (status, false, 0, "NoNewPrivs: 1 Seccomp: 2"),
        (status, true, 0, "NoNewPrivs: 0 Seccomp: 0"),
        // a user namespace needs no capability: only the profile stops it
        ("unshare -U true", false, 1, "Operation not permitted"),
        ("unshare -U true && echo unshared", true, 0, "unshared"),
        ("mkdir -p /mnt/t && mount -t tmpfs none /mnt/t", false, 1, "permission denied"),
        ("mkdir -p /mnt/t && mount -t tmpfs none /mnt/t && echo mounted", true, 0, "mounted"),
        ("/t/keyctl", false, 1, "keyctl: Operation not permitted"),
        ("/t/keyctl", true, 0, "keyctl: ok"),
        // what images do every day still works under the profile
        ("ls / >/dev/null && echo x | sed s/x/y/ | grep -c y && chroot / true && echo fine", false, 0, "1\nfine"),
    ];
    for (cmd, privileged, exit, says) in cases {
        let q = format!(
            r#"{{ container {{ from(address: "busybox") {{ withDirectory(path: "/t", source: "{bin}") {{
                withExec(args: ["sh", "-c", "{}"], insecureRootCapabilities: {privileged}, expect: ANY) {{ exitCode combinedOutput }} }} }} }} }}"#,
            cmd.replace('\\', "\\\\").replace('"', "\\\"")
        );
        let v = ok(&e, &q).await;
        let got = &v["container"]["from"]["withDirectory"]["withExec"];
        let out = got["combinedOutput"].as_str().unwrap_or("");
        assert!(
            got["exitCode"] == json!(exit) && out.contains(says),
            "`{cmd}` (privileged: {privileged}): want exit {exit} and {says:?}, got {got}"
        );
    }
}

async fn nul_bytes_in_exec_strings_are_refused() {
    let fx = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let e = engine(&fx, tmp.path()).await;
    let secret = ok(&e, r#"{ setSecret(name: "nul", plaintext: "before\u0000hidden-after") { id } }"#).await
        ["setSecret"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ctr = |chain: &str| format!(r#"{{ container {{ from(address: "busybox") {{ {chain} }} }} }}"#);
    // (chain on a busybox container, what the error names)
    let cases = [
        (r#"withExec(args: ["echo", "a\u0000b"]) { stdout }"#.to_string(), "`withExec`: argument 2 (`a\\0b`)"),
        (
            r#"withEnvVariable(name: "V", value: "x\u0000y") { withExec(args: ["env"]) { stdout } }"#.into(),
            "`withEnvVariable`: the value of `V`",
        ),
        (r#"withEnvVariable(name: "V\u0000W", value: "x") { id }"#.into(), "`withEnvVariable`: the name `V\\0W`"),
        (r#"withWorkdir(path: "/w\u0000x") { id }"#.into(), "`withWorkdir`: the path `/w\\0x`"),
        (r#"withUser(name: "root\u0000x") { id }"#.into(), "`withUser`: the user `root\\0x`"),
        // a secret's value is only known when the exec is set up: refused there, never shown
        (
            format!(r#"withSecretVariable(name: "S", secret: "{secret}") {{ withExec(args: ["env"]) {{ stdout }} }}"#),
            "the value of environment variable `S`",
        ),
    ];
    for (chain, names) in cases {
        let err = ask_err(&e, &ctr(&chain)).await;
        assert!(err.contains(names) && err.contains("NUL byte"), "{chain}: {err}");
        assert!(!err.contains("hidden-after"), "{chain}: the secret shows in {err}");
    }
    // the engine goes on serving
    let v = ok(&e, &ctr(r#"withExec(args: ["echo", "fine"]) { stdout }"#)).await;
    assert_eq!(v["container"]["from"]["withExec"]["stdout"], "fine\n");
}

async fn fifos_and_devices_are_refused_never_waited_on() {
    let fx = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path();
    std::fs::create_dir_all(work.join("src/sub")).unwrap();
    std::fs::write(work.join("src/a.txt"), "a").unwrap();
    let mkfifo = |p: &Path| assert!(Command::new("mkfifo").arg(p).status().unwrap().success());
    mkfifo(&work.join("pipe"));
    mkfifo(&work.join("src/sub/pipe"));
    let _socket = UnixListener::bind(work.join("src/sock")).unwrap();
    let e = engine(&fx, work).await;
    let ask = |q: String| {
        let e = e.clone();
        async move {
            tokio::time::timeout(Duration::from_secs(60), query(&e, &q))
                .await
                .unwrap_or_else(|_| panic!("{q}: no answer in 60 s (waiting on a FIFO?)"))
        }
    };
    let pipe = work.join("pipe");
    let sub_pipe = work.join("src/sub/pipe");
    // (query, the error's words; none: the answer)
    let cases: Vec<(String, Result<Value, Vec<String>>)> = vec![
        (
            r#"{ host { file(path: "pipe") { contents } } }"#.into(),
            Err(vec![format!("`{}` is a named pipe (FIFO), not a regular file", pipe.display())]),
        ),
        (
            r#"{ host { file(path: "/dev/null") { contents } } }"#.into(),
            Err(vec!["`/dev/null` is a character device, not a regular file".into()]),
        ),
        (
            r#"{ host { directory(path: "src") { entries } } }"#.into(),
            Err(vec![
                format!("`{}` is a named pipe (FIFO)", sub_pipe.display()),
                r#"exclude: ["sub/pipe"]"#.into(),
            ]),
        ),
        // left out by a filter, it is no obstacle; a socket is skipped
        (
            r#"{ host { directory(path: "src", exclude: ["sub/pipe"]) { glob(pattern: "**") } } }"#.into(),
            Ok(json!({"host": {"directory": {"glob": ["a.txt", "sub"]}}})),
        ),
        // a FIFO made in a container is no file to read
        (
            r#"{ container { from(address: "busybox") { withExec(args: ["mkfifo", "/f"]) { file(path: "/f") { contents } } } } }"#
                .into(),
            Err(vec!["`/f` is not a regular file".into()]),
        ),
    ];
    for (q, want) in cases {
        let got = ask(q.clone()).await;
        match want {
            Ok(data) => {
                assert!(got.get("errors").is_none(), "{q}: {got}");
                assert_eq!(got["data"], data, "{q}");
            }
            Err(words) => {
                let msg = first_error(&got);
                for w in words {
                    assert!(msg.contains(&w), "{q}: {msg:?} should say {w:?}");
                }
            }
        }
    }
}
