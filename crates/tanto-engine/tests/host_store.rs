//! The client's local image store (`Host.containerImage`,
//! `Container.exportImage`) against podman's Docker-compatible API, served
//! by `podman system service` on a socket of the test's own, with storage
//! (`--root`, `--runroot`) of its own: no host-wide image store is touched.
//! Needs podman (skipped without it, failed under CI: apt-get install podman).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::*;
use serde_json::json;

tanto_testkit::tests! {
    // test                               prerequisites                                  kind
    images_in_and_out_of_the_local_store: [Root, Registry, Busybox, OciRuntime, Podman]  async;
}

/// `podman system service` on `dir/podman.sock`, killed on drop.
struct Podman {
    child: Child,
    dir: PathBuf,
    socket: PathBuf,
}

impl Podman {
    fn command(&self) -> Command {
        podman_command(&self.dir)
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn podman_command(dir: &Path) -> Command {
    let mut c = Command::new("podman");
    c.env("CONTAINERS_CONF", dir.join("containers.conf"))
        .arg("--root")
        .arg(dir.join("root"))
        .arg("--runroot")
        .arg(dir.join("runroot"));
    c
}

fn start_podman(dir: &Path) -> Podman {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("containers.conf"),
        "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n",
    )
    .unwrap();
    let socket = dir.join("podman.sock");
    let child = podman_command(dir)
        .args(["system", "service", "--time=0"])
        .arg(format!("unix://{}", socket.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting podman system service");
    let p = Podman { child, dir: dir.to_path_buf(), socket };
    for _ in 0..200 {
        if p.socket.exists() {
            return p;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("podman system service made no socket at {}", p.socket.display());
}

fn run(mut c: Command) -> String {
    let out = c.output().unwrap();
    assert!(out.status.success(), "{c:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn images_in_and_out_of_the_local_store() {
    let tmp = tempfile::tempdir().unwrap();
    let podman = start_podman(&tmp.path().join("podman"));
    let fx = fixture();
    // The engine is the client's: it reads DOCKER_HOST from its environment
    // (this test binary runs alone in its process).
    std::env::set_var("DOCKER_HOST", format!("unix://{}", podman.socket.display()));
    let e = engine(&fx, tmp.path()).await;

    // Out: a container built here is loaded into the store, tagged, and runs there.
    let q = r#"{ container { from(address: "busybox") { withNewFile(path: "/hello.txt", contents: "from tanto\n") { withEnvVariable(name: "GREETING", value: "hi") { withEntrypoint(args: ["cat", "/hello.txt"]) { exportImage(name: "localhost/tanto-test/out:v1") } } } } } }"#;
    let v = query(&e, q).await;
    assert!(v.get("errors").is_none(), "{v}");
    let mut c = podman.command();
    c.args(["run", "--rm", "--network=none", "localhost/tanto-test/out:v1"]);
    assert_eq!(run(c), "from tanto\n");

    // In: an image pulled by podman itself, and the one just exported.
    let mut c = podman.command();
    c.args(["pull", "-q", "--tls-verify=false", &format!("{}/library/busybox:1.36", fx.addr)]);
    run(c);
    let mut c = podman.command();
    c.args(["tag", &format!("{}/library/busybox:1.36", fx.addr), "localhost/tanto-test/busybox:in"]);
    run(c);
    // (image, command, stdout, an env variable of the image config)
    for (name, args, stdout, env) in [
        ("localhost/tanto-test/busybox:in", r#"["busybox", "echo", "pulled by podman"]"#, "pulled by podman\n", None),
        ("localhost/tanto-test/out:v1", r#"["cat", "/hello.txt"]"#, "from tanto\n", Some("hi")),
    ] {
        let q = format!(
            r#"{{ host {{ containerImage(name: "{name}") {{ envVariable(name: "GREETING") withExec(args: {args}) {{ stdout }} }} }} }}"#
        );
        let v = query(&e, &q).await;
        assert!(v.get("errors").is_none(), "{q}: {v}");
        assert_eq!(
            v["data"]["host"]["containerImage"],
            json!({"envVariable": env, "withExec": {"stdout": stdout}}),
            "{name}"
        );
    }

    // Errors name the store and say what to do: (DOCKER_HOST, image, says)
    for (host, name, says) in [
        (
            format!("unix://{}", podman.socket.display()),
            "localhost/tanto-test/missing:v0",
            format!("is not in the image store at `{}`: pull or build it", podman.socket.display()),
        ),
        (
            "unix:///nonexistent/docker.sock".to_string(),
            "busybox",
            "no docker or podman daemon answers on DOCKER_HOST: no socket at `/nonexistent/docker.sock`".to_string(),
        ),
        (
            "tcp://127.0.0.1:2375".to_string(),
            "busybox",
            "DOCKER_HOST=`tcp://127.0.0.1:2375` is not supported".to_string(),
        ),
        (format!("unix://{}", podman.socket.display()), "../../etc/passwd", "is not an image name".to_string()),
    ] {
        std::env::set_var("DOCKER_HOST", &host);
        let v = query(&e, &format!(r#"{{ host {{ containerImage(name: "{name}") {{ id }} }} }}"#)).await;
        assert!(first_error(&v).contains(&says), "{host} {name}: {v}");
    }
}
