//! The HTTP endpoint SDKs talk to: `POST /query` with HTTP Basic auth (the
//! session token as user name, empty password), many HTTP/1.1 connections.
//!
//! A request body is refused beyond [`ServerSettings::max_request_bytes`]
//! (queries are small; large host data travels by upload), and never held
//! beyond it; the query inside is bounded by `tanto_gql::limits`.
//! Once no request is in flight, the allocator gives what requests freed back
//! to the kernel ([`crate::sys::trim_heap`]), so a burst of big requests does
//! not leave the session big.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::cache::DiskSpace;
use crate::telemetry::SessionTrace;
use crate::{Engine, EngineError};
use tanto_contract::QueryHandler;

/// Default limit on a request body.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 8 << 20;

/// Settings of the HTTP server: `[server] maxRequestBytes` in the engine
/// config (bytes, or a size such as `"16MiB"`), overridden by the
/// `TANTO_MAX_REQUEST_BYTES` environment variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerSettings {
    pub max_request_bytes: usize,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings { max_request_bytes: DEFAULT_MAX_REQUEST_BYTES }
    }
}

impl ServerSettings {
    /// The settings from `config` (read from `path`) and `env`, the value of
    /// `TANTO_MAX_REQUEST_BYTES` if set.
    pub fn from_config(
        config: &tanto_oci::config::EngineConfig,
        path: Option<&std::path::Path>,
        env: Option<&str>,
    ) -> Result<ServerSettings, EngineError> {
        let mut out = ServerSettings::default();
        let file = path.map(|p| p.display().to_string()).unwrap_or_else(|| "the engine config".into());
        let bad = |key: &str, why: String| EngineError::input(format!("`{file}`: `[server] {key}`: {why}"));
        if let Some(section) = config.extra.get("server") {
            let table = section.as_table().ok_or_else(|| bad("", "must be a table".into()))?;
            for (key, value) in table {
                match key.as_str() {
                    "maxRequestBytes" => {
                        let n = match (value.as_integer(), value.as_str()) {
                            (Some(n), _) => u64::try_from(n).map_err(|_| bad(key, format!("`{n}` is negative")))?,
                            (_, Some(s)) => size(s).map_err(|e| bad(key, e))?,
                            _ => return Err(bad(key, "must be a number of bytes or a size such as \"16MiB\"".into())),
                        };
                        out.max_request_bytes = usize::try_from(n).unwrap_or(usize::MAX);
                    }
                    other => return Err(bad(other, "unknown key: use maxRequestBytes".into())),
                }
            }
        }
        if let Some(v) = env {
            let n = size(v).map_err(|e| EngineError::input(format!("`TANTO_MAX_REQUEST_BYTES`: {e}")))?;
            out.max_request_bytes = usize::try_from(n).unwrap_or(usize::MAX);
        }
        Ok(out)
    }
}

/// A size in bytes: `1048576`, `"512KiB"`, `"16MB"`.
fn size(s: &str) -> Result<u64, String> {
    match DiskSpace::parse(s)? {
        DiskSpace::Bytes(0) => Err(format!("`{s}` is zero: no request would fit")),
        DiskSpace::Bytes(n) => Ok(n),
        DiskSpace::Percent(_) => Err(format!("`{s}` is a percentage: give bytes or a size such as 16MiB")),
    }
}

/// Bytes of a refused body read and thrown away, so that the client, still
/// sending, gets the answer; beyond, the connection is closed on it.
const DRAIN_MAX: usize = 64 << 20;

enum BodyError {
    TooLarge,
    Read(hyper::Error),
}

/// The body, if it is at most `limit` bytes. A longer one is read on (without
/// keeping it, up to [`DRAIN_MAX`]) and refused.
async fn read_body(mut body: Incoming, limit: usize) -> Result<Bytes, BodyError> {
    let declared = hyper::body::Body::size_hint(&body).exact().unwrap_or(0);
    let mut buf = Vec::with_capacity(usize::try_from(declared).unwrap_or(0).min(limit));
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(BodyError::Read)?;
        let Some(data) = frame.data_ref() else { continue };
        seen = seen.saturating_add(data.len());
        if seen <= limit {
            buf.extend_from_slice(data);
        } else if !buf.is_empty() {
            buf = Vec::new();
        }
        if seen > DRAIN_MAX || (seen > limit && declared > DRAIN_MAX as u64) {
            break;
        }
    }
    if seen > limit {
        return Err(BodyError::TooLarge);
    }
    Ok(Bytes::from(buf))
}

fn too_large(limit: usize) -> Response<Full<Bytes>> {
    json_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        &error_body(&format!(
            "the request body is larger than tanto's limit of {limit} bytes: send large data as a file or \
             directory (the limit is `[server] maxRequestBytes` in the engine config, or TANTO_MAX_REQUEST_BYTES)"
        )),
    )
}

/// Requests in flight, and requests finished since memory was last given back.
#[derive(Default)]
struct Activity {
    in_flight: AtomicUsize,
    finished: AtomicUsize,
}

/// Counts one request in flight until dropped (answered or cancelled).
struct InFlight(Arc<Activity>);

impl InFlight {
    fn new(activity: &Arc<Activity>) -> InFlight {
        activity.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(activity.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.finished.fetch_add(1, Ordering::SeqCst);
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// How often an idle server checks whether requests finished since the last trim.
const TRIM_EVERY: Duration = Duration::from_secs(1);

pub(crate) fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(serde_json::to_vec(body).unwrap_or_default())))
        .expect("static response parts are valid")
}

pub(crate) fn error_body(message: &str) -> serde_json::Value {
    serde_json::json!({"data": null, "errors": [{"message": message}]})
}

/// Checks `Authorization: Basic base64(token:)`, accepting both base64
/// alphabets (the Rust SDK uses the URL-safe one) and missing padding.
pub fn authorized(header: Option<&str>, token: &str) -> bool {
    basic_users(header).iter().any(|user| constant_time_eq(user, token.as_bytes()))
}

/// The user names `Authorization: Basic ...` may carry (as decoded with
/// either base64 alphabet); none for any other header.
pub(crate) fn basic_users(header: Option<&str>) -> Vec<Vec<u8>> {
    let Some(value) = header.and_then(|h| h.strip_prefix("Basic ").or_else(|| h.strip_prefix("basic "))) else {
        return Vec::new();
    };
    let value = value.trim();
    let config = base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent);
    let engines = [
        base64::engine::GeneralPurpose::new(&base64::alphabet::STANDARD, config),
        base64::engine::GeneralPurpose::new(&base64::alphabet::URL_SAFE, config),
    ];
    engines
        .iter()
        .filter_map(|e| e.decode(value).ok())
        .map(|raw| raw.split(|b| *b == b':').next().unwrap_or(&[]).to_vec())
        .collect()
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn handle(
    handler: Arc<dyn QueryHandler>,
    limit: usize,
    token: Arc<str>,
    activity: Arc<Activity>,
    trace: Arc<SessionTrace>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let _in_flight = InFlight::new(&activity);
    let auth = req.headers().get(hyper::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if !authorized(auth, &token) {
        let mut resp = json_response(
            StatusCode::UNAUTHORIZED,
            &error_body("unauthorized: send the session token as the HTTP Basic user name"),
        );
        resp.headers_mut().insert(
            hyper::header::WWW_AUTHENTICATE,
            hyper::header::HeaderValue::from_static("Basic realm=\"Access to the Dagger engine session\""),
        );
        return Ok(resp);
    }
    Ok(answer(handler, limit, &trace, req).await)
}

/// Answers one authorized request of a session: `POST /query` executed by
/// `handler` (bodies up to `limit` bytes; `trace` parents its span).
pub(crate) async fn answer(
    handler: Arc<dyn QueryHandler>,
    limit: usize,
    trace: &SessionTrace,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().trim_end_matches('/');
    if path != "/query" {
        return json_response(
            StatusCode::NOT_FOUND,
            &error_body(&format!("no such endpoint `{path}`: POST GraphQL to /query")),
        );
    }
    if req.method() != Method::POST {
        return json_response(StatusCode::METHOD_NOT_ALLOWED, &error_body("use POST for /query"));
    }
    // the request's `traceparent` (else the session) is the parent of its `query` span
    let parent = trace.parent_of(req.headers());
    let body = match read_body(req.into_body(), limit).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => return too_large(limit),
        Err(BodyError::Read(e)) => {
            return json_response(StatusCode::BAD_REQUEST, &error_body(&format!("reading the request body: {e}")))
        }
    };
    let body = match parent {
        Some(cx) => opentelemetry::context::FutureExt::with_context(handler.handle(&body), cx).await,
        None => handler.handle(&body).await,
    };
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("static response parts are valid")
}

/// Serves `listener` until `shutdown` resolves, then drops open connections
/// (cancelling their work).
pub async fn serve(
    engine: Arc<Engine>,
    listener: TcpListener,
    token: String,
    shutdown: impl std::future::Future<Output = ()>,
) {
    serve_traced(engine, listener, token, tracing::Span::none(), shutdown).await
}

/// [`serve`] with the session's span (see [`crate::telemetry::session_span`]):
/// the parent of queries that bring no trace context. Give it unentered: the
/// first request may still choose its parent.
pub async fn serve_traced(
    engine: Arc<Engine>,
    listener: TcpListener,
    token: String,
    session: tracing::Span,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let limit = engine.server.max_request_bytes;
    serve_session(listener, token, engine, limit, SessionTrace::new(session), shutdown).await
}

/// Serves one session's `handler` on `listener` (requests authorized by `token`, bodies
/// up to `limit` bytes; `trace` parents their spans) until `shutdown` resolves, then
/// drops open connections.
pub async fn serve_session(
    listener: TcpListener,
    token: String,
    handler: Arc<dyn QueryHandler>,
    limit: usize,
    trace: SessionTrace,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let token: Arc<str> = token.into();
    let trace = Arc::new(trace);
    let activity = Arc::new(Activity::default());
    let mut conns = JoinSet::new();
    let mut trim = tokio::time::interval(TRIM_EVERY);
    trim.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = trim.tick() => {
                if activity.in_flight.load(Ordering::SeqCst) == 0 && activity.finished.swap(0, Ordering::SeqCst) > 0 {
                    tokio::task::spawn_blocking(crate::sys::trim_heap);
                }
            }
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "accepting a connection failed");
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let (handler, token, activity, trace) = (handler.clone(), token.clone(), activity.clone(), trace.clone());
                conns.spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        handle(handler.clone(), limit, token.clone(), activity.clone(), trace.clone(), req)
                    });
                    if let Err(e) = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), svc)
                        .await
                    {
                        tracing::debug!(error = %e, "connection ended");
                    }
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings() {
        let cases: &[(&str, Option<&str>, Result<usize, &str>)] = &[
            ("", None, Ok(DEFAULT_MAX_REQUEST_BYTES)),
            ("[server]\nmaxRequestBytes = 1048576", None, Ok(1 << 20)),
            ("[server]\nmaxRequestBytes = \"16MiB\"", None, Ok(16 << 20)),
            ("[server]\nmaxRequestBytes = \"16MiB\"", Some("512KiB"), Ok(512 << 10)),
            ("", Some("2000"), Ok(2000)),
            ("[server]\nmaxRequestBytes = -1", None, Err("`engine.toml`: `[server] maxRequestBytes`: `-1` is negative")),
            (
                "[server]\nmaxRequestBytes = \"10%\"",
                None,
                Err("`engine.toml`: `[server] maxRequestBytes`: `10%` is a percentage: give bytes or a size such as 16MiB"),
            ),
            ("[server]\nmaxBody = 1", None, Err("`engine.toml`: `[server] maxBody`: unknown key: use maxRequestBytes")),
            ("", Some("0"), Err("`TANTO_MAX_REQUEST_BYTES`: `0` is zero: no request would fit")),
        ];
        for (toml, env, want) in cases {
            let config = tanto_oci::config::EngineConfig::from_toml_str(toml).expect("valid toml");
            let got = ServerSettings::from_config(&config, Some(std::path::Path::new("engine.toml")), *env)
                .map(|s| s.max_request_bytes)
                .map_err(|e| e.to_string());
            assert_eq!(got, want.map_err(str::to_string), "{toml:?} {env:?}");
        }
    }

    #[test]
    fn auth_cases() {
        let token = "3f2a9c1e-1b2c-4d5e-8f90-a1b2c3d4e5f6";
        let std = base64::engine::general_purpose::STANDARD.encode(format!("{token}:"));
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{token}:"));
        let cases = [
            (Some(format!("Basic {std}")), true),
            (Some(format!("Basic {url}")), true),
            (Some("Basic bm9wZTo=".to_string()), false),
            (Some(format!("Bearer {token}")), false),
            (Some("Basic !!!".to_string()), false),
            (None, false),
        ];
        for (header, want) in cases {
            assert_eq!(authorized(header.as_deref(), token), want, "{header:?}");
        }
    }
}
