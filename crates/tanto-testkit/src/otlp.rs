//! A minimal, real OTLP trace receiver on loopback: `POST /v1/traces`
//! (HTTP/protobuf, HTTP/1.1) on one port and the gRPC trace service
//! (`TraceService/Export` over plain-text HTTP/2) on another. Each request's
//! `ExportTraceServiceRequest` is decoded and its spans kept, in a flat form
//! tests read ([`ReceivedSpan`]). It runs on a runtime of its own and stops
//! when dropped.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use prost::Message as _;

/// One span as received.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedSpan {
    /// Lower-case hex, as in `traceparent`.
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    pub name: String,
    /// The resource's `service.name`.
    pub service: String,
    /// Scalar attributes as text (`true`, `42`, ...).
    pub attributes: BTreeMap<String, String>,
    /// 0 unset, 1 ok, 2 error.
    pub status_code: i32,
    /// Which receiver got it: `http` or `grpc`.
    pub via: &'static str,
}

impl ReceivedSpan {
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

type Store = Arc<Mutex<Vec<ReceivedSpan>>>;

/// The receiver; stops (its runtime shuts down) when dropped.
pub struct Receiver {
    /// `http://127.0.0.1:PORT`, for `OTEL_EXPORTER_OTLP_ENDPOINT` with `http/protobuf`.
    pub http_endpoint: String,
    /// `http://127.0.0.1:PORT`, for `OTEL_EXPORTER_OTLP_ENDPOINT` with `grpc`.
    pub grpc_endpoint: String,
    spans: Store,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Receiver {
    pub fn start() -> std::io::Result<Receiver> {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
        let spans: Store = Arc::default();
        let (http, grpc) = runtime.block_on(async {
            let http = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            Ok::<_, std::io::Error>((http, grpc))
        })?;
        let http_endpoint = format!("http://{}", http.local_addr()?);
        let grpc_endpoint = format!("http://{}", grpc.local_addr()?);
        runtime.spawn(accept(http, spans.clone(), false));
        runtime.spawn(accept(grpc, spans.clone(), true));
        Ok(Receiver { http_endpoint, grpc_endpoint, spans, runtime: Some(runtime) })
    }

    /// The spans received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans.lock().unwrap().clone()
    }

    /// Waits (up to `timeout`) until `done` holds for the spans received.
    pub fn wait_for(&self, timeout: Duration, done: impl Fn(&[ReceivedSpan]) -> bool) -> Vec<ReceivedSpan> {
        let deadline = Instant::now() + timeout;
        loop {
            let spans = self.spans();
            if done(&spans) || Instant::now() > deadline {
                return spans;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

async fn accept(listener: tokio::net::TcpListener, spans: Store, grpc: bool) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let spans = spans.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| handle(req, spans.clone(), grpc));
            let io = TokioIo::new(stream);
            let _ = if grpc {
                hyper::server::conn::http2::Builder::new(TokioExecutor::new()).serve_connection(io, svc).await
            } else {
                hyper::server::conn::http1::Builder::new().serve_connection(io, svc).await
            };
        });
    }
}

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

async fn handle(req: Request<Incoming>, spans: Store, grpc: bool) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_string();
    let want = if grpc { "/opentelemetry.proto.collector.trace.v1.TraceService/Export" } else { "/v1/traces" };
    let status = |code: StatusCode| {
        Ok(Response::builder().status(code).body(Full::new(Bytes::new()).boxed()).expect("a valid response"))
    };
    if path != want {
        return status(StatusCode::NOT_FOUND);
    }
    let Ok(body) = req.into_body().collect().await.map(|b| b.to_bytes()) else {
        return status(StatusCode::BAD_REQUEST);
    };
    // gRPC: one message behind its 5-byte prefix (uncompressed flag, length)
    let message = if grpc {
        match body.get(5..) {
            Some(m) if body[0] == 0 => m,
            _ => return status(StatusCode::BAD_REQUEST),
        }
    } else {
        &body[..]
    };
    let Ok(request) = ExportTraceServiceRequest::decode(message) else {
        return status(StatusCode::BAD_REQUEST);
    };
    spans.lock().unwrap().extend(flatten(&request, if grpc { "grpc" } else { "http" }));
    // an empty ExportTraceServiceResponse
    if grpc {
        let frames: Vec<Result<Frame<Bytes>, Infallible>> = vec![
            Ok(Frame::data(Bytes::from_static(&[0, 0, 0, 0, 0]))),
            Ok(Frame::trailers({
                let mut t = hyper::HeaderMap::new();
                t.insert("grpc-status", "0".parse().expect("a valid header"));
                t
            })),
        ];
        let body = StreamBody::new(futures::stream::iter(frames)).boxed();
        Ok(Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "application/grpc")
            .body(body)
            .expect("a valid response"))
    } else {
        Ok(Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "application/x-protobuf")
            .body(Full::new(Bytes::new()).boxed())
            .expect("a valid response"))
    }
}

fn text(v: &Option<opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn flatten(request: &ExportTraceServiceRequest, via: &'static str) -> Vec<ReceivedSpan> {
    let mut out = Vec::new();
    for rs in &request.resource_spans {
        let service = rs
            .resource
            .as_ref()
            .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
            .map(|kv| text(&kv.value))
            .unwrap_or_default();
        for ss in &rs.scope_spans {
            for s in &ss.spans {
                out.push(ReceivedSpan {
                    trace_id: hex::encode(&s.trace_id),
                    span_id: hex::encode(&s.span_id),
                    parent_span_id: hex::encode(&s.parent_span_id),
                    name: s.name.clone(),
                    service: service.clone(),
                    attributes: s.attributes.iter().map(|kv| (kv.key.clone(), text(&kv.value))).collect(),
                    status_code: s.status.as_ref().map(|st| st.code).unwrap_or(0),
                    via,
                });
            }
        }
    }
    out
}
