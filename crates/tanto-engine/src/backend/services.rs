//! Services, run by the service manager (`crate::services`).

use tanto_contract::image::Port;
use tanto_contract::service::{PortForward, ServiceSpec};
use tanto_contract::{EngineResult, Services};

use super::EngineBackend;

#[async_trait::async_trait]
impl Services for EngineBackend {
    fn register_service(&self, svc: &ServiceSpec) {
        self.worker().services.register(svc);
    }

    async fn start_service(&self, svc: &ServiceSpec) -> EngineResult<()> {
        self.worker().services.start_held(svc).await
    }

    async fn stop_service(&self, svc: &ServiceSpec, kill: bool) -> EngineResult<()> {
        self.worker().services.stop(svc, kill).await
    }

    async fn service_ports(&self, svc: &ServiceSpec) -> EngineResult<(String, Vec<Port>)> {
        self.worker().services.tunnel_ports(svc).await
    }

    async fn service_up(
        &self,
        svc: &ServiceSpec,
        ports: Vec<PortForward>,
        random: bool,
        client: Option<&str>,
    ) -> EngineResult<()> {
        self.worker().services.up(svc, ports, random, client).await
    }

    async fn service_terminal(&self, svc: &ServiceSpec, cmd: Vec<String>) -> EngineResult<i32> {
        let tty = crate::terminal::UserTerminal::open()?;
        let worker = self.worker();
        let (master, child, _lease) = worker.services.exec_terminal(svc, cmd).await?;
        let _paused = worker.progress.pause();
        // Killed and reaped on every path, its stderr read (the runtime's reason).
        let mut child = KillOnDrop(Some(child));
        let ended = async move {
            let Some(c) = child.0.take() else { return Ok(0) };
            let out = crate::worker::blocking(move || {
                c.wait_with_output().map_err(|e| crate::EngineError::internal(format!("waiting for the terminal: {e}")))
            })
            .await?;
            let code = out
                .status
                .code()
                .unwrap_or(128 + std::os::unix::process::ExitStatusExt::signal(&out.status).unwrap_or(0));
            let said = String::from_utf8_lossy(&out.stderr).trim().to_string();
            if code != 0 && !said.is_empty() {
                return Err(crate::EngineError::input(format!("terminal in service `{}`: {said}", svc.hostname)));
            }
            Ok(code)
        };
        tty.attach_until(master, ended).await
    }
}

/// A process killed and reaped when dropped, unless taken.
struct KillOnDrop(Option<std::process::Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
