//! Requests at the limits, through a real engine and its HTTP server: a fluent
//! chain of 10 000 calls (as the SDKs send it) answers, one level past the
//! nesting limit and a body past the size limit are refused with clear
//! errors, and the engine keeps serving. Needs root, docker-registry and
//! busybox-static.

use std::time::Instant;

use base64::Engine as _;
use serde_json::{json, Value};
use tanto_engine::{Engine, EngineOptions};

mod common;

use common::fixture;

tanto_testkit::tests! {
    long_chains_and_big_bodies_through_the_server: [Root, Registry, Busybox, OciRuntime]    async;
}

/// `{container{from(address:"busybox"){withEnvVariable(name:"A0",value:"0"){ ... {<leaf>}}}}}`
fn chain(calls: usize, leaf: &str) -> String {
    let mut q = String::from(r#"{container{from(address:"busybox"){"#);
    for i in 0..calls {
        q.push_str(&format!(r#"withEnvVariable(name:"A{i}",value:"{i}"){{"#));
    }
    q.push_str(leaf);
    q.push_str(&"}".repeat(calls + 3));
    q
}

struct Server {
    url: String,
    auth: String,
    client: reqwest::Client,
}

impl Server {
    /// Posts `body`; a stream when `chunked` (no Content-Length). Returns the status and body.
    async fn post(&self, body: Vec<u8>, chunked: bool) -> (u16, Vec<u8>) {
        let body = if chunked {
            let chunks: Vec<Result<Vec<u8>, std::io::Error>> = body.chunks(64 << 10).map(|c| Ok(c.to_vec())).collect();
            reqwest::Body::wrap_stream(futures::stream::iter(chunks))
        } else {
            reqwest::Body::from(body)
        };
        let resp = self
            .client
            .post(&self.url)
            .header("authorization", &self.auth)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("the server answers");
        let status = resp.status().as_u16();
        (status, resp.bytes().await.expect("a body").to_vec())
    }

    async fn query(&self, q: &str) -> (u16, Vec<u8>) {
        self.post(serde_json::to_vec(&json!({ "query": q })).unwrap(), false).await
    }
}

/// The first error's message in a response body, if any.
fn first_error(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    v["errors"][0]["message"].as_str().map(str::to_string)
}

async fn long_chains_and_big_bodies_through_the_server() {
    let fx = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("engine.toml");
    let text = std::fs::read_to_string(&fx.config).unwrap();
    std::fs::write(&config, format!("{text}\n[server]\nmaxRequestBytes = \"1MiB\"\n")).unwrap();
    let mut opts = EngineOptions::from_env(Some(tmp.path().to_path_buf())).unwrap();
    opts.state_dir = tmp.path().join("state");
    opts.config = Some(config);
    opts.quiet = true;
    let engine: std::sync::Arc<Engine> = Engine::start(opts).await.expect("starting the engine");
    assert_eq!(engine.server.max_request_bytes, 1 << 20);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let token = "t0k3n".to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(tanto_engine::server::serve(engine.clone(), listener, token.clone(), async {
        let _ = stopped.await;
    }));
    let server = Server {
        url: format!("http://127.0.0.1:{port}/query"),
        auth: format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{token}:"))),
        client: reqwest::Client::new(),
    };

    // Chains of calls answer, however long, up to the limit.
    for calls in [62, 1_000, 10_000] {
        let started = Instant::now();
        let (status, body) = server.query(&chain(calls, &format!(r#"envVariable(name:"A{}")"#, calls - 1))).await;
        let text = String::from_utf8_lossy(&body);
        let want = format!(r#"{{"envVariable":"{}"{}"#, calls - 1, "}".repeat(calls + 4));
        assert_eq!((status, first_error(&body)), (200, None), "{calls} calls");
        assert!(text.ends_with(&want), "{calls} calls: …{}", &text[text.len().saturating_sub(80)..]);
        eprintln!("{calls} chained calls: {:?}", started.elapsed());
    }
    // One level past the limit: refused before anything runs.
    let limit = tanto_gql::limits::MAX_DEPTH;
    let (status, body) = server.query(&chain(limit - 2, "id")).await;
    let message = first_error(&body).unwrap_or_default();
    assert_eq!(status, 200);
    assert!(
        message.starts_with(&format!("query nesting depth {} exceeds tanto's limit of {limit}", limit + 1)),
        "{message}"
    );

    // A body past the limit, with and without its length up front.
    let big = serde_json::to_vec(&json!({ "query": format!(r#"{{ container {{ withNewFile(path: "/f", contents: "{}") {{ id }} }} }}"#, "x".repeat(2 << 20)) })).unwrap();
    for chunked in [false, true] {
        let (status, body) = server.post(big.clone(), chunked).await;
        let message = first_error(&body).unwrap_or_default();
        assert_eq!(status, 413, "chunked: {chunked}");
        assert!(
            message.starts_with("the request body is larger than tanto's limit of 1048576 bytes"),
            "chunked: {chunked}: {message}"
        );
    }
    // The engine keeps serving.
    let (status, body) = server.query("{ version }").await;
    assert_eq!((status, first_error(&body)), (200, None));

    let _ = stop.send(());
    serving.await.unwrap();
    engine.shutdown().await;
}
