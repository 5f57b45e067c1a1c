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

    async fn service_up(&self, svc: &ServiceSpec, ports: Vec<PortForward>, random: bool) -> EngineResult<()> {
        self.worker().services.up(svc, ports, random).await
    }

    async fn service_terminal(&self, svc: &ServiceSpec, cmd: Vec<String>) -> EngineResult<i32> {
        let tty = crate::terminal::UserTerminal::open()?;
        let worker = self.worker();
        let (master, mut child, _lease) = worker.services.exec_terminal(svc, cmd).await?;
        worker.progress.pause();
        let ended = async move {
            let status = crate::worker::blocking(move || {
                child.wait().map_err(|e| crate::EngineError::internal(format!("waiting for the terminal: {e}")))
            })
            .await?;
            Ok(status.code().unwrap_or(128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0)))
        };
        let result = tty.attach_until(master, ended).await;
        worker.progress.resume();
        result
    }
}
