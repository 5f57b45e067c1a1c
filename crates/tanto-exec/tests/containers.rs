//! Runs real containers with crun and runc over a busybox root filesystem built from the
//! host's static /bin/busybox. Needs root and both runtimes (the harness reports the tests
//! as skipped otherwise, or fails them under CI).

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tanto_exec::{
    ExecError, Executor, ExecutorConfig, ExitInfo, Mount, MountSource, Network, OutputStream, ProcessSpec, Rootfs,
    RuntimeKind,
};

tanto_testkit::tests! {
    // test                                      prerequisites                  kind
    process_basics:                              [Root, Busybox, Crun, Runc]    sync;
    combined_order_and_events:                   [Root, Busybox, Crun, Runc]    sync;
    killed_by_signal:                            [Root, Busybox, Crun, Runc]    sync;
    redirects:                                   [Root, Busybox, Crun, Runc]    sync;
    filesystems_and_stubs:                       [Root, Busybox, Crun, Runc]    sync;
    many_lowers:                                 [Root, Busybox, Crun, Runc]    sync;
    host_network_and_privileged:                 [Root, Busybox, Crun, Runc]    sync;
    cancellation_cleans_up:                      [Root, Busybox, Crun, Runc]    sync;
    stale_bundles_are_cleaned:                   [Root, Busybox, Crun, Runc]    sync;
    latency:                                     [Root, Busybox, Crun, Runc]    sync slow;
    runtime_errors_big_output_and_concurrency:   [Root, Busybox, Crun, Runc]    sync;
    init_as_pid_one:                             [Root, Busybox, Crun, Runc]    sync;
}

/// The busybox root filesystem, built once per test process.
fn busybox_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        // Cached across test runs; built aside and renamed into place.
        let cached = std::env::temp_dir().join("tanto-exec-busybox-root-v1");
        if cached.join("etc/group").exists() {
            return cached;
        }
        let dir = tempfile::Builder::new().prefix("tanto-exec-base").tempdir().unwrap();
        let r = dir.path().join("rootfs");
        for d in ["bin", "sbin", "usr/bin", "usr/sbin", "etc", "tmp", "root", "data"] {
            fs::create_dir_all(r.join(d)).unwrap();
        }
        fs::copy("/bin/busybox", r.join("bin/busybox")).unwrap();
        let list = std::process::Command::new("/bin/busybox").arg("--list-full").output().unwrap();
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            let p = r.join(applet);
            if fs::symlink_metadata(&p).is_err() {
                symlink("/bin/busybox", p).unwrap();
            }
        }
        fs::write(
            r.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        )
        .unwrap();
        fs::write(r.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
        fs::write(r.join("etc/in.txt"), "from a file\n").unwrap();
        fs::write(r.join("data/lower.txt"), "lower\n").unwrap();
        fs::set_permissions(r.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
        // Losing the race to another test process is fine: its tree is identical.
        let _ = fs::rename(&r, &cached);
        cached
    })
}

struct Fixture {
    exec: Executor,
    tmp: tempfile::TempDir,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(self.exec.run_dir()).status();
    }
}

/// One fixture per runtime.
fn fixtures() -> Vec<Fixture> {
    [RuntimeKind::Crun, RuntimeKind::Runc]
        .into_iter()
        .map(|kind| {
            let tmp = tempfile::Builder::new().prefix("tanto-exec-test").tempdir().unwrap();
            let exec = Executor::new(ExecutorConfig { runtime: kind, run_dir: tmp.path().join("run") })
                .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
            Fixture { exec, tmp }
        })
        .collect()
}

impl Fixture {
    fn name(&self) -> &str {
        self.exec.runtime_name()
    }

    /// A fresh overlay rootfs over the busybox root; returns (spec, upper).
    fn spec(&self, args: &[&str]) -> (ProcessSpec, PathBuf) {
        let d = tempfile::Builder::new().prefix("snap").tempdir_in(self.tmp.path()).unwrap().keep();
        let (upper, work) = (d.join("upper"), d.join("work"));
        fs::create_dir_all(&upper).unwrap();
        fs::create_dir_all(&work).unwrap();
        let rootfs = Rootfs::Overlay { lowers: vec![busybox_root().to_path_buf()], upper: upper.clone(), work };
        (ProcessSpec::new(rootfs, args.iter().map(|s| s.to_string()).collect()), upper)
    }

    fn dir(&self, name: &str) -> PathBuf {
        let p = self.tmp.path().join(name);
        fs::create_dir_all(&p).unwrap();
        p
    }
}

fn render(r: &Result<ExitInfo, ExecError>) -> String {
    match r {
        Ok(i) => format!(
            "exit={} stdout={:?} stderr={:?}",
            i.exit_code,
            String::from_utf8_lossy(&i.stdout),
            String::from_utf8_lossy(&i.stderr)
        ),
        Err(e) => format!("error: {e}"),
    }
}

/// Runs `spec` and compares the rendered outcome with `expect`.
async fn check(fx: &Fixture, case: &str, spec: ProcessSpec, expect: &str) -> Result<ExitInfo, ExecError> {
    let res = fx.exec.run(spec, None).await;
    assert_eq!(render(&res), expect, "[{}] case `{case}`", fx.name());
    res
}

fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(base: &Path, d: &Path, out: &mut Vec<String>) {
        let mut entries: Vec<_> = fs::read_dir(d).map(|r| r.flatten().collect()).unwrap_or_default();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            out.push(p.strip_prefix(base).unwrap().display().to_string());
            if e.file_type().unwrap().is_dir() {
                walk(base, &p, out);
            }
        }
    }
    walk(dir, dir, &mut out);
    out
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn process_basics() {
    rt().block_on(async {
        for fx in fixtures() {
            type Tweak = Box<dyn Fn(&mut ProcessSpec)>;
            let cases: Vec<(&str, Tweak, &str, &[&str])> = vec![
                ("echo", Box::new(|_| {}), "exit=0 stdout=\"out\\n\" stderr=\"err\\n\"", &["sh", "-c", "echo out; echo err >&2"]),
                ("exit 3", Box::new(|_| {}), "exit=3 stdout=\"\" stderr=\"\"", &["sh", "-c", "exit 3"]),
                ("stdin", Box::new(|s| s.stdin = Some(b"hello\n".to_vec())), "exit=0 stdout=\"hello\\n\" stderr=\"\"", &["cat"]),
                ("no stdin", Box::new(|_| {}), "exit=0 stdout=\"\" stderr=\"\"", &["cat"]),
                ("user nobody", Box::new(|s| s.user = "nobody".into()), "exit=0 stdout=\"65534 65534\\n\" stderr=\"\"", &["sh", "-c", "echo $(id -u) $(id -g)"]),
                ("user uid:gid", Box::new(|s| s.user = "1234:5678".into()), "exit=0 stdout=\"1234 5678\\n\" stderr=\"\"", &["sh", "-c", "echo $(id -u) $(id -g)"]),
                ("env", Box::new(|s| s.env = vec!["FOO=bar baz".into()]), "exit=0 stdout=\"bar baz /root /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\\n\" stderr=\"\"", &["sh", "-c", "echo $FOO $HOME $PATH"]),
                ("cwd created", Box::new(|s| s.cwd = "/a/b/c".into()), "exit=0 stdout=\"/a/b/c\\n\" stderr=\"\"", &["pwd"]),
                ("hostname", Box::new(|s| s.hostname = "box1".into()), "exit=0 stdout=\"box1\\n127.0.0.1\\tlocalhost box1\\n\" stderr=\"\"", &["sh", "-c", "hostname; head -1 /etc/hosts"]),
                ("extra hosts", Box::new(|s| s.extra_hosts = vec![("db".into(), "10.1.2.3".parse().unwrap())]), "exit=0 stdout=\"10.1.2.3\\tdb\\n\" stderr=\"\"", &["grep", "10.1.2.3", "/etc/hosts"]),
                ("loopback only", Box::new(|_| {}), "exit=0 stdout=\"lo\\n\" stderr=\"\"", &["sh", "-c", "ls /sys/class/net"]),
                ("default caps", Box::new(|_| {}), "exit=0 stdout=\"CapEff:\\t00000000a80425fb\\n\" stderr=\"\"", &["grep", "CapEff", "/proc/self/status"]),
                ("masked timer_list", Box::new(|_| {}), "exit=0 stdout=\"0\\n\" stderr=\"\"", &["sh", "-c", "wc -c < /proc/timer_list"]),
                ("relative command", Box::new(|s| s.cwd = "/bin".into()), "exit=0 stdout=\"ok\\n\" stderr=\"\"", &["./busybox", "echo", "ok"]),
                ("command not found", Box::new(|_| {}), "error: `nope` not found in the container's $PATH (/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin): install it in the image or use an absolute path", &["nope"]),
                ("not found with PATH", Box::new(|s| s.env = vec!["PATH=/usr/bin".into()]), "error: `true` not found in the container's $PATH (/usr/bin): install it in the image or use an absolute path", &["true"]),
                ("absolute not found", Box::new(|_| {}), "error: `/bin/nope` not found in the container's $PATH (/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin): install it in the image or use an absolute path", &["/bin/nope"]),
                ("unknown user", Box::new(|s| s.user = "ghost".into()), "error: invalid user `ghost`: no user `ghost` in the container's /etc/passwd", &["true"]),
                ("empty args", Box::new(|s| s.args.clear()), "error: invalid process spec: `args` is empty: give the command to run as its first element", &["true"]),
            ];
            for (name, tweak, expect, args) in cases {
                let (mut spec, _) = fx.spec(args);
                tweak(&mut spec);
                let _ = check(&fx, name, spec, expect).await;
                // Success or error, nothing is left mounted or on disk.
                assert_eq!(leftovers(&fx), "", "[{}] case `{name}` left things behind", fx.name());
            }
        }
    });
}

fn combined_order_and_events() {
    rt().block_on(async {
        for fx in fixtures() {
            let (spec, _) = fx.spec(&["sh", "-c", "echo a; sleep 0.05; echo b >&2; sleep 0.05; echo c"]);
            let seen = Arc::new(Mutex::new(Vec::new()));
            let s2 = seen.clone();
            let sink: tanto_exec::OutputSink = Arc::new(move |stream, chunk: &[u8]| {
                s2.lock().unwrap().push((stream, chunk.to_vec()));
            });
            let info = fx.exec.run(spec, Some(sink)).await.unwrap();
            assert_eq!(String::from_utf8_lossy(&info.combined), "a\nb\nc\n", "[{}]", fx.name());
            assert_eq!(info.stdout, b"a\nc\n");
            assert_eq!(info.stderr, b"b\n");
            let seen = seen.lock().unwrap();
            let streams: Vec<OutputStream> = seen.iter().map(|(s, _)| *s).collect();
            assert_eq!(streams, [OutputStream::Stdout, OutputStream::Stderr, OutputStream::Stdout], "[{}]", fx.name());
        }
    });
}

/// Finds a host pid whose cmdline is exactly `args`.
fn find_process(args: &[&str]) -> Option<i32> {
    let want: Vec<u8> = args.iter().flat_map(|a| a.bytes().chain(std::iter::once(0))).collect();
    fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: i32 = e.file_name().to_str()?.parse().ok()?;
        (fs::read(e.path().join("cmdline")).ok()? == want).then_some(pid)
    })
}

fn killed_by_signal() {
    rt().block_on(async {
        for fx in fixtures() {
            let marker = format!("{}", 40000 + std::process::id() % 20000);
            let (spec, _) = fx.spec(&["sleep", &marker]);
            let run = fx.exec.run(spec, None);
            let killer = async {
                for _ in 0..200 {
                    if let Some(pid) = find_process(&["sleep", &marker]) {
                        let _ = std::process::Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                panic!("container process never appeared");
            };
            let (res, ()) = tokio::join!(run, killer);
            assert_eq!(render(&res), "exit=137 stdout=\"\" stderr=\"\"", "[{}]", fx.name());
        }
    });
}

fn redirects() {
    rt().block_on(async {
        for fx in fixtures() {
            let (mut spec, upper) = fx.spec(&["sh", "-c", "cat; echo to-err >&2"]);
            spec.cwd = "/work".into();
            spec.user = "nobody".into();
            spec.redirect_stdin = Some("/etc/in.txt".into());
            spec.redirect_stdout = Some("out.txt".into());
            spec.redirect_stderr = Some("/tmp/err.txt".into());
            check(&fx, "redirects", spec, "exit=0 stdout=\"\" stderr=\"\"").await.unwrap();
            assert_eq!(fs::read_to_string(upper.join("work/out.txt")).unwrap(), "from a file\n");
            assert_eq!(fs::read_to_string(upper.join("tmp/err.txt")).unwrap(), "to-err\n");
            use std::os::unix::fs::MetadataExt;
            assert_eq!(fs::metadata(upper.join("work/out.txt")).unwrap().uid(), 65534);

            // A symlink pointing out of the root stays inside it.
            let (mut spec, upper) = fx.spec(&["sh", "-c", "ln -s /../../../../../../tmp/escaped /etc/link"]);
            spec.user = String::new();
            check(&fx, "make link", spec, "exit=0 stdout=\"\" stderr=\"\"").await.unwrap();
            let rootfs = Rootfs::Overlay {
                lowers: vec![upper.clone(), busybox_root().to_path_buf()],
                upper: fx.dir("up2"),
                work: fx.dir("work2"),
            };
            let mut spec = ProcessSpec::new(rootfs, vec!["echo".into(), "contained".into()]);
            spec.redirect_stdout = Some("/etc/link".into());
            check(&fx, "redirect through symlink", spec, "exit=0 stdout=\"\" stderr=\"\"").await.unwrap();
            assert!(!Path::new("/tmp/escaped").exists(), "redirect escaped the root");
            assert_eq!(fs::read_to_string(fx.tmp.path().join("up2/tmp/escaped")).unwrap(), "contained\n");
        }
    });
}

fn filesystems_and_stubs() {
    rt().block_on(async {
        for fx in fixtures() {
            // Writes land in upper; the lower is untouched; stubs are gone afterwards.
            let (spec, upper) = fx.spec(&[
                "sh",
                "-c",
                "echo new > /newfile; echo changed > /data/lower.txt; cat /etc/hostname >/dev/null",
            ]);
            check(&fx, "overlay root", spec, "exit=0 stdout=\"\" stderr=\"\"").await.unwrap();
            assert_eq!(fs::read_to_string(upper.join("newfile")).unwrap(), "new\n");
            assert_eq!(fs::read_to_string(busybox_root().join("data/lower.txt")).unwrap(), "lower\n");
            // Only what the process wrote: no /proc, /dev, /sys, /etc/hosts, /etc/hostname stubs.
            assert_eq!(tree(&upper), ["data", "data/lower.txt", "newfile"], "[{}]", fx.name());

            // Bind (rw and ro), tmpfs, and an overlay mount with an upper.
            let host = fx.dir("hostdir");
            fs::write(host.join("file"), "host file\n").unwrap();
            let (l1, l2, mu, mw) = (fx.dir("ml1"), fx.dir("ml2"), fx.dir("mupper"), fx.dir("mwork"));
            fs::write(l1.join("top"), "top\n").unwrap();
            fs::write(l2.join("top"), "hidden\n").unwrap();
            fs::write(l2.join("bottom"), "bottom\n").unwrap();
            let (mut spec, upper) = fx.spec(&[
                "sh",
                "-c",
                "cat /mnt/rw/file /data/ov/top /data/ov/bottom; echo w > /mnt/rw/written; \
                 (echo x > /mnt/ro/x) 2>/dev/null || echo ro-refused; \
                 grep -c ' /scratch tmpfs ' /proc/mounts; echo y > /data/ov/added; \
                 (echo v > /deep/ro-view/ignored) 2>/dev/null || echo ro-overlay-refused",
            ]);
            spec.mounts = vec![
                Mount { target: "/mnt/rw".into(), source: MountSource::Bind { path: host.clone(), readonly: false } },
                Mount { target: "/mnt/ro".into(), source: MountSource::Bind { path: host.clone(), readonly: true } },
                Mount { target: "/scratch".into(), source: MountSource::Tmpfs { size: Some(1 << 20) } },
                Mount {
                    target: "/data/ov".into(),
                    source: MountSource::Overlay {
                        lowers: vec![l1.clone(), l2.clone()],
                        upper: Some((mu.clone(), mw)),
                    },
                },
                Mount {
                    target: "/deep/ro-view".into(),
                    source: MountSource::Overlay { lowers: vec![l1.clone(), l2.clone()], upper: None },
                },
            ];
            check(
                &fx,
                "mounts",
                spec,
                "exit=0 stdout=\"host file\\ntop\\nbottom\\nro-refused\\n1\\nro-overlay-refused\\n\" stderr=\"\"",
            )
            .await
            .unwrap();
            assert_eq!(fs::read_to_string(host.join("written")).unwrap(), "w\n");
            assert_eq!(fs::read_to_string(mu.join("added")).unwrap(), "y\n");
            assert!(!l1.join("added").exists());
            // Mount targets that did not exist are gone from upper; /data existed in the lower.
            assert_eq!(tree(&upper), Vec::<String>::new(), "[{}] upper after mounts", fx.name());
            fs::remove_file(host.join("written")).unwrap();

            // A directory rootfs, and a file bind whose target is created as a stub.
            let dir_root = fx.dir("dirroot");
            let (spec0, _) = fx.spec(&["sh", "-c", "cp -a /bin /etc /usr /sbin /tmp /dirroot/"]);
            let mut spec0 = spec0;
            spec0.mounts = vec![Mount {
                target: "/dirroot".into(),
                source: MountSource::Bind { path: dir_root.clone(), readonly: false },
            }];
            check(&fx, "populate dir root", spec0, "exit=0 stdout=\"\" stderr=\"\"").await.unwrap();
            let before = tree(&dir_root);
            let mut spec =
                ProcessSpec::new(Rootfs::Dir(dir_root.clone()), vec!["cat".into(), "/opt/conf/file.txt".into()]);
            spec.mounts = vec![Mount {
                target: "/opt/conf/file.txt".into(),
                source: MountSource::Bind { path: host.join("file"), readonly: true },
            }];
            check(&fx, "dir rootfs + file bind", spec, "exit=0 stdout=\"host file\\n\" stderr=\"\"").await.unwrap();
            assert_eq!(tree(&dir_root), before, "[{}] dir root changed", fx.name());
        }
    });
}

fn many_lowers() {
    rt().block_on(async {
        for fx in fixtures() {
            let n = 130;
            let mut lowers = Vec::new();
            for i in 0..n {
                let l = fx.dir(&format!("layers/layer-with-a-fairly-long-name-to-exceed-one-page-{i:04}"));
                fs::write(l.join(format!("f{i}")), format!("{i}\n")).unwrap();
                fs::write(l.join("which"), format!("{i}\n")).unwrap();
                lowers.push(l);
            }
            lowers.push(busybox_root().to_path_buf());
            let rootfs = Rootfs::Overlay { lowers, upper: fx.dir("many-up"), work: fx.dir("many-work") };
            let spec = ProcessSpec::new(
                rootfs,
                vec!["sh".into(), "-c".into(), "cat /which /f0 /f129; ls / | grep -c '^f'".into()],
            );
            check(&fx, "130 lowers", spec, "exit=0 stdout=\"0\\n0\\n129\\n130\\n\" stderr=\"\"").await.unwrap();
        }
    });
}

fn host_network_and_privileged() {
    rt().block_on(async {
        for fx in fixtures() {
            // The interface of the host's default route (other tests add and remove
            // veths concurrently, so counting interfaces would race).
            let route = fs::read_to_string("/proc/net/route").unwrap_or_default();
            let iface = route.lines().skip(1).find(|l| l.split_whitespace().nth(1) == Some("00000000")).and_then(|l| l.split_whitespace().next()).unwrap_or("lo").to_string();
            let (mut spec, _) = fx.spec(&["sh", "-c", &format!("test -e /sys/class/net/{iface} && echo host-iface; test -s /etc/resolv.conf && echo resolv")]);
            spec.network = Network::Host;
            let want_resolv = if Path::new("/etc/resolv.conf").metadata().map(|m| m.len() > 0).unwrap_or(false) { "resolv\\n" } else { "" };
            check(&fx, "host network", spec, &format!("exit=0 stdout=\"host-iface\\n{want_resolv}\" stderr=\"\"")).await.unwrap();

            // A block device of the host shows up only in privileged containers.
            let block = fs::read_dir("/sys/block").unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).find(|n| Path::new("/dev").join(n).exists());
            let probe = block.as_ref().map(|b| format!("test -b /dev/{b} && echo has-device")).unwrap_or_else(|| "echo has-device".into());
            let (spec, _) = fx.spec(&["sh", "-c", &format!("{probe} || echo no-device")]);
            check(&fx, "unprivileged devices", spec, if block.is_some() { "exit=0 stdout=\"no-device\\n\" stderr=\"\"" } else { "exit=0 stdout=\"has-device\\n\" stderr=\"\"" }).await.unwrap();

            let (mut spec, _) = fx.spec(&["sh", "-c", &format!("grep CapEff /proc/self/status; wc -c < /proc/timer_list | grep -qv '^0$' && echo timer-list-visible; {probe}")]);
            spec.privileged = true;
            let own = fs::read_to_string("/proc/self/status").unwrap();
            let caps = own.lines().find(|l| l.starts_with("CapEff")).unwrap().to_string();
            let res = fx.exec.run(spec, None).await.unwrap();
            assert_eq!(String::from_utf8_lossy(&res.stdout), format!("{caps}\ntimer-list-visible\nhas-device\n"), "[{}] privileged", fx.name());
        }
    });
}

fn mounts_under(dir: &Path) -> Vec<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|p| Path::new(p).starts_with(dir) && Path::new(p) != dir)
        .collect()
}

/// Mounts, bundles and runtime containers still present under the run dir.
fn leftovers(fx: &Fixture) -> String {
    let run_dir = fx.exec.run_dir();
    let mounts = mounts_under(run_dir);
    let bundles: Vec<_> =
        fs::read_dir(run_dir).unwrap().flatten().map(|e| e.file_name()).filter(|n| n != "runtime").collect();
    let containers = containers(fx);
    if mounts.is_empty() && bundles.is_empty() && containers.is_empty() {
        String::new()
    } else {
        format!("mounts={mounts:?} bundles={bundles:?} containers={containers:?}")
    }
}

fn containers(fx: &Fixture) -> String {
    let bin = if fx.name() == "crun" { "crun" } else { "runc" };
    let out = std::process::Command::new(bin)
        .arg("--root")
        .arg(fx.exec.run_dir().join("runtime"))
        .args(["list", "-q"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn cancellation_cleans_up() {
    rt().block_on(async {
        for fx in fixtures() {
            let (mut spec, upper) = fx.spec(&["sleep", "30"]);
            spec.mounts = vec![Mount { target: "/cancel/tmp".into(), source: MountSource::Tmpfs { size: None } }];
            let res = tokio::time::timeout(Duration::from_millis(700), fx.exec.run(spec, None)).await;
            assert!(res.is_err(), "sleep 30 finished early");
            let mut left = String::new();
            for _ in 0..100 {
                tokio::time::sleep(Duration::from_millis(50)).await;
                left = leftovers(&fx);
                if left.is_empty() {
                    break;
                }
            }
            assert_eq!(left, "", "[{}] cancellation left things behind", fx.name());
            assert_eq!(tree(&upper), Vec::<String>::new(), "[{}] stubs left after cancel", fx.name());
            assert!(find_process(&["sleep", "30"]).is_none(), "[{}] container process survived", fx.name());
        }
    });
}

fn stale_bundles_are_cleaned() {
    rt().block_on(async {
        for fx in fixtures() {
            // A bundle of a dead engine (pid 1 never matches its start time here… use an
            // impossible pid) with a mount inside.
            let run_dir = fx.exec.run_dir().to_path_buf();
            let stale = run_dir.join("t999999999-00112233aabbccdd");
            fs::create_dir_all(stale.join("rootfs")).unwrap();
            fs::write(stale.join("owner"), "999999999 1\n").unwrap();
            let st = std::process::Command::new("mount")
                .args(["-t", "tmpfs", "tmpfs"])
                .arg(stale.join("rootfs"))
                .status()
                .unwrap();
            assert!(st.success());
            let cleaned = fx.exec.cleanup_stale().await.unwrap();
            assert_eq!(cleaned, 1, "[{}]", fx.name());
            assert!(!stale.exists());
            assert!(mounts_under(&run_dir).is_empty());
        }
    });
}

/// Per-run latency of `true` over a fresh overlay, with and without the init; run with
/// `cargo test -p tanto-exec --release --test containers latency -- --ignored --nocapture`.
fn latency() {
    rt().block_on(async {
        for fx in fixtures() {
            for no_init in [false, true] {
                let n = 50;
                let mut times = Vec::new();
                for i in 0..n + 3 {
                    let (mut spec, _) = fx.spec(&["/bin/true"]);
                    spec.no_init = no_init;
                    let t = std::time::Instant::now();
                    let info = fx.exec.run(spec, None).await.unwrap();
                    assert_eq!(info.exit_code, 0);
                    if i >= 3 {
                        times.push(t.elapsed());
                    }
                }
                times.sort();
                let ms = |d: Duration| d.as_secs_f64() * 1e3;
                println!(
                    "{} ({}): `true` over a fresh overlay, n={n}: median {:.1} ms, min {:.1} ms, p90 {:.1} ms, max {:.1} ms",
                    fx.name(),
                    if no_init || fx.exec.init_path().is_none() { "no init" } else { "init" },
                    ms(times[n / 2]),
                    ms(times[0]),
                    ms(times[n * 9 / 10]),
                    ms(times[n - 1]),
                );
            }
        }
    });
}

fn runtime_errors_big_output_and_concurrency() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Executor>();
    rt().block_on(async {
        for fx in fixtures() {
            // The runtime itself fails: a file bound onto a directory.
            let host = fx.dir("rt-err");
            fs::write(host.join("file"), "x").unwrap();
            let (mut spec, upper) = fx.spec(&["true"]);
            spec.mounts = vec![Mount {
                target: "/etc".into(),
                source: MountSource::Bind { path: host.join("file"), readonly: true },
            }];
            let res = fx.exec.run(spec, None).await;
            match &res {
                Err(ExecError::Runtime { runtime, message }) => {
                    assert_eq!(runtime, fx.name());
                    assert!(!message.is_empty());
                    eprintln!("[{}] runtime error: {message}", fx.name());
                }
                other => panic!("[{}] expected a runtime error, got {}", fx.name(), render(other)),
            }
            assert_eq!(tree(&upper), Vec::<String>::new(), "[{}] upper after runtime error", fx.name());
            assert!(mounts_under(fx.exec.run_dir()).is_empty());

            // Large output is captured whole.
            let (spec, _) = fx.spec(&["sh", "-c", "head -c 3000000 /dev/zero; head -c 1000000 /dev/zero >&2"]);
            let info = fx.exec.run(spec, None).await.unwrap();
            assert_eq!((info.stdout.len(), info.stderr.len(), info.combined.len()), (3_000_000, 1_000_000, 4_000_000));

            // Concurrent runs do not interfere.
            let runs = (0..8).map(|i| {
                let (spec, _) = fx.spec(&["sh", "-c", &format!("echo {i}; sleep 0.1")]);
                let exec = fx.exec.clone();
                tokio::spawn(async move { exec.run(spec, None).await })
            });
            let outs: Vec<String> = futures_join(runs.collect()).await;
            assert_eq!(outs, (0..8).map(|i| format!("{i}\n")).collect::<Vec<_>>(), "[{}]", fx.name());
            assert!(mounts_under(fx.exec.run_dir()).is_empty());
        }
    });
}

async fn futures_join(handles: Vec<tokio::task::JoinHandle<Result<ExitInfo, ExecError>>>) -> Vec<String> {
    let mut out = Vec::new();
    for h in handles {
        out.push(String::from_utf8_lossy(&h.await.unwrap().unwrap().stdout).into_owned());
    }
    out
}

fn init_as_pid_one() {
    rt().block_on(async {
        for fx in fixtures() {
            let has_init = fx.exec.init_path().is_some();
            eprintln!("[{}] init: {:?}", fx.name(), fx.exec.init_path());
            let (spec, upper) = fx.spec(&["sh", "-c", "tr '\\0' ' ' < /proc/1/cmdline; echo"]);
            let want = if has_init {
                // tini takes `-p SIGKILL`: it dies with the runtime, the runtime with the engine
                "exit=0 stdout=\"/dev/init -p SIGKILL -- sh -c tr '\\\\0' ' ' < /proc/1/cmdline; echo \\n\" stderr=\"\""
            } else {
                "exit=0 stdout=\"sh -c tr '\\\\0' ' ' < /proc/1/cmdline; echo \\n\" stderr=\"\""
            };
            check(&fx, "with init", spec, want).await.unwrap();
            assert_eq!(tree(&upper), Vec::<String>::new());
            let (mut spec, _) = fx.spec(&["sh", "-c", "echo $$"]);
            spec.no_init = true;
            check(&fx, "no init", spec, "exit=0 stdout=\"1\\n\" stderr=\"\"").await.unwrap();
            // Exit codes pass through the init.
            let (spec, _) = fx.spec(&["sh", "-c", "exit 7"]);
            check(&fx, "exit through init", spec, "exit=7 stdout=\"\" stderr=\"\"").await.unwrap();
        }
    });
}
