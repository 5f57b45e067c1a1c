//! Bridge networking with real containers: addresses, routes, DNS config, reaching the
//! host and each other, isolation between two executors' bridges, services started with
//! `Executor::start`, and that nothing (links, rules, slot files) is left behind after
//! teardown or after an engine that is gone. Needs root, busybox-static, iptables and
//! crun and runc (the harness reports the tests as skipped otherwise, or fails them under CI).

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tanto_exec::net::BridgeConfig;
use tanto_exec::{Executor, ExecutorConfig, ExitInfo, Network, ProcessSpec, Rootfs, RuntimeKind};

tanto_testkit::tests! {
    // test                                     prerequisites                                  kind
    containers_on_the_bridge:                   [Root, Busybox, Iptables, Crun, Runc]          sync;
    sessions_are_isolated:                      [Root, Busybox, Iptables, Crun, Runc]          sync;
    leftovers_of_a_dead_engine_are_removed:     [Root, Busybox, Iptables, Crun, Runc]          sync;
    latency:                                    [Root, Busybox, Iptables, Crun, Runc]          sync slow;
    outside_through_nat:                        [Root, Busybox, Iptables, Crun, Runc, DebianMirror] sync;
}

fn busybox_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let cached = std::env::temp_dir().join("tanto-exec-net-busybox-root-v1");
        if cached.join("etc/passwd").exists() {
            return cached;
        }
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path().join("rootfs");
        for d in ["bin", "sbin", "usr/bin", "usr/sbin", "etc", "tmp", "root", "srv"] {
            fs::create_dir_all(r.join(d)).unwrap();
        }
        fs::copy("/bin/busybox", r.join("bin/busybox")).unwrap();
        let list = Command::new("/bin/busybox").arg("--list-full").output().unwrap();
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            let p = r.join(applet);
            if fs::symlink_metadata(&p).is_err() {
                symlink("/bin/busybox", p).unwrap();
            }
        }
        fs::write(r.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
        fs::write(r.join("etc/group"), "root:x:0:\n").unwrap();
        fs::write(r.join("srv/index.html"), "hello-net").unwrap();
        fs::set_permissions(r.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
        let _ = fs::rename(&r, &cached);
        cached
    })
}

/// The tests check the host's global state (links, rules, slots): one at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

struct Fixture {
    exec: Executor,
    tmp: tempfile::TempDir,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.exec.run_dir()).status();
    }
}

fn fixture(kind: RuntimeKind) -> Fixture {
    let tmp = tempfile::Builder::new().prefix("tanto-net-test").tempdir().unwrap();
    let exec = Executor::new(ExecutorConfig { runtime: kind, run_dir: tmp.path().join("run") })
        .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
    exec.enable_bridge(BridgeConfig::default()).expect("enabling the bridge");
    Fixture { exec, tmp }
}

impl Fixture {
    fn spec(&self, args: &[&str]) -> ProcessSpec {
        let d = tempfile::Builder::new().prefix("snap").tempdir_in(self.tmp.path()).unwrap().keep();
        let (upper, work) = (d.join("upper"), d.join("work"));
        fs::create_dir_all(&upper).unwrap();
        fs::create_dir_all(&work).unwrap();
        let rootfs = Rootfs::Overlay { lowers: vec![busybox_root().to_path_buf()], upper, work };
        let mut spec = ProcessSpec::new(rootfs, args.iter().map(|s| s.to_string()).collect());
        spec.network = Network::Bridge;
        spec
    }

    async fn sh(&self, script: &str) -> ExitInfo {
        self.exec.run(self.spec(&["sh", "-c", script]), None).await.unwrap()
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn out(i: &ExitInfo) -> String {
    format!(
        "exit={} stdout={:?} stderr={:?}",
        i.exit_code,
        String::from_utf8_lossy(&i.stdout),
        String::from_utf8_lossy(&i.stderr)
    )
}

fn cmd(args: &[&str]) -> String {
    let o = Command::new(args[0]).args(&args[1..]).output().unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Links, rules and slot files of tanto that exist right now, one per line.
fn tanto_state() -> String {
    let mut lines: Vec<String> = Vec::new();
    for l in cmd(&["ip", "-o", "link", "show"]).lines() {
        if let Some(name) = l.split(": ").nth(1) {
            let name = name.split('@').next().unwrap_or(name);
            if tanto_link(name) {
                lines.push(format!("link {name}"));
            }
        }
    }
    for table in ["filter", "nat"] {
        for l in cmd(&["iptables-save", "-t", table]).lines() {
            if l.contains("tanto:tanto") {
                lines.push(format!("rule {l}"));
            }
        }
    }
    lines.sort();
    lines.join("\n")
}

fn tanto_link(name: &str) -> bool {
    name.strip_prefix("tanto")
        .is_some_and(|r| r.split('v').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())))
}

/// State that belongs to slot `slot` only.
fn slot_state(slot: &str) -> String {
    tanto_state()
        .lines()
        .filter(|l| {
            l.contains(&format!("tanto{slot} "))
                || l.ends_with(&format!("tanto{slot}"))
                || l.contains(&format!("tanto{slot}v"))
                || l.contains(&format!("tanto:tanto{slot} "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// What is left of slot `slot`, checked under the engines' network lock (no engine
/// takes or frees a slot meanwhile); nothing when another live process owns the slot
/// by now (tests of other processes run at the same time).
fn slot_leftovers(slot: &str) -> String {
    let lock = fs::OpenOptions::new().create(true).truncate(false).write(true).open("/run/tanto/net/lock").unwrap();
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).unwrap();
    if let Ok(owner) = fs::read_to_string(format!("/run/tanto/net/slot-{slot}")) {
        let pid: u32 = owner.split_whitespace().next().and_then(|p| p.parse().ok()).unwrap_or(0);
        if pid != std::process::id() && Path::new(&format!("/proc/{pid}")).exists() {
            return String::new();
        }
    }
    slot_state(slot)
}

fn bridge_of(exec: &Executor) -> (String, String) {
    let gw = exec.bridge_gateway().expect("bridge exists").to_string();
    let slot = gw.split('.').nth(2).unwrap().to_string(); // 10.87.<slot>.1 with /24 blocks
    (gw, slot)
}

fn containers_on_the_bridge() {
    let _serial = serial();
    rt().block_on(async {
        for kind in [RuntimeKind::Crun, RuntimeKind::Runc] {
            let fx = fixture(kind);
            let name = fx.exec.runtime_name().to_string();
            // The first run creates the bridge.
            let first = fx.sh("ip -4 -o addr show eth0; ip route; cat /etc/resolv.conf").await;
            let (gw, slot) = bridge_of(&fx.exec);
            let block = format!("10.87.{slot}.");
            let text = String::from_utf8_lossy(&first.stdout).into_owned();
            // (what, check)
            let cases: Vec<(&str, bool)> = vec![
                ("exit 0", first.exit_code == 0),
                ("eth0 has an address of the block", text.contains(&format!("inet {block}")) && text.contains("/24")),
                ("default route via the gateway", text.contains(&format!("default via {gw} dev eth0"))),
                ("a name server", text.contains("nameserver ") && !text.contains("nameserver 127.")),
                ("the host sees the bridge", tanto_state().contains(&format!("link tanto{slot}"))),
            ];
            for (what, ok) in cases {
                assert!(ok, "[{name}] {what}: {}", out(&first));
            }

            // The host (gateway) is reachable: a listener on the gateway address.
            let listener = tokio::net::TcpListener::bind(format!("{gw}:0")).await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let accept = tokio::spawn(async move {
                use tokio::io::AsyncReadExt;
                let (mut s, peer) = listener.accept().await.unwrap();
                let mut buf = String::new();
                s.read_to_string(&mut buf).await.unwrap();
                (peer.ip().to_string(), buf)
            });
            let sent = fx.sh(&format!("echo ping | nc {gw} {port}")).await;
            assert_eq!(sent.exit_code, 0, "[{name}] {}", out(&sent));
            let (peer, got) = accept.await.unwrap();
            assert_eq!(got, "ping\n", "[{name}]");
            assert!(peer.starts_with(&block), "[{name}] peer {peer}");

            // A service started in the background, reached by a client by address.
            let svc = fx.exec.start(fx.spec(&["httpd", "-f", "-p", "8080", "-h", "/srv"]), None).await.unwrap();
            let ip = svc.ip().expect("a bridge address").to_string();
            assert!(ip.starts_with(&block), "[{name}] {ip}");
            let t = Instant::now();
            loop {
                if std::net::TcpStream::connect_timeout(
                    &format!("{ip}:8080").parse().unwrap(),
                    Duration::from_millis(200),
                )
                .is_ok()
                {
                    break;
                }
                assert!(
                    t.elapsed() < Duration::from_secs(10),
                    "[{name}] service never listened: {:?}",
                    String::from_utf8_lossy(&svc.output())
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            eprintln!("[{name}] busybox httpd start-to-listening: {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
            let got = fx.sh(&format!("wget -qO- http://{ip}:8080/index.html")).await;
            assert_eq!(String::from_utf8_lossy(&got.stdout), "hello-net", "[{name}] {}", out(&got));
            let ended = svc.stop(Duration::from_secs(5)).await;
            let info = ended.as_ref().as_ref().expect("the service ran");
            assert_eq!(info.exit_code, 143, "[{name}] httpd ends on SIGTERM: {}", out(info));
            assert!(svc.exited().is_some());

            // kill() of a service that ignores SIGTERM.
            let stubborn =
                fx.exec.start(fx.spec(&["sh", "-c", "trap '' TERM; echo up; sleep 1000"]), None).await.unwrap();
            let t = Instant::now();
            while !String::from_utf8_lossy(&stubborn.output()).contains("up") {
                assert!(t.elapsed() < Duration::from_secs(10));
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let ended = stubborn.stop(Duration::from_millis(300)).await;
            assert_eq!(ended.as_ref().as_ref().unwrap().exit_code, 137, "[{name}]");

            fx.exec.teardown_network().await.unwrap();
            assert_eq!(slot_leftovers(&slot), "", "[{name}] nothing of slot {slot} is left");
        }
    });
}

fn sessions_are_isolated() {
    let _serial = serial();
    rt().block_on(async {
        let (a, b) = (fixture(RuntimeKind::Auto), fixture(RuntimeKind::Auto));
        let svc = a.exec.start(a.spec(&["httpd", "-f", "-p", "8080", "-h", "/srv"]), None).await.unwrap();
        let ip = svc.ip().unwrap();
        let t = Instant::now();
        while std::net::TcpStream::connect_timeout(&format!("{ip}:8080").parse().unwrap(), Duration::from_millis(200))
            .is_err()
        {
            assert!(t.elapsed() < Duration::from_secs(10), "the service never listened");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // (who, executor, reachable?)
        let cases = [("same session", &a, true), ("other session", &b, false)];
        for (who, fx, want) in cases {
            let got = fx.sh(&format!("timeout 2 wget -qO- http://{ip}:8080/index.html")).await;
            assert_eq!(got.exit_code == 0, want, "{who}: {}", out(&got));
        }
        let (_, sa) = bridge_of(&a.exec);
        let (_, sb) = bridge_of(&b.exec);
        assert_ne!(sa, sb, "two executors, two bridges");
        drop(svc);
        a.exec.teardown_network().await.unwrap();
        b.exec.teardown_network().await.unwrap();
        assert_eq!(slot_leftovers(&sa), "");
        assert_eq!(slot_leftovers(&sb), "");
    });
}

/// What an engine killed with SIGKILL leaves (a slot file naming a dead process, its
/// bridge, a veth, tagged rules) is removed by the next executor that enables the bridge.
fn leftovers_of_a_dead_engine_are_removed() {
    let _serial = serial();
    let state = Path::new("/run/tanto/net");
    fs::create_dir_all(state).unwrap();
    let slot = 250;
    let name = format!("tanto{slot}");
    let sh = |script: &str| {
        let st = Command::new("sh").arg("-c").arg(script).status().unwrap();
        assert!(st.success(), "{script}");
    };
    // Made under the engines' lock, as an engine would have.
    sh(&format!(
        "flock /run/tanto/net/lock sh -c \"echo '999999999 12345' > /run/tanto/net/slot-{slot} && \
         ip link add {name} type bridge && ip link add {name}v7 type veth peer name {name}p && \
         printf '*filter\\n-I FORWARD 1 -i {name} -m comment --comment tanto:{name} -j ACCEPT\\nCOMMIT\\n*nat\\n-A POSTROUTING -s 10.87.{slot}.0/24 ! -o {name} -m comment --comment tanto:{name} -j MASQUERADE\\nCOMMIT\\n' | iptables-restore --noflush\""
    ));
    assert!(slot_state(&slot.to_string()).contains(&format!("link {name}")));
    let fx = fixture(RuntimeKind::Auto);
    assert_eq!(slot_leftovers(&slot.to_string()), "", "everything of the dead engine is gone");
    assert!(!state.join(format!("slot-{slot}")).exists());
    drop(fx);
}

/// Per-run cost of the network: `true` with a loopback-only namespace, the host's
/// network and a bridge namespace; run with
/// `cargo test -p tanto-exec --release --test network latency -- --ignored --nocapture`.
fn latency() {
    let _serial = serial();
    rt().block_on(async {
        for kind in [RuntimeKind::Crun, RuntimeKind::Runc] {
            let fx = fixture(kind);
            // Round robin, so load from elsewhere hits every mode alike.
            let modes = [("loopback", Network::Loopback), ("host", Network::Host), ("bridge", Network::Bridge)];
            let n = 60;
            let mut times: Vec<Vec<Duration>> = vec![Vec::new(); modes.len()];
            for i in 0..n + 3 {
                for (m, (_, network)) in modes.iter().enumerate() {
                    let mut spec = fx.spec(&["/bin/true"]);
                    spec.network = network.clone();
                    let t = Instant::now();
                    let info = fx.exec.run(spec, None).await.unwrap();
                    assert_eq!(info.exit_code, 0);
                    if i >= 3 {
                        times[m].push(t.elapsed());
                    }
                }
            }
            let ms = |d: Duration| d.as_secs_f64() * 1e3;
            for ((label, _), t) in modes.iter().zip(&mut times) {
                t.sort();
                println!(
                    "{} {label}: `true`, n={n}: median {:.1} ms, min {:.1} ms, p90 {:.1} ms",
                    fx.exec.runtime_name(),
                    ms(t[n / 2]),
                    ms(t[0]),
                    ms(t[n * 9 / 10]),
                );
            }
            fx.exec.teardown_network().await.unwrap();
        }
    });
}

/// Reaching the package mirror through NAT and DNS (needs the host's network).
fn outside_through_nat() {
    let _serial = serial();
    rt().block_on(async {
        let fx = fixture(RuntimeKind::Auto);
        let got = fx.sh("wget -qO- http://deb.debian.org/debian/dists/bookworm/Release | head -c 200").await;
        assert_eq!(got.exit_code, 0, "{}", out(&got));
        assert!(String::from_utf8_lossy(&got.stdout).contains("Debian"), "{}", out(&got));
        fx.exec.teardown_network().await.unwrap();
    });
}
