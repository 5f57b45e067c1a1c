//! A remote engine (`tanto engine serve`) on loopback with generated
//! certificates, used by thin clients (`TANTO_HOST`) with their own state
//! dirs: the official Python SDK's pipeline uploads a host directory,
//! reads a secret from the client's environment, binds a service, reaches a
//! server and a unix socket of the client's host from containers, tunnels a
//! service to the client's host, and exports back to the client; a second run sends only what changed. Wrong tokens,
//! unknown CAs, missing client certificates and plain HTTP are refused.

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

tanto_testkit::tests! {
    // test                                             prerequisites                                      kind
    python_pipeline_through_a_remote_engine_over_tls:   [Root, Registry, Busybox, OciRuntime, PythonSdk]  sync;
    remote_engine_refuses_what_it_must:                 [Root, Registry, Busybox, OciRuntime]             sync;
    engines_on_demand_and_by_socket_activation:         [Root, Registry, Busybox, OciRuntime, SocketActivate] sync;
}

fn tanto() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_tanto"))
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// A CA and certificates it signs, as PEM files in a directory.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    /// A new CA `name` (`name-ca.pem`); returns its issuer parts.
    fn ca(&self, name: &str) -> (rcgen::CertificateParams, rcgen::KeyPair) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, format!("{name} CA"));
        params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::DigitalSignature];
        let cert = params.self_signed(&key).unwrap();
        std::fs::write(self.dir.join(format!("{name}-ca.pem")), cert.pem()).unwrap();
        (params, key)
    }

    /// A certificate for `sans` signed by `ca` (`name.pem`, `name.key`).
    fn leaf(&self, ca: &(rcgen::CertificateParams, rcgen::KeyPair), name: &str, sans: &[&str], client: bool) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        params.extended_key_usages = vec![if client {
            rcgen::ExtendedKeyUsagePurpose::ClientAuth
        } else {
            rcgen::ExtendedKeyUsagePurpose::ServerAuth
        }];
        let issuer = rcgen::Issuer::new(ca.0.clone(), &ca.1);
        let cert = params.signed_by(&key, &issuer).unwrap();
        std::fs::write(self.dir.join(format!("{name}.pem")), cert.pem()).unwrap();
        std::fs::write(self.dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }
}

/// A running `tanto engine serve`, stopped (SIGTERM) when dropped.
struct Served {
    child: Child,
    listen: Vec<String>,
}

impl Served {
    fn start(config: &Path, state: &Path, args: &[&str]) -> Served {
        let mut child = Command::new(tanto())
            .args(["engine", "serve"])
            .args(args)
            .env("TANTO_CONFIG", config)
            .env("TANTO_STATE_DIR", state)
            .env("TANTO_RUN_DIR", state.with_extension("run"))
            .env("TANTO_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting tanto engine serve");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        if line.is_empty() {
            let mut err = String::new();
            child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
            panic!("tanto engine serve did not start: {err}");
        }
        let v: Value = serde_json::from_str(&line).unwrap();
        let listen = v["listen"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect();
        Served { child, listen }
    }

    fn tcp(&self) -> &str {
        self.listen.iter().find(|a| a.starts_with("tcp://")).expect("a tcp listener")
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = rustix::process::kill_process(
            rustix::process::Pid::from_raw(self.child.id() as i32).unwrap(),
            rustix::process::Signal::TERM,
        );
        let _ = self.child.wait();
    }
}

/// A thin client's command: `TANTO_HOST` and `env`, its own state dir.
fn client(dir: &Path, host: &str, env: &[(&str, &Path)], args: &[&str], stdin: &str) -> Output {
    let mut cmd = Command::new(tanto());
    cmd.args(args)
        .current_dir(dir)
        .env("TANTO_HOST", host)
        .env("TANTO_STATE_DIR", dir.join("client-state"))
        .env_remove("TANTO_TOKEN")
        .env_remove("TANTO_TLS_CA")
        .env_remove("DAGGER_SESSION_PORT")
        .env_remove("DAGGER_SESSION_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    // a client that fails early (a bad address) may not read it
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    format!("{}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn python_pipeline_through_a_remote_engine_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let (_registry, config) = tanto_testkit::busybox_registry(dir.path()).expect("a registry with busybox");
    let pki = Pki { dir: dir.path().to_path_buf() };
    let ca = pki.ca("server");
    pki.leaf(&ca, "engine", &["127.0.0.1", "localhost"], false);
    std::fs::write(dir.path().join("token"), "t0ken-for-tests\n").unwrap();
    let (cert, key, token) = (pki.path("engine.pem"), pki.path("engine.key"), dir.path().join("token"));
    let served = Served::start(
        &config,
        &dir.path().join("server-state"),
        &[
            "--listen",
            "tcp://127.0.0.1:0",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
            "--token-file",
            token.to_str().unwrap(),
        ],
    );
    let work = dir.path().join("work");
    std::fs::create_dir_all(work.join("src/sub")).unwrap();
    std::fs::create_dir_all(work.join("src/skip")).unwrap();
    std::fs::write(work.join("src/a.txt"), "alpha\n").unwrap();
    std::fs::write(work.join("src/sub/b.txt"), "beta\n").unwrap();
    std::fs::write(work.join("src/skip/x"), "left out\n").unwrap();
    let python = tanto_testkit::prereq::python_with("dagger").unwrap();
    let script = workspace().join("crates/tanto-cli/tests/remote_pipeline.py");
    let ca_file = pki.path("server-ca.pem");
    let env = [("TANTO_TLS_CA", ca_file.as_path()), ("TANTO_TOKEN_FILE", token.as_path())];
    let run = || {
        let mut cmd_env = env.to_vec();
        let secret = PathBuf::from("s3cr3t!");
        cmd_env.push(("REMOTE_TEST_SECRET", secret.as_path()));
        let out =
            client(&work, served.tcp(), &cmd_env, &["run", python.to_str().unwrap(), script.to_str().unwrap()], "");
        assert!(out.status.success(), "{}", text(&out));
        let cases: Vec<Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("REMOTE_CASE "))
            .map(|j| serde_json::from_str(j).unwrap())
            .collect();
        assert_eq!(cases.len(), 6, "{}", text(&out));
        cases
    };
    let cases = run();
    // (case, field, what it must hold)
    let want = [
        ("upload", "stdout", "alpha\nbeta\na.txt\nsub\n7\n"),
        ("service", "stdout", "served\n"),
        ("host-service", "stdout", "from the client\n"),
        ("unix-socket", "stdout", "socket\n"),
        ("tunnel", "body", "served\n"),
        ("tunnel", "endpoint", "http://127.0.0.1:"),
    ];
    for (name, field, needle) in want {
        let c = cases.iter().find(|c| c["case"] == name).unwrap();
        assert!(c[field].as_str().unwrap().contains(needle), "{name}: {c}");
    }
    assert_eq!(std::fs::read_to_string(work.join("out/new.txt")).unwrap(), "made\n");
    // a file named like an OCI whiteout is exported as the file it is
    assert_eq!(std::fs::read_to_string(work.join("out/.wh.kept")).unwrap(), "wh\n");
    assert_eq!(std::fs::read_to_string(work.join("out/sub/b.txt")).unwrap(), "beta\n");
    assert!(!work.join("out/skip").exists(), "the excluded directory was uploaded");
    assert_eq!(std::fs::read_to_string(work.join("out-file.txt")).unwrap(), "made\n");
    // a change on the client, a removal and an addition reach the engine
    std::fs::write(work.join("src/a.txt"), "changed\n").unwrap();
    std::fs::remove_file(work.join("src/sub/b.txt")).unwrap();
    std::fs::write(work.join("src/sub/c.txt"), "gamma\n").unwrap();
    std::fs::write(work.join("src/sub/b.txt"), "beta again\n").unwrap();
    let cases = run();
    let upload = cases.iter().find(|c| c["case"] == "upload").unwrap();
    assert_eq!(upload["stdout"], "changed\nbeta again\na.txt\nsub\n7\n", "{upload}");
    assert_eq!(std::fs::read_to_string(work.join("out/sub/c.txt")).unwrap(), "gamma\n");
    // nothing ran on the client's side: its state dir was never made
    assert!(!work.join("client-state").exists(), "the client started an engine of its own");
}

fn remote_engine_refuses_what_it_must() {
    let dir = tempfile::tempdir().unwrap();
    let (_registry, config) = tanto_testkit::busybox_registry(dir.path()).expect("a registry with busybox");
    let pki = Pki { dir: dir.path().to_path_buf() };
    let ca = pki.ca("server");
    pki.leaf(&ca, "engine", &["127.0.0.1"], false);
    let other = pki.ca("other");
    let clients = pki.ca("clients");
    pki.leaf(&clients, "alice", &["alice"], true);
    pki.leaf(&other, "mallory", &["mallory"], true);
    std::fs::write(dir.path().join("token"), "right-token\n").unwrap();
    std::fs::write(dir.path().join("wrong"), "wrong-token\n").unwrap();
    let (cert, key) = (pki.path("engine.pem"), pki.path("engine.key"));
    let (token, wrong) = (dir.path().join("token"), dir.path().join("wrong"));
    let sock = dir.path().join("engine.sock");
    let unix = format!("unix://{}", sock.display());
    let served = Served::start(
        &config,
        &dir.path().join("state"),
        &[
            "--listen",
            "tcp://127.0.0.1:0",
            "--listen",
            &unix,
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
            "--token-file",
            token.to_str().unwrap(),
        ],
    );
    let mtls = Served::start(
        &config,
        &dir.path().join("state-mtls"),
        &[
            "--listen",
            "tcp://127.0.0.1:0",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
            "--tls-client-ca",
            pki.path("clients-ca.pem").to_str().unwrap(),
        ],
    );
    let (server_ca, other_ca) = (pki.path("server-ca.pem"), pki.path("other-ca.pem"));
    let (alice, alice_key, mallory, mallory_key) =
        (pki.path("alice.pem"), pki.path("alice.key"), pki.path("mallory.pem"), pki.path("mallory.key"));
    let query = "{ container { from(address: \"busybox\") { withExec(args: [\"echo\", \"remote\"]) { stdout } } } }";
    // (what, host, environment, Ok(stdout) or Err(what stderr says))
    type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a Path)>, Result<&'a str, &'a str>);
    let cases: Vec<Case> = vec![
        (
            "right token and CA",
            served.tcp(),
            vec![("TANTO_TLS_CA", &server_ca), ("TANTO_TOKEN_FILE", &token)],
            Ok("remote"),
        ),
        ("the engine's own user on its socket", &unix, vec![], Ok("remote")),
        (
            "wrong token",
            served.tcp(),
            vec![("TANTO_TLS_CA", &server_ca), ("TANTO_TOKEN_FILE", &wrong)],
            Err("refused the session (401 Unauthorized)"),
        ),
        ("no token", served.tcp(), vec![("TANTO_TLS_CA", &server_ca)], Err("refused the session (401 Unauthorized)")),
        (
            "unknown CA",
            served.tcp(),
            vec![("TANTO_TLS_CA", &other_ca), ("TANTO_TOKEN_FILE", &token)],
            Err("invalid peer certificate"),
        ),
        (
            "client certificate",
            mtls.tcp(),
            vec![("TANTO_TLS_CA", &server_ca), ("TANTO_TLS_CERT", &alice), ("TANTO_TLS_KEY", &alice_key)],
            Ok("remote"),
        ),
        ("no client certificate", mtls.tcp(), vec![("TANTO_TLS_CA", &server_ca)], Err("the engine at")),
        (
            "client certificate of another CA",
            mtls.tcp(),
            vec![("TANTO_TLS_CA", &server_ca), ("TANTO_TLS_CERT", &mallory), ("TANTO_TLS_KEY", &mallory_key)],
            Err("the engine at"),
        ),
        (
            "not an engine address",
            "docker-container://dagger",
            vec![],
            Err("`TANTO_HOST`: `docker-container://dagger` is not an engine address"),
        ),
    ];
    for (what, host, env, want) in cases {
        let out = client(dir.path(), host, &env, &["query"], query);
        match want {
            Ok(stdout) => {
                assert!(out.status.success(), "{what}: {}", text(&out));
                assert!(String::from_utf8_lossy(&out.stdout).contains(stdout), "{what}: {}", text(&out));
            }
            Err(message) => {
                assert!(!out.status.success(), "{what}: {}", text(&out));
                assert!(String::from_utf8_lossy(&out.stderr).contains(message), "{what}: {}", text(&out));
            }
        }
    }
    // plain HTTP on the TLS port gets no HTTP answer; the health endpoint answers over TLS
    let addr = served.tcp().strip_prefix("tcp://").unwrap().to_string();
    let mut plain = std::net::TcpStream::connect(&addr).unwrap();
    plain.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    plain.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(!String::from_utf8_lossy(&answer).contains("HTTP/1.1 200"), "plain HTTP was served: {answer:?}");
    let health = Command::new("curl")
        .args(["-sS", "--cacert", server_ca.to_str().unwrap(), &format!("https://{addr}/healthz")])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&health.stdout).contains("\"status\":\"ok\""), "{}", text(&health));
    // the engine still serves after all that, and doctor says clients here use it
    let env = [("TANTO_TLS_CA", server_ca.as_path()), ("TANTO_TOKEN_FILE", token.as_path())];
    let out = client(dir.path(), served.tcp(), &env, &["query"], query);
    assert!(out.status.success(), "{}", text(&out));
    let out = client(dir.path(), served.tcp(), &env, &["doctor", "--json"], "");
    let checks: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    let engine = checks.iter().find(|c| c["check"] == "engine").unwrap_or_else(|| panic!("{checks:?}"));
    assert_eq!(engine["status"], "ok", "{engine}");
    assert!(engine["detail"].as_str().unwrap().contains("answers"), "{engine}");
}

fn engines_on_demand_and_by_socket_activation() {
    let dir = tempfile::tempdir().unwrap();
    let (_registry, config) = tanto_testkit::busybox_registry(dir.path()).expect("a registry with busybox");
    let query = "{ container { from(address: \"busybox\") { withExec(args: [\"echo\", \"warm\"]) { stdout } } } }";
    let (run, state) = (dir.path().join("run"), dir.path().join("state"));
    let socket = run.join("engine.sock");
    // TANTO_HOST=auto: the first client starts an engine on the default socket,
    // the next one uses it, and it stops once idle
    let env = [
        ("TANTO_CONFIG", config.as_path()),
        ("TANTO_RUN_DIR", run.as_path()),
        ("TANTO_IDLE_TIMEOUT", Path::new("3s")),
        ("TANTO_STATE_DIR", state.as_path()),
    ];
    for n in 0..2 {
        let out = client(dir.path(), "auto", &env, &["query"], query);
        assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("warm"), "{n}: {}", text(&out));
        assert!(socket.exists(), "{n}: the engine serves {}", socket.display());
    }
    let log = std::fs::read_to_string(state.join("engine.log")).unwrap();
    assert_eq!(log.matches("engine serving on").count(), 1, "one engine for both clients: {log}");
    let stopped = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        !socket.exists()
    });
    assert!(
        stopped,
        "the engine did not stop once idle: {}",
        std::fs::read_to_string(state.join("engine.log")).unwrap()
    );

    // systemd socket activation: the socket is systemd's (here its
    // systemd-socket-activate), the engine takes it from fd 3
    let activated = dir.path().join("activated.sock");
    let mut systemd = Command::new("systemd-socket-activate")
        .args(["-l", activated.to_str().unwrap(), "-E", "TANTO_CONFIG", "-E", "TANTO_STATE_DIR", "-E", "TANTO_RUN_DIR"])
        .arg(tanto())
        .args(["engine", "serve"])
        .env("TANTO_CONFIG", &config)
        .env("TANTO_STATE_DIR", dir.path().join("activated-state"))
        .env("TANTO_RUN_DIR", dir.path().join("activated-run"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let ready = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        activated.exists()
    });
    assert!(ready, "systemd-socket-activate did not listen");
    let host = format!("unix://{}", activated.display());
    let out = client(dir.path(), &host, &[], &["query"], query);
    let _ = rustix::process::kill_process(
        rustix::process::Pid::from_raw(systemd.id() as i32).unwrap(),
        rustix::process::Signal::TERM,
    );
    let _ = systemd.wait();
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("warm"), "{}", text(&out));
}
