//! The command `tanto run` starts: a child of this process, or in rootless
//! mode a process the host side starts as the user on the host (never inside
//! the engine's user namespace: it is the user's own program, which may run
//! `sudo`, check its real user or start other tools).

use std::ffi::OsString;
use std::io;
use std::os::fd::OwnedFd;
use std::process::{ExitStatus, Stdio};

use tanto_engine::userns::{self, HostChild};
use tokio::io::AsyncRead;

/// What to start.
pub struct Spec<'a> {
    pub argv: &'a [String],
    /// Variables added to this process's environment.
    pub env: Vec<(String, String)>,
    /// Pipe stdout/stderr to this process (else they are this process's own).
    pub pipe_stdout: bool,
    pub pipe_stderr: bool,
}

pub type Output = Box<dyn AsyncRead + Unpin + Send>;

/// A started command.
pub struct Started {
    pub child: Child,
    pub stdout: Option<Output>,
    pub stderr: Option<Output>,
}

pub enum Child {
    Local(tokio::process::Child),
    Host(HostChild),
}

impl Child {
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        match self {
            Child::Local(c) => c.wait().await,
            Child::Host(c) => c.wait().await,
        }
    }

    pub async fn kill(&mut self) {
        match self {
            Child::Local(c) => {
                let _ = c.kill().await;
            }
            Child::Host(c) => c.kill(),
        }
    }
}

/// Starts `spec`.
pub fn start(spec: Spec<'_>) -> io::Result<Started> {
    match userns::host_link() {
        None => {
            let mut cmd = tokio::process::Command::new(&spec.argv[0]);
            cmd.args(&spec.argv[1..]).envs(spec.env.iter().map(|(k, v)| (k, v)));
            if spec.pipe_stdout {
                cmd.stdout(Stdio::piped());
            }
            if spec.pipe_stderr {
                cmd.stderr(Stdio::piped());
            }
            let mut child = cmd.spawn()?;
            let stdout = child.stdout.take().map(|o| Box::new(o) as Output);
            let stderr = child.stderr.take().map(|o| Box::new(o) as Output);
            Ok(Started { child: Child::Local(child), stdout, stderr })
        }
        Some(link) => {
            let own = |fd: i32| -> io::Result<OwnedFd> {
                // SAFETY: 0, 1 and 2 are this process's stdio for its whole life.
                let b = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
                Ok(rustix::io::fcntl_dupfd_cloexec(b, 3)?)
            };
            let piped = |pipe: bool, fd: i32| -> io::Result<(OwnedFd, Option<Output>)> {
                if !pipe {
                    return Ok((own(fd)?, None));
                }
                let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
                let reader = tokio::net::unix::pipe::Receiver::from_owned_fd(r)?;
                Ok((w, Some(Box::new(reader) as Output)))
            };
            let (out_w, stdout) = piped(spec.pipe_stdout, 1)?;
            let (err_w, stderr) = piped(spec.pipe_stderr, 2)?;
            let mut env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
            for (k, v) in &spec.env {
                env.retain(|(ek, _)| ek.as_os_str() != k.as_str());
                env.push((k.into(), v.into()));
            }
            let argv: Vec<OsString> = spec.argv.iter().map(OsString::from).collect();
            let cwd = std::env::current_dir()?;
            let child = link.spawn(&argv, &env, &cwd, [own(0)?, out_w, err_w])?;
            Ok(Started { child: Child::Host(child), stdout, stderr })
        }
    }
}
