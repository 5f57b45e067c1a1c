//! Services end to end: real engines (in-process) against a real registry with a
//! busybox image, busybox `httpd` as the service. Needs root, crun or runc, iptables,
//! docker-registry and busybox-static (skipped when missing, failed under CI).
//!
//! The slow tier (`slow` in the table): a PostgreSQL server from Debian's postgresql package,
//! in an image `scripts/postgres-image.sh` builds with mmdebstrap, queried with psql:
//! `TANTO_PG_IMAGE=127.0.0.1:PORT/tanto/postgres:15 cargo nextest run -p tanto-engine --test services --run-ignored ignored-only postgres`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tanto_engine::Engine;

mod common;

use common::engine_with;

tanto_testkit::tests! {
    // test                                    prerequisites                                    kind
    bindings_endpoints_start_stop_and_tunnels: [Root, Registry, Busybox, OciRuntime, Iptables]  async;
    sessions_do_not_see_each_others_services:  [Root, Registry, Busybox, OciRuntime, Iptables]  async;
    slow_postgres_service_queried_with_psql:   [Root, Registry, Busybox, OciRuntime, Iptables]  async slow;
}

struct Fixture {
    _registry: tanto_testkit::Registry,
    config: PathBuf,
    _dir: tempfile::TempDir,
}

/// The tests check the host's global network state: one at a time.
async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let registry = tanto_testkit::Registry::start(&dir.path().join("registry")).expect("starting docker-registry");
    let addr = registry.address();
    let image = tanto_testkit::busybox_image().expect("building the busybox image");
    tanto_testkit::push_image(&addr, "library/busybox", &["1.36", "latest"], &image).expect("pushing busybox");
    let config = dir.path().join("engine.toml");
    std::fs::write(
        &config,
        format!("[registry.\"docker.io\"]\nmirrors = [\"{addr}\"]\n\n[registry.\"{addr}\"]\nhttp = true\n"),
    )
    .unwrap();
    Fixture { _registry: registry, config, _dir: dir }
}

async fn query(e: &Engine, q: &str) -> Value {
    e.execute(tanto_gql::Request { query: q.to_string(), variables: None, operation_name: None }).await
}

/// Runs `q` and returns `data` (panics on errors).
async fn data(e: &Engine, q: &str) -> Value {
    let got = query(e, q).await;
    assert!(got.get("errors").is_none(), "{q}\n=> {got}");
    got["data"].clone()
}

/// A query that builds the web service and gets its ID.
const WWW: &str = r#"container { from(address: "busybox") { withNewFile(path: "/srv/index.html", contents: "hello-svc") { withWorkdir(path: "/srv") { withExposedPort(port: 8080) { asService(args: ["httpd", "-f", "-p", "8080", "-h", "/srv"]) { id } } } } } }"#;

fn www_id(v: &Value) -> String {
    v["container"]["from"]["withNewFile"]["withWorkdir"]["withExposedPort"]["asService"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The engine's slot: its bridge is `tanto<slot>` (default pool 10.87.0.0/16, /24 blocks).
/// The engine's bridge slot and the directory of the engines' network state
/// (host-wide as root, the run dir's rootless).
fn slot_of(e: &Engine) -> Option<(u8, PathBuf)> {
    let ex = &e.solver.worker().executor;
    Some((ex.bridge_gateway()?.octets()[2], ex.bridge_config()?.state_dir.clone()))
}

/// What is left of an engine's slot `slot` (links, tagged rules, slot file), checked
/// under the engines' network lock; nothing when another live process owns the slot by
/// now (other test processes run at the same time).
fn leftovers(slot: Option<(u8, PathBuf)>) -> String {
    let Some((slot, dir)) = slot else { return String::new() };
    let lock = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(dir.join("lock")).unwrap();
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).unwrap();
    let slot_file = dir.join(format!("slot-{slot}"));
    if let Ok(owner) = std::fs::read_to_string(&slot_file) {
        let pid: u32 = owner.split_whitespace().next().and_then(|p| p.parse().ok()).unwrap_or(0);
        if pid != std::process::id() && Path::new(&format!("/proc/{pid}")).exists() {
            return String::new();
        }
    }
    let out = |args: &[&str]| {
        String::from_utf8_lossy(&std::process::Command::new(args[0]).args(&args[1..]).output().unwrap().stdout)
            .into_owned()
    };
    let name = format!("tanto{slot}");
    let mut lines: Vec<String> = out(&["ip", "-o", "link", "show"])
        .lines()
        .filter_map(|l| l.split(": ").nth(1).map(|n| n.split('@').next().unwrap_or(n).to_string()))
        .filter(|n| {
            *n == name || n.strip_prefix(&format!("{name}v")).is_some_and(|v| v.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect();
    for t in ["filter", "nat"] {
        lines.extend(
            out(&["iptables-save", "-t", t])
                .lines()
                .filter(|l| l.contains(&format!("tanto:{name} ")) || l.contains(&format!("tanto:{name}\"")))
                .map(str::to_string),
        );
    }
    if slot_file.exists() {
        lines.push(slot_file.display().to_string());
    }
    lines.join("\n")
}

async fn bindings_endpoints_start_stop_and_tunnels() {
    let _serial = serial().await;
    let fx = fixture();
    let state = tempfile::tempdir().unwrap();
    let e = engine_with(&fx.config, state.path()).await;
    let svc = www_id(&data(&e, &format!("{{ {WWW} }}")).await);
    let bound = |cmd: &str| {
        format!(
            r#"{{ container {{ from(address: "busybox") {{ withServiceBinding(alias: "www", service: "{svc}") {{ withExec(args: ["sh", "-c", "{cmd}"]) {{ stdout }} }} }} }} }}"#
        )
    };
    let out = |v: &Value| {
        v["container"]["from"]["withServiceBinding"]["withExec"]["stdout"].as_str().unwrap_or("").to_string()
    };

    // (what, query, expected stdout)
    let hostname = data(&e, &format!(r#"{{ loadServiceFromID(id: "{svc}") {{ hostname }} }}"#)).await
        ["loadServiceFromID"]["hostname"]
        .as_str()
        .unwrap()
        .to_string();
    let cases = [
        ("by alias", bound("wget -qO- http://www:8080/index.html"), "hello-svc".to_string()),
        ("by host name", bound(&format!("wget -qO- http://{hostname}:8080/index.html")), "hello-svc".to_string()),
        (
            "no cache hit across different commands",
            bound("wget -qO- http://www:8080/index.html; echo"),
            "hello-svc\n".to_string(),
        ),
    ];
    for (what, q, want) in &cases {
        let t = Instant::now();
        assert_eq!(&out(&data(&e, q).await), want, "{what}");
        eprintln!("{what}: {:.0} ms", t.elapsed().as_secs_f64() * 1e3);
    }
    // Concurrent steps that bind it share one instance (one address).
    let (qx, qy) = (
        bound("sleep 0.3; grep -w www /etc/hosts | cut -f1"),
        bound("sleep 0.3; grep -w www /etc/hosts | cut -f1; true"),
    );
    let (x, y) = tokio::join!(data(&e, &qx), data(&e, &qy));
    assert_eq!(out(&x), out(&y), "one instance for both steps");
    assert!(out(&x).starts_with("10.87."), "{x}");

    // Not running once unused.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(e.solver.worker().services.running(), 0, "stopped when no exec needs it");

    // The same client step again is a cache hit: the service does not start.
    let computed = e.solver.stats().computed;
    data(&e, &cases[0].1).await;
    assert_eq!(e.solver.stats().computed, computed, "cache hit");
    assert_eq!(e.solver.worker().services.running(), 0);

    // Another definition of the service changes the client's key.
    let other = data(&e, r#"{ container { from(address: "busybox") { withNewFile(path: "/srv/index.html", contents: "other") { withExposedPort(port: 8080) { asService(args: ["httpd", "-f", "-p", "8080", "-h", "/srv"]) { id } } } } } }"#).await;
    let other =
        other["container"]["from"]["withNewFile"]["withExposedPort"]["asService"]["id"].as_str().unwrap().to_string();
    let q = format!(
        r#"{{ container {{ from(address: "busybox") {{ withServiceBinding(alias: "www", service: "{other}") {{ withExec(args: ["sh", "-c", "wget -qO- http://www:8080/index.html"]) {{ stdout }} }} }} }} }}"#
    );
    assert_eq!(out(&data(&e, &q).await), "other");

    // Endpoint forms.
    let ep = data(&e, &format!(r#"{{ loadServiceFromID(id: "{svc}") {{ a: endpoint b: endpoint(scheme: "http") c: endpoint(port: 9000) ports {{ port protocol }} }} }}"#)).await;
    let ep = &ep["loadServiceFromID"];
    assert_eq!(ep["a"], json!(format!("{hostname}:8080")));
    assert_eq!(ep["b"], json!(format!("http://{hostname}:8080")));
    assert_eq!(ep["c"], json!(format!("{hostname}:9000")));
    assert_eq!(ep["ports"], json!([{"port": 8080, "protocol": "TCP"}]));

    // Explicit start keeps it running across steps; stop ends it.
    data(&e, &format!(r#"{{ loadServiceFromID(id: "{svc}") {{ start }} }}"#)).await;
    assert_eq!(e.solver.worker().services.running(), 1);
    let q = bound("wget -qO- http://www:8080/index.html; echo again");
    assert_eq!(out(&data(&e, &q).await), "hello-svcagain\n");
    assert_eq!(e.solver.worker().services.running(), 1, "still held");
    data(&e, &format!(r#"{{ loadServiceFromID(id: "{svc}") {{ stop }} }}"#)).await;
    assert_eq!(e.solver.worker().services.running(), 0);

    // A host tunnel with a fixed frontend port.
    let port = { std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port() };
    let tun = data(
        &e,
        &format!(
            r#"{{ host {{ tunnel(service: "{svc}", ports: [{{backend: 8080, frontend: {port}}}]) {{ start }} }} }}"#
        ),
    )
    .await;
    let tun = tun["host"]["tunnel"]["start"].as_str().unwrap().to_string();
    let ep = data(&e, &format!(r#"{{ loadServiceFromID(id: "{tun}") {{ endpoint }} }}"#)).await["loadServiceFromID"]
        ["endpoint"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(ep, format!("127.0.0.1:{port}"));
    let body = http_get(&ep, "/index.html").await;
    assert!(body.ends_with("hello-svc"), "{body}");
    data(&e, &format!(r#"{{ loadServiceFromID(id: "{tun}") {{ stop }} }}"#)).await;

    // A random tunnel port.
    let tun = data(&e, &format!(r#"{{ host {{ tunnel(service: "{svc}") {{ endpoint id }} }} }}"#)).await;
    let ep = tun["host"]["tunnel"]["endpoint"].as_str().unwrap().to_string();
    assert!(http_get(&ep, "/index.html").await.ends_with("hello-svc"));
    data(
        &e,
        &format!(r#"{{ loadServiceFromID(id: "{}") {{ stop }} }}"#, tun["host"]["tunnel"]["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(e.solver.worker().services.running(), 0, "tunnel and upstream stopped");

    // withHostname: the custom name resolves in clients.
    let named = data(
        &e,
        &format!(
            r#"{{ loadServiceFromID(id: "{svc}") {{ withHostname(hostname: "web.internal") {{ id hostname }} }} }}"#
        ),
    )
    .await;
    let named = &named["loadServiceFromID"]["withHostname"];
    assert_eq!(named["hostname"], json!("web.internal"));
    let q = format!(
        r#"{{ container {{ from(address: "busybox") {{ withServiceBinding(alias: "x", service: "{}") {{ withExec(args: ["wget", "-qO-", "http://web.internal:8080/index.html"]) {{ stdout }} }} }} }} }}"#,
        named["id"].as_str().unwrap()
    );
    assert_eq!(out(&data(&e, &q).await), "hello-svc");

    // up: forwards to the host until the request goes away, then the service stops.
    let port = { std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port() };
    let up = {
        let e = e.clone();
        let q =
            format!(r#"{{ loadServiceFromID(id: "{svc}") {{ up(ports: [{{backend: 8080, frontend: {port}}}]) }} }}"#);
        tokio::spawn(async move { query(&e, &q).await })
    };
    let t = Instant::now();
    let body = loop {
        if let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n").await.unwrap();
            let mut b = String::new();
            s.read_to_string(&mut b).await.unwrap();
            break b;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "up never listened");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(body.ends_with("hello-svc"), "{body}");
    assert!(!up.is_finished(), "up blocks while the service runs");
    up.abort();
    let t = Instant::now();
    while e.solver.worker().services.running() > 0 {
        assert!(t.elapsed() < Duration::from_secs(15), "the service stops once up goes away");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A server on the host, reached from a container through Host.service.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hport = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        while let Ok((mut s, _)) = listener.accept().await {
            let _ = s.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 7\r\n\r\nhost-ok").await;
        }
    });
    let hs =
        data(&e, &format!(r#"{{ host {{ service(ports: [{{backend: {hport}, frontend: 80}}]) {{ id }} }} }}"#)).await;
    let hs = hs["host"]["service"]["id"].as_str().unwrap().to_string();
    let q = format!(
        r#"{{ container {{ from(address: "busybox") {{ withServiceBinding(alias: "dev", service: "{hs}") {{ withExec(args: ["wget", "-qO-", "http://dev/"]) {{ stdout }} }} }} }} }}"#
    );
    assert_eq!(out(&data(&e, &q).await), "host-ok");

    // Errors: a service that exits, one that never listens (skipped check: starts).
    let bad = data(&e, r#"{ container { from(address: "busybox") { withExposedPort(port: 8080) { asService(args: ["sh", "-c", "echo dying; exit 3"]) { id } } } } }"#).await;
    let bad = bad["container"]["from"]["withExposedPort"]["asService"]["id"].as_str().unwrap().to_string();
    let got = query(&e, &format!(r#"{{ loadServiceFromID(id: "{bad}") {{ start }} }}"#)).await;
    let msg = got["errors"][0]["message"].as_str().unwrap_or("").to_string();
    assert!(msg.contains("exited before it was healthy") && msg.contains("dying"), "{got}");

    let slot = slot_of(&e);
    e.shutdown().await;
    drop(e);
    assert_eq!(leftovers(slot), "", "nothing of the engine's network is left");
}

async fn http_get(endpoint: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(endpoint).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes()).await.unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).await.unwrap();
    buf
}

/// Services of one session cannot be reached from another session's containers.
async fn sessions_do_not_see_each_others_services() {
    let _serial = serial().await;
    let fx = fixture();
    let (sa, sb) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = engine_with(&fx.config, sa.path()).await;
    let b = engine_with(&fx.config, sb.path()).await;
    let svc = www_id(&data(&a, &format!("{{ {WWW} }}")).await);
    data(&a, &format!(r#"{{ loadServiceFromID(id: "{svc}") {{ start }} }}"#)).await;
    // Find its address from a client of session A, then try it from session B.
    let q = format!(
        r#"{{ container {{ from(address: "busybox") {{ withServiceBinding(alias: "www", service: "{svc}") {{ withExec(args: ["sh", "-c", "grep -w www /etc/hosts | cut -f1"]) {{ stdout }} }} }} }} }}"#
    );
    let ip = data(&a, &q).await["container"]["from"]["withServiceBinding"]["withExec"]["stdout"]
        .as_str()
        .unwrap()
        .trim()
        .to_string();
    assert!(ip.starts_with("10.87."), "{ip}");
    let probe = |tag: &str| {
        format!(
            r#"{{ container {{ from(address: "busybox") {{ withExec(args: ["sh", "-c", "timeout 2 wget -qO- http://{ip}:8080/index.html; echo ' {tag}' $?"]) {{ stdout }} }} }} }}"#
        )
    };
    let from = |v: &Value| v["container"]["from"]["withExec"]["stdout"].as_str().unwrap().to_string();
    assert_eq!(from(&data(&a, &probe("a")).await), "hello-svc a 0\n", "same session");
    let got = from(&data(&b, &probe("b")).await);
    assert!(!got.contains("hello-svc") && !got.ends_with(" b 0\n"), "other session must not reach it: {got}");
    let (slot_a, slot_b) = (slot_of(&a), slot_of(&b));
    assert_ne!(slot_a, slot_b, "one bridge per engine");
    a.shutdown().await;
    b.shutdown().await;
    assert_eq!(leftovers(slot_a), "");
    assert_eq!(leftovers(slot_b), "");
}

/// Slow tier: PostgreSQL from Debian's package as a service, queried with psql.
/// Build and push the image first (`scripts/postgres-image.sh REGISTRY`), then run with
/// `TANTO_PG_IMAGE=REGISTRY/tanto/postgres:15 cargo nextest run -p tanto-engine --test services --run-ignored ignored-only postgres`.
async fn slow_postgres_service_queried_with_psql() {
    let Ok(image) = std::env::var("TANTO_PG_IMAGE") else {
        panic!(
            "set TANTO_PG_IMAGE to the image scripts/postgres-image.sh pushed (e.g. 127.0.0.1:5000/tanto/postgres:15)"
        );
    };
    let registry = image.split('/').next().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("engine.toml");
    std::fs::write(&config, format!("[registry.\"{registry}\"]\nhttp = true\n")).unwrap();
    let e = engine_with(&config, dir.path()).await;
    let db = format!(
        r#"container {{ from(address: "{image}") {{ withEnvVariable(name: "PGDATA", value: "/var/lib/postgresql/data") {{ withExposedPort(port: 5432) {{ asService(args: ["/usr/local/bin/pg-service"]) {{ id }} }} }} }} }}"#
    );
    let v = data(&e, &format!("{{ {db} }}")).await;
    let svc =
        v["container"]["from"]["withEnvVariable"]["withExposedPort"]["asService"]["id"].as_str().unwrap().to_string();
    let t = Instant::now();
    data(&e, &format!(r#"{{ container {{ from(address: "{image}") {{ sync }} }} }}"#)).await;
    eprintln!("postgres image pull and unpack: {:.0} ms", t.elapsed().as_secs_f64() * 1e3);
    let t = Instant::now();
    data(&e, &format!(r#"{{ loadServiceFromID(id: "{svc}") {{ start }} }}"#)).await;
    eprintln!("postgres start-to-healthy: {:.0} ms", t.elapsed().as_secs_f64() * 1e3);
    let q = format!(
        r#"{{ container {{ from(address: "{image}") {{ withServiceBinding(alias: "db", service: "{svc}") {{ withEnvVariable(name: "PGPASSWORD", value: "tanto") {{ withExec(args: ["psql", "-h", "db", "-U", "tanto", "-d", "tanto", "-tAc", "create table t(x int); insert into t values (20), (22); select sum(x) from t"]) {{ stdout }} }} }} }} }} }}"#
    );
    let got = data(&e, &q).await;
    let out = got["container"]["from"]["withServiceBinding"]["withEnvVariable"]["withExec"]["stdout"].as_str().unwrap();
    assert!(out.trim().ends_with("42"), "{out}");
    // The package mirror through NAT and DNS, from a step of the same image.
    let q = format!(
        r#"{{ container {{ from(address: "{image}") {{ withUser(name: "root") {{ withExec(args: ["apt-get", "update"]) {{ exitCode }} }} }} }} }}"#
    );
    assert_eq!(data(&e, &q).await["container"]["from"]["withUser"]["withExec"]["exitCode"], json!(0));
    let slot = slot_of(&e);
    e.shutdown().await;
    assert_eq!(leftovers(slot), "");
}
