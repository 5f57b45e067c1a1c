//! The HTTP endpoint SDKs talk to: `POST /query` with HTTP Basic auth (the
//! session token as user name, empty password), many HTTP/1.1 connections.

use std::convert::Infallible;
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::Engine;

const MAX_BODY: usize = 256 << 20;

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(serde_json::to_vec(body).unwrap_or_default())))
        .expect("static response parts are valid")
}

fn error_body(message: &str) -> serde_json::Value {
    serde_json::json!({"data": null, "errors": [{"message": message}]})
}

/// Checks `Authorization: Basic base64(token:)`, accepting both base64
/// alphabets (the Rust SDK uses the URL-safe one) and missing padding.
pub fn authorized(header: Option<&str>, token: &str) -> bool {
    let Some(value) = header.and_then(|h| h.strip_prefix("Basic ").or_else(|| h.strip_prefix("basic "))) else {
        return false;
    };
    let value = value.trim();
    let config = base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent);
    let engines = [
        base64::engine::GeneralPurpose::new(&base64::alphabet::STANDARD, config),
        base64::engine::GeneralPurpose::new(&base64::alphabet::URL_SAFE, config),
    ];
    engines.iter().any(|e| {
        e.decode(value).ok().is_some_and(|raw| {
            let user = raw.split(|b| *b == b':').next().unwrap_or(&[]);
            constant_time_eq(user, token.as_bytes())
        })
    })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn handle(
    engine: Arc<Engine>,
    token: Arc<str>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
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
    let path = req.uri().path().trim_end_matches('/');
    if path != "/query" {
        return Ok(json_response(
            StatusCode::NOT_FOUND,
            &error_body(&format!("no such endpoint `{path}`: POST GraphQL to /query")),
        ));
    }
    if req.method() != Method::POST {
        return Ok(json_response(StatusCode::METHOD_NOT_ALLOWED, &error_body("use POST for /query")));
    }
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return Ok(json_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                &error_body(&format!("reading the request body: {e}")),
            ))
        }
    };
    let request = match tanto_gql::parse_request_body(&body) {
        Ok(r) => r,
        Err(errors) => return Ok(json_response(StatusCode::OK, &errors)),
    };
    let body = engine.execute_bytes(request).await;
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("static response parts are valid"))
}

/// Serves `listener` until `shutdown` resolves, then drops open connections
/// (cancelling their work).
pub async fn serve(
    engine: Arc<Engine>,
    listener: TcpListener,
    token: String,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let token: Arc<str> = token.into();
    let mut conns = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "accepting a connection failed");
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let engine = engine.clone();
                let token = token.clone();
                conns.spawn(async move {
                    let svc = hyper::service::service_fn(move |req| handle(engine.clone(), token.clone(), req));
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
