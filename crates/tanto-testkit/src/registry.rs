//! Debian's `docker-registry` on 127.0.0.1:<free port> with a config of its
//! own (no auth, storage in the work dir), and pushing images to it over
//! plain HTTP (OCI distribution API).

use std::fs::{self, File, OpenOptions};
use std::io::Read as _;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::http::{self, request};
use crate::image::{Image, OCI_MANIFEST};

pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

/// A running registry. Stops (SIGTERM, then SIGKILL) when dropped, unless
/// [`Registry::detach`]ed.
#[derive(Debug)]
pub struct Registry {
    workdir: PathBuf,
    port: u16,
    pid: u32,
    child: Option<Child>,
    attached: bool,
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

fn write_config(workdir: &Path, port: u16) -> Result<PathBuf> {
    let storage = workdir.join("data");
    fs::create_dir_all(&storage)?;
    let config = workdir.join("config.yml");
    fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  cache:\n    blobdescriptor: inmemory\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            storage.display()
        ),
    )?;
    Ok(config)
}

impl Registry {
    /// Starts a registry with its data in `workdir` and waits until `GET /v2/`
    /// answers. It also dies when this process dies (`PR_SET_PDEATHSIG`, set
    /// from a spawner thread that lives as long as the process), so a crashed
    /// test leaves nothing behind.
    pub fn start(workdir: &Path) -> Result<Registry> {
        Self::spawn(workdir, true)
    }

    /// Like [`Registry::start`], but the registry outlives this process: it
    /// runs in its own session and is not tied to our lifetime. Stop it with
    /// [`stop_pidfile`].
    pub fn start_detached(workdir: &Path) -> Result<Registry> {
        let mut r = Self::spawn(workdir, false)?;
        r.attached = false;
        Ok(r)
    }

    fn spawn(workdir: &Path, attached: bool) -> Result<Registry> {
        if !Path::new(REGISTRY_BIN).exists() {
            bail!("`{REGISTRY_BIN}` not found: install it with `apt-get install -y docker-registry`");
        }
        fs::create_dir_all(workdir).with_context(|| format!("creating `{}`", workdir.display()))?;
        let workdir = fs::canonicalize(workdir)?;
        let mut last_error = String::new();
        for _attempt in 0..3 {
            let port = free_port()?;
            let config = write_config(&workdir, port)?;
            let log = OpenOptions::new().create(true).append(true).open(workdir.join("registry.log"))?;
            let mut cmd = Command::new(REGISTRY_BIN);
            cmd.arg("serve").arg(&config).stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
            // SAFETY: only async-signal-safe calls (setsid, prctl, getppid) between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    libc::setsid();
                    if attached {
                        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong, 0, 0, 0) != 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                        // the parent may have died before prctl
                        if libc::getppid() == 1 {
                            return Err(std::io::Error::other("parent exited"));
                        }
                    }
                    Ok(())
                });
            }
            let child = if attached { spawn_on_keeper(cmd) } else { cmd.spawn() }
                .with_context(|| format!("starting `{REGISTRY_BIN}`"))?;
            let pid = child.id();
            fs::write(workdir.join("registry.pid"), format!("{pid}\n"))?;
            let mut reg = Registry { workdir: workdir.clone(), port, pid, child: Some(child), attached: true };
            match reg.wait_ready(Duration::from_secs(20)) {
                Ok(()) => {
                    fs::write(workdir.join("registry.addr"), format!("{}\n", reg.address()))?;
                    reg.attached = attached;
                    return Ok(reg);
                }
                Err(e) => {
                    last_error = format!("{e:#}\nlog:\n{}", reg.log_tail());
                    reg.stop_inner();
                }
            }
        }
        bail!("docker-registry did not become ready: {last_error}")
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let url = format!("http://{}/v2/", self.address());
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    bail!("docker-registry exited with {status}");
                }
            }
            if let Ok(r) = request("GET", &url, &[], &[], Duration::from_secs(2)) {
                if r.status == 200 {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!("GET {url} did not answer 200 within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `127.0.0.1:<port>`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn workdir(&self) -> &Path {
        &self.workdir
    }

    pub fn log_tail(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = File::open(self.workdir.join("registry.log")) {
            let _ = f.read_to_string(&mut s);
        }
        let mut start = s.len().saturating_sub(4000);
        while !s.is_char_boundary(start) {
            start += 1;
        }
        s[start..].to_string()
    }

    /// Leaves the registry running when this value is dropped.
    pub fn detach(mut self) {
        self.attached = false;
        self.child = None;
    }

    /// Stops the registry now (SIGTERM, then SIGKILL after 10 s).
    pub fn stop(mut self) {
        self.stop_inner();
    }

    fn stop_inner(&mut self) {
        if let Some(mut child) = self.child.take() {
            terminate(self.pid, || matches!(child.try_wait(), Ok(Some(_)) | Err(_)));
            let _ = child.wait();
        }
        let _ = fs::remove_file(self.workdir.join("registry.pid"));
        let _ = fs::remove_file(self.workdir.join("registry.addr"));
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        if self.attached {
            self.stop_inner();
        }
    }
}

/// Spawns `cmd` from a thread that lives as long as the process:
/// `PR_SET_PDEATHSIG` fires when the *thread* that forked exits, and the
/// caller's thread may be a short-lived one (a test thread, a
/// `spawn_blocking` worker).
fn spawn_on_keeper(cmd: Command) -> std::io::Result<Child> {
    use std::sync::mpsc;
    use std::sync::{Mutex, OnceLock};
    type Job = (Command, mpsc::Sender<std::io::Result<Child>>);
    static KEEPER: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    let keeper = KEEPER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("testkit-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("spawning the testkit spawner thread");
        Mutex::new(tx)
    });
    let (tx, rx) = mpsc::channel();
    keeper.lock().unwrap().send((cmd, tx)).map_err(|_| std::io::Error::other("spawner thread is gone"))?;
    rx.recv().map_err(|_| std::io::Error::other("spawner thread is gone"))?
}

/// SIGTERM `pid`, wait up to 10 s for `gone()`, then SIGKILL.
fn terminate(pid: u32, mut gone: impl FnMut() -> bool) {
    // SAFETY: kill(2) on a PID we started.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if gone() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // SAFETY: as above.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && !gone() {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// True if `pid` runs docker-registry with the config in `workdir`.
fn is_our_registry(pid: u32, workdir: &Path) -> bool {
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<String> = cmdline.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
    let config = workdir.join("config.yml");
    args.first().is_some_and(|a| a.ends_with("docker-registry")) && args.iter().any(|a| Path::new(a) == config)
}

fn is_alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // state is the field after the `(comm)`
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|s| s != "Z" && s != "X"),
        Err(_) => false,
    }
}

/// The registry recorded in `workdir` (pidfile and address file), if it is
/// still running and answering.
pub fn running_in(workdir: &Path) -> Option<(u32, String)> {
    let workdir = fs::canonicalize(workdir).ok()?;
    let pid: u32 = fs::read_to_string(workdir.join("registry.pid")).ok()?.trim().parse().ok()?;
    let addr = fs::read_to_string(workdir.join("registry.addr")).ok()?.trim().to_string();
    if !is_alive(pid) || !is_our_registry(pid, &workdir) {
        return None;
    }
    let ok =
        request("GET", &format!("http://{addr}/v2/"), &[], &[], Duration::from_secs(2)).is_ok_and(|r| r.status == 200);
    ok.then_some((pid, addr))
}

/// Stops the registry whose pidfile is in `workdir` (started detached).
/// Returns false if none was running.
pub fn stop_pidfile(workdir: &Path) -> Result<bool> {
    let workdir = fs::canonicalize(workdir).with_context(|| format!("`{}` does not exist", workdir.display()))?;
    let pidfile = workdir.join("registry.pid");
    let Ok(text) = fs::read_to_string(&pidfile) else {
        return Ok(false);
    };
    let pid: u32 = text.trim().parse().with_context(|| format!("`{}` does not hold a PID", pidfile.display()))?;
    let running = is_alive(pid) && is_our_registry(pid, &workdir);
    if running {
        terminate(pid, || !is_alive(pid));
    }
    let _ = fs::remove_file(&pidfile);
    let _ = fs::remove_file(workdir.join("registry.addr"));
    Ok(running)
}

fn check(resp: http::Response, expected: &[u16], what: &str) -> Result<http::Response> {
    if !expected.contains(&resp.status) {
        let body: String = resp.text().chars().take(500).collect();
        bail!("{what}: HTTP {}: {body}", resp.status);
    }
    Ok(resp)
}

const T: Duration = Duration::from_secs(60);

/// Uploads one blob (monolithic POST + PUT) unless the registry has it.
pub fn push_blob(addr: &str, repository: &str, digest: &str, data: &[u8]) -> Result<()> {
    let base = format!("http://{addr}/v2/{repository}");
    if request("HEAD", &format!("{base}/blobs/{digest}"), &[], &[], T)?.status == 200 {
        return Ok(());
    }
    let started = check(
        request("POST", &format!("{base}/blobs/uploads/"), &[], &[], T)?,
        &[202],
        &format!("start upload of {digest}"),
    )?;
    let location =
        started.header("location").with_context(|| format!("registry gave no upload Location for {digest}"))?;
    let location =
        if location.starts_with("http://") { location.to_string() } else { format!("http://{addr}{location}") };
    let sep = if location.contains('?') { '&' } else { '?' };
    let url = format!("{location}{sep}digest={}", digest.replace(':', "%3A"));
    check(
        request("PUT", &url, &[("Content-Type", "application/octet-stream")], data, T)?,
        &[201],
        &format!("upload of {digest}"),
    )?;
    Ok(())
}

/// Puts a manifest under `reference` (a tag or digest); returns the digest the registry reports.
pub fn push_manifest(
    addr: &str,
    repository: &str,
    reference: &str,
    media_type: &str,
    manifest: &[u8],
) -> Result<String> {
    let resp = check(
        request(
            "PUT",
            &format!("http://{addr}/v2/{repository}/manifests/{reference}"),
            &[("Content-Type", media_type)],
            manifest,
            T,
        )?,
        &[201],
        &format!("manifest PUT {repository}:{reference}"),
    )?;
    Ok(resp.header("docker-content-digest").unwrap_or_default().to_string())
}

/// Pushes the blobs, then the manifest under each tag; returns the manifest digest.
pub fn push_image(addr: &str, repository: &str, tags: &[&str], image: &Image) -> Result<String> {
    for (digest, data) in image.blobs() {
        push_blob(addr, repository, &digest, data)?;
    }
    let want = image.manifest_digest();
    for tag in tags {
        let got = push_manifest(addr, repository, tag, &image.manifest_media_type, &image.manifest)?;
        if !got.is_empty() && got != want {
            bail!("registry stored {got} for {repository}:{tag}, expected {want}");
        }
    }
    if tags.is_empty() {
        push_manifest(addr, repository, &want, &image.manifest_media_type, &image.manifest)?;
    }
    Ok(want)
}

/// `GET /v2/<repo>/manifests/<reference>` accepting every manifest type.
pub fn get_manifest(addr: &str, repository: &str, reference: &str) -> Result<http::Response> {
    let accept = format!(
        "{OCI_MANIFEST}, {}, {}, {}",
        crate::image::OCI_INDEX,
        crate::image::DOCKER_MANIFEST,
        crate::image::DOCKER_MANIFEST_LIST
    );
    request("GET", &format!("http://{addr}/v2/{repository}/manifests/{reference}"), &[("Accept", &accept)], &[], T)
}

/// The engine config (BuildKit registry format) that mirrors docker.io to
/// `registry` and talks plain HTTP to it.
pub fn engine_config(registry: &str) -> String {
    format!(
        "# Written by tanto-testkit.\n[registry.\"docker.io\"]\n  mirrors = [\"{registry}\"]\n\n[registry.\"{registry}\"]\n  http = true\n"
    )
}

pub fn write_engine_config(path: &Path, registry: &str) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)?;
    }
    fs::write(path, engine_config(registry)).with_context(|| format!("writing `{}`", path.display()))
}
