//! Nested engine sessions: an exec with `experimentalPrivilegedNesting`, and every
//! module function call, gets an engine session of its own, served on a listener
//! bound to `127.0.0.1` inside the container's network namespace (only the
//! container can reach it), with a fresh token. The process finds it as Dagger's
//! SDKs expect: `DAGGER_SESSION_PORT` and `DAGGER_SESSION_TOKEN`. The session ends
//! with the process.

use std::sync::Arc;

use tanto_contract::{EngineError, QueryHandler, Tiered};
use tanto_exec::{ExitInfo, LoopbackListener, Network, OutputSink, ProcessSpec};

pub(crate) const PORT_ENV: &str = "DAGGER_SESSION_PORT";
pub(crate) const TOKEN_ENV: &str = "DAGGER_SESSION_TOKEN";

/// Runs `spec` to completion with `session` served on its loopback. A non-zero exit
/// is `Ok`.
pub(crate) async fn run_with_session(
    executor: &tanto_exec::Executor,
    mut spec: ProcessSpec,
    sink: Option<OutputSink>,
    session: Arc<dyn QueryHandler>,
    max_request_bytes: usize,
) -> Result<ExitInfo, EngineError> {
    if spec.network != Network::Bridge {
        return Err(EngineError::environment(
            "a nested engine session needs bridge networking, which is off in this engine (see its log)",
        ));
    }
    let token = uuid::Uuid::new_v4().to_string();
    let request = LoopbackListener::new(PORT_ENV);
    spec.env.retain(|e| !e.starts_with("DAGGER_SESSION_PORT=") && !e.starts_with("DAGGER_SESSION_TOKEN="));
    spec.env.push(format!("{TOKEN_ENV}={token}"));
    spec.loopback_listener = Some(request.clone());
    let running = executor.start(spec, sink).await.map_err(|e| EngineError::new(e.tier(), e.to_string()))?;
    let listener = request
        .take()
        .ok_or_else(|| EngineError::internal("the executor made no listener for the nested session"))
        .and_then(|l| {
            tokio::net::TcpListener::from_std(l)
                .map_err(|e| EngineError::environment(format!("serving the nested session: {e}")))
        });
    let listener = match listener {
        Ok(l) => l,
        Err(e) => {
            running.kill().await;
            return Err(e);
        }
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    // the exec's span parents the nested session's queries that bring no trace context
    let trace = crate::telemetry::SessionTrace::new(tracing::Span::current());
    let server =
        tokio::spawn(crate::server::serve_session(listener, token, session, max_request_bytes, trace, async {
            let _ = stopped.await;
        }));
    let exited = running.wait().await;
    let _ = stop.send(());
    let _ = server.await;
    match &*exited {
        Ok(info) => Ok(info.clone()),
        Err(e) => Err(EngineError::new(e.tier(), e.to_string())),
    }
}
