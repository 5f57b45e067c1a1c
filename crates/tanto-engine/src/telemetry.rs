//! OpenTelemetry: the engine's `tracing` spans (`session`, `query`, the
//! solver's `solve`/`vertex` and the worker's `exec`) exported over OTLP when
//! the standard `OTEL_EXPORTER_OTLP_*` variables name an endpoint, and W3C
//! trace context carried in and out: from a request's `traceparent` header
//! into its `query` span, from `TRACEPARENT` in the environment into the
//! `session` span, and from an exec's span into its container's
//! `TRACEPARENT`.
//!
//! Invariants:
//! - Unset (no endpoint, or `OTEL_SDK_DISABLED=true`), nothing is exported and
//!   nothing changes: no layer, no header read, no variable added to an exec.
//! - The variables added to an exec ([`exec_env`]) are added when it runs,
//!   never to its op: they are outside every cache key.
//! - Exporting never fails or holds up a pipeline: export errors are warned
//!   about once, and the flush at exit ([`shutdown`]) is bounded in time.
//! - Spans carry values the engine already shows (digests, op kinds, labels,
//!   exit codes), never a secret's value; command text is scrubbed like
//!   progress output.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry::Context;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The service name when `OTEL_SERVICE_NAME` is unset.
pub const DEFAULT_SERVICE_NAME: &str = "tanto";

/// How long the flush at exit may take, whatever the receiver does.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(3);

/// How spans travel to the receiver (`OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `http/protobuf`, the default: `POST {endpoint}/v1/traces`.
    HttpProtobuf,
    /// `grpc`: the OTLP trace service over HTTP/2 (plain-text `http://` endpoints).
    Grpc,
}

/// What the environment asks of the exporter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub protocol: Protocol,
    pub service_name: String,
    /// The endpoint variables as set (passed into containers).
    pub endpoint_vars: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TelemetryError {
    #[error("`{var}`: unknown protocol `{value}`: use `http/protobuf` or `grpc` (traces are not exported)")]
    Protocol { var: &'static str, value: String },
    #[error("building the OTLP exporter: {0} (traces are not exported)")]
    Exporter(String),
}

/// The variables passed into containers when set for the engine: where an
/// in-container SDK sends its spans. `OTEL_EXPORTER_OTLP_HEADERS` is not
/// among them (it often holds a credential).
const PASSED_TO_EXECS: &[&str] = &[
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
];

impl Settings {
    /// The exporter's settings from variables read by `get`; `None` when no
    /// OTLP endpoint is set, or the SDK is disabled (`OTEL_SDK_DISABLED=true`,
    /// `OTEL_TRACES_EXPORTER=none`).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Option<Settings>, TelemetryError> {
        let set = |name: &str| get(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        if set("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"))
            || set("OTEL_TRACES_EXPORTER").is_some_and(|v| v.eq_ignore_ascii_case("none"))
        {
            return Ok(None);
        }
        if set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_none() && set("OTEL_EXPORTER_OTLP_ENDPOINT").is_none() {
            return Ok(None);
        }
        let protocol = match ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"]
            .into_iter()
            .find_map(|var| set(var).map(|v| (var, v)))
        {
            None => Protocol::HttpProtobuf,
            Some((_, v)) if v == "http/protobuf" => Protocol::HttpProtobuf,
            Some((_, v)) if v == "grpc" => Protocol::Grpc,
            Some((var, value)) => return Err(TelemetryError::Protocol { var, value }),
        };
        Ok(Some(Settings {
            protocol,
            // an SDK sets its own name (`dagger-python-sdk`) in the environment the
            // session inherits: that one is not the engine's
            service_name: set("OTEL_SERVICE_NAME")
                .filter(|n| !(n.starts_with("dagger-") && n.ends_with("-sdk")))
                .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_string()),
            endpoint_vars: PASSED_TO_EXECS.iter().filter_map(|n| set(n).map(|v| (n.to_string(), v))).collect(),
        }))
    }
}

/// The exporter of this process, once set up.
struct Telemetry {
    provider: SdkTracerProvider,
    settings: Settings,
    warned: &'static AtomicBool,
}

static TELEMETRY: OnceLock<Telemetry> = OnceLock::new();

/// Whether spans are exported (an exporter is set up).
pub fn enabled() -> bool {
    TELEMETRY.get().is_some()
}

/// A `tracing` layer exporting tanto's spans, when the environment asks for
/// one (see [`Settings::from_vars`]); `Ok(None)` otherwise. Call it once,
/// inside the tokio runtime (the gRPC client lives on it).
pub fn layer_from_env<S>() -> Result<Option<impl tracing_subscriber::Layer<S>>, TelemetryError>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let Some(settings) = Settings::from_vars(|n| std::env::var(n).ok())? else {
        return Ok(None);
    };
    // The exporter reads the endpoint, headers and timeout variables itself.
    let exporter = match settings.protocol {
        Protocol::HttpProtobuf => opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .build(),
        Protocol::Grpc => opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_protocol(opentelemetry_otlp::Protocol::Grpc)
            .build(),
    }
    .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
    static WARNED: AtomicBool = AtomicBool::new(false);
    let resource = opentelemetry_sdk::Resource::builder().with_service_name(settings.service_name.clone()).build();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(WarnOnce { inner: exporter, warned: &WARNED })
        .with_resource(resource)
        .build();
    let tracer = provider.tracer("tanto");
    let _ = TELEMETRY.set(Telemetry { provider, settings, warned: &WARNED });
    // tanto's own spans (info and up) and warnings inside them; nothing of the
    // libraries below (the exporter's own HTTP client among them).
    let filter = tracing_subscriber::filter::filter_fn(|meta| {
        meta.target().starts_with("tanto")
            && if meta.is_span() {
                *meta.level() <= tracing::Level::INFO
            } else {
                *meta.level() <= tracing::Level::WARN
            }
    });
    use tracing_subscriber::Layer as _;
    Ok(Some(tracing_opentelemetry::layer().with_tracer(tracer).with_filter(filter)))
}

/// Sends the spans not yet sent and stops the exporter, within
/// [`FLUSH_TIMEOUT`]; a receiver that is down costs a warning, not the exit
/// code. Blocking: call it outside async code (the runtime still running).
pub fn shutdown() {
    let Some(t) = TELEMETRY.get() else { return };
    if let Err(e) = t.provider.shutdown_with_timeout(FLUSH_TIMEOUT) {
        warn_once(t.warned, &format!("flushing spans at exit: {e}"));
    }
}

fn warn_once(warned: &AtomicBool, what: &str) {
    if !warned.swap(true, Ordering::SeqCst) {
        // The exporter's thread has no span: this goes to the log only.
        tracing::warn!("OpenTelemetry: {what}; spans may be missing (check OTEL_EXPORTER_OTLP_ENDPOINT; further export errors are not reported)");
    }
}

/// An exporter that warns about its first failure.
#[derive(Debug)]
struct WarnOnce<E> {
    inner: E,
    warned: &'static AtomicBool,
}

impl<E: SpanExporter> SpanExporter for WarnOnce<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let res = self.inner.export(batch).await;
        if let Err(e) = &res {
            warn_once(self.warned, &format!("exporting spans failed: {e}"));
        }
        res
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.inner.set_resource(resource)
    }
}

/// A W3C trace context (`traceparent`, `tracestate`) as an OpenTelemetry
/// context; `None` when absent or malformed.
pub fn extract(traceparent: Option<&str>, tracestate: Option<&str>) -> Option<Context> {
    struct Pair<'a>(Option<&'a str>, Option<&'a str>);
    impl Extractor for Pair<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            match key {
                "traceparent" => self.0,
                "tracestate" => self.1,
                _ => None,
            }
        }
        fn keys(&self) -> Vec<&str> {
            vec!["traceparent", "tracestate"]
        }
    }
    traceparent?;
    let cx = TraceContextPropagator::new().extract(&Pair(traceparent, tracestate));
    cx.span().span_context().is_valid().then_some(cx)
}

/// The W3C `traceparent` and `tracestate` (when not empty) of a context.
pub fn inject(cx: &Context) -> Vec<(&'static str, String)> {
    struct Map(HashMap<String, String>);
    impl Injector for Map {
        fn set(&mut self, key: &str, value: String) {
            self.0.insert(key.to_string(), value);
        }
    }
    if !cx.span().span_context().is_valid() {
        return Vec::new();
    }
    let mut map = Map(HashMap::new());
    TraceContextPropagator::new().inject_context(cx, &mut map);
    [("traceparent", "TRACEPARENT"), ("tracestate", "TRACESTATE")]
        .into_iter()
        .filter_map(|(header, var)| map.0.remove(header).filter(|v| !v.is_empty()).map(|v| (var, v)))
        .collect()
}

/// The span of one engine session (`tanto session`, `run`, `query`, `call`,
/// ...), its parent taken from `TRACEPARENT` in the environment when set.
/// Without one, a served session's span takes the first request's trace
/// context as its parent (see [`SessionTrace`]), so an SDK's spans and the
/// engine's join one trace.
pub fn session_span(verb: &'static str) -> Span {
    if !enabled() {
        return Span::none();
    }
    let span = tracing::info_span!("session", command = verb, service.version = env!("CARGO_PKG_VERSION"));
    let from_env = std::env::var("TRACEPARENT").ok();
    let state = std::env::var("TRACESTATE").ok();
    if let Some(cx) = extract(from_env.as_deref(), state.as_deref()) {
        let _ = span.set_parent(cx);
        // started now: its parent is decided
        let _ = span.context();
    }
    span
}

/// The trace context of one served session: the parent of each request's
/// `query` span.
pub struct SessionTrace {
    span: Span,
    decided: AtomicBool,
}

impl SessionTrace {
    /// `span` is the session's span (or the exec's, for a nested session);
    /// it must not have been entered yet when it is to adopt the first
    /// request's trace context.
    pub fn new(span: Span) -> SessionTrace {
        SessionTrace { span, decided: AtomicBool::new(false) }
    }

    /// The parent of a request's `query` span: the request's `traceparent`
    /// when it has one, else the session's span. The first request decides
    /// the session span's own parent when the environment did not.
    pub fn parent_of(&self, headers: &hyper::HeaderMap) -> Option<Context> {
        if !enabled() || self.span.is_none() {
            return None;
        }
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let remote = extract(header("traceparent"), header("tracestate"));
        if !self.decided.swap(true, Ordering::SeqCst) {
            if let Some(cx) = &remote {
                // fails (harmlessly) when the span already has its parent
                let _ = self.span.set_parent(cx.clone());
            }
        }
        Some(remote.unwrap_or_else(|| self.span.context()))
    }

    pub fn span(&self) -> &Span {
        &self.span
    }
}

/// `NAME=value` variables for an exec running in `span`: `TRACEPARENT` (and
/// `TRACESTATE`) of the span, and the OTLP endpoint variables set for the
/// engine; none the exec sets itself (`env`). Empty when nothing is exported.
pub fn exec_env(span: &Span, env: &[String]) -> Vec<String> {
    let Some(t) = TELEMETRY.get() else { return Vec::new() };
    let has = |name: &str| env.iter().any(|kv| kv.split_once('=').map(|(n, _)| n) == Some(name));
    let mut out: Vec<String> = inject(&span.context())
        .into_iter()
        .filter(|(name, _)| !has(name))
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    out.extend(t.settings.endpoint_vars.iter().filter(|(n, _)| !has(n)).map(|(n, v)| format!("{n}={v}")));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_from_vars() {
        let base = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")];
        let http = |name: &str| Settings {
            protocol: Protocol::HttpProtobuf,
            service_name: name.to_string(),
            endpoint_vars: vec![("OTEL_EXPORTER_OTLP_ENDPOINT".into(), "http://127.0.0.1:4318".into())],
        };
        // (variables beyond `base` or instead of it, expected)
        type Case<'a> = (Vec<(&'a str, &'a str)>, bool, Result<Option<Settings>, TelemetryError>);
        let cases: Vec<Case> = vec![
            (vec![], false, Ok(None)),
            (vec![("OTEL_SERVICE_NAME", "x")], false, Ok(None)),
            (vec![], true, Ok(Some(http("tanto")))),
            (vec![("OTEL_SERVICE_NAME", "ci")], true, Ok(Some(http("ci")))),
            (vec![("OTEL_SERVICE_NAME", "dagger-python-sdk")], true, Ok(Some(http("tanto")))),
            (vec![("OTEL_SDK_DISABLED", "TRUE")], true, Ok(None)),
            (vec![("OTEL_SDK_DISABLED", "false")], true, Ok(Some(http("tanto")))),
            (vec![("OTEL_TRACES_EXPORTER", "none")], true, Ok(None)),
            (
                vec![("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")],
                true,
                Ok(Some(Settings {
                    protocol: Protocol::Grpc,
                    endpoint_vars: vec![
                        ("OTEL_EXPORTER_OTLP_ENDPOINT".into(), "http://127.0.0.1:4318".into()),
                        ("OTEL_EXPORTER_OTLP_PROTOCOL".into(), "grpc".into()),
                    ],
                    ..http("tanto")
                })),
            ),
            (
                // the traces variable wins over the general one
                vec![("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"), ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf")],
                true,
                Ok(Some(Settings {
                    endpoint_vars: vec![
                        ("OTEL_EXPORTER_OTLP_ENDPOINT".into(), "http://127.0.0.1:4318".into()),
                        ("OTEL_EXPORTER_OTLP_PROTOCOL".into(), "grpc".into()),
                        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL".into(), "http/protobuf".into()),
                    ],
                    ..http("tanto")
                })),
            ),
            (
                vec![("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")],
                true,
                Err(TelemetryError::Protocol { var: "OTEL_EXPORTER_OTLP_PROTOCOL", value: "http/json".into() }),
            ),
            (
                vec![("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://h:1/v1/traces")],
                false,
                Ok(Some(Settings {
                    endpoint_vars: vec![("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT".into(), "http://h:1/v1/traces".into())],
                    ..http("tanto")
                })),
            ),
        ];
        for (vars, with_base, want) in cases {
            let mut all: HashMap<&str, &str> = vars.iter().copied().collect();
            if with_base {
                all.extend(base);
            }
            let got = Settings::from_vars(|n| all.get(n).map(|v| v.to_string()));
            assert_eq!(got, want, "{vars:?} (endpoint set: {with_base})");
        }
    }

    #[test]
    fn trace_context_round_trip() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        // (traceparent, tracestate, variables injected back)
        type Case<'a> = (Option<&'a str>, Option<&'a str>, Option<Vec<(&'a str, &'a str)>>);
        let cases: &[Case] = &[
            (Some(tp), None, Some(vec![("TRACEPARENT", tp)])),
            (Some(tp), Some("k=v"), Some(vec![("TRACEPARENT", tp), ("TRACESTATE", "k=v")])),
            (None, Some("k=v"), None),
            (Some("00-00000000000000000000000000000000-00f067aa0ba902b7-01"), None, None),
            (Some("garbage"), None, None),
        ];
        for (parent, state, want) in cases {
            let got = extract(*parent, *state).map(|cx| inject(&cx));
            let want = want.as_ref().map(|w| w.iter().map(|(k, v)| (*k, v.to_string())).collect::<Vec<_>>());
            assert_eq!(got, want, "{parent:?} {state:?}");
        }
    }

    #[test]
    fn disabled_adds_nothing() {
        // no exporter in unit tests: nothing reaches an exec, no session span
        assert!(!enabled());
        assert_eq!(exec_env(&Span::current(), &[]), Vec::<String>::new());
        assert!(session_span("session").is_none());
        let trace = SessionTrace::new(Span::none());
        let mut headers = hyper::HeaderMap::new();
        headers.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
        assert!(trace.parent_of(&headers).is_none());
    }
}
