//! dagger-io (Python, 0.21.11) against the executor over loopback HTTP, the way `dagger
//! session` serves it (DAGGER_SESSION_PORT + DAGGER_SESSION_TOKEN), with the Python that
//! `tanto_testkit::prereq::python_with` finds (`TANTO_PYTHON`, else setup.sh's `target/venv`,
//! else `python3`); skipped when none has dagger-io, failed under CI.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value as Json;
use tanto_gql::schema::TypeKind;
use tanto_gql::{execute_bytes, parse_request_body, FieldCall, FieldError, Obj, Resolved, Resolver, Schema};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

tanto_testkit::tests! {
    // test                                                   prerequisites   kind
    dagger_io_drives_the_executor:                            [PythonSdk]     async;
    dagger_io_builds_type_defs_and_reads_the_served_schema:   [PythonSdk]     async;
}

/// Answers any field: objects of the field's type, leaves naming the field.
struct Generic;

fn object_of(schema: &Schema, name: &str) -> Resolved {
    let concrete = match schema.get_type(name) {
        Some(t) if t.kind == TypeKind::Object => name.to_string(),
        Some(t) => t.possible_types.first().map(|p| p.to_string()).unwrap_or_else(|| name.to_string()),
        None => name.to_string(),
    };
    Resolved::Object(Obj::new(concrete, ()))
}

#[async_trait::async_trait]
impl Resolver for Generic {
    async fn resolve(&self, parent: &Obj, call: &FieldCall<'_>) -> Result<Resolved, FieldError> {
        let schema = call.schema;
        let named = call.def.ty.name();
        if call.field == "node" {
            let id = call.args.string("id")?;
            let ty = id.strip_prefix("id:").ok_or_else(|| FieldError::new(format!("bad id `{id}`")))?;
            return Ok(object_of(schema, ty));
        }
        if call.field.starts_with("load") && call.field.ends_with("FromID") {
            return Ok(object_of(schema, named));
        }
        if call.field == "id" || call.field == "sync" {
            return Ok(Resolved::leaf(format!("id:{}", parent.type_name)));
        }
        let list = matches!(call.def.ty.nullable(), tanto_gql::schema::TypeRef::List(_));
        let kind = schema.get_type(named).map(|t| t.kind);
        Ok(match kind {
            Some(TypeKind::Object | TypeKind::Interface | TypeKind::Union) if list => {
                Resolved::List(vec![object_of(schema, named)])
            }
            Some(TypeKind::Object | TypeKind::Interface | TypeKind::Union) => object_of(schema, named),
            _ if list => Resolved::leaf(Json::Array(Vec::new())),
            Some(TypeKind::Enum) => {
                let first = schema.get_type(named).and_then(|t| t.enum_values.keys().next().map(|k| k.to_string()));
                Resolved::leaf(first.unwrap_or_default())
            }
            _ => match named {
                "Int" => Resolved::leaf(0),
                "Float" => Resolved::leaf(0.0),
                "Boolean" => Resolved::leaf(false),
                "Void" => Resolved::Null,
                _ => Resolved::leaf(format!("{named}:{}.{}", parent.type_name, call.field)),
            },
        })
    }
}

/// Serves POST /query over HTTP/1.1 keep-alive connections with `resolver` from `root`,
/// checking nothing but framing.
async fn serve(listener: TcpListener, log: Arc<std::sync::Mutex<Vec<String>>>, resolver: Arc<dyn Resolver>, root: Obj) {
    loop {
        let Ok((sock, _)) = listener.accept().await else {
            return;
        };
        let log = log.clone();
        let (resolver, root) = (resolver.clone(), root.clone());
        tokio::spawn(async move {
            let mut sock = BufReader::new(sock);
            loop {
                let mut len = 0usize;
                let mut line = String::new();
                let mut first = true;
                loop {
                    line.clear();
                    match sock.read_line(&mut line).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    if first {
                        first = false;
                        continue;
                    }
                    let l = line.trim_end();
                    if l.is_empty() {
                        break;
                    }
                    if let Some((k, v)) = l.split_once(':') {
                        if k.eq_ignore_ascii_case("content-length") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                }
                let mut body = vec![0u8; len];
                if sock.read_exact(&mut body).await.is_err() {
                    return;
                }
                let out = match parse_request_body(&body) {
                    Ok(req) => {
                        log.lock().unwrap().push(req.query.clone());
                        execute_bytes(tanto_api::schema::dagger_v021(), &*resolver, root.clone(), req).await
                    }
                    Err(e) => serde_json::to_vec(&e).unwrap_or_default(),
                };
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                    out.len()
                );
                if sock.get_mut().write_all(head.as_bytes()).await.is_err()
                    || sock.get_mut().write_all(&out).await.is_err()
                {
                    return;
                }
            }
        });
    }
}

/// Runs `tests/<script>` with dagger-io against `resolver`; returns the queries it sent.
async fn run_script(script: &str, resolver: Arc<dyn Resolver>, root: Obj) -> Vec<String> {
    let python = tanto_testkit::prereq::python_with("dagger").unwrap_or_else(|e| panic!("{e}"));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds loopback");
    let port = listener.local_addr().expect("has an address").port();
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let server = tokio::spawn(serve(listener, log.clone(), resolver, root));
    let path = format!("{}/tests/{script}", env!("CARGO_MANIFEST_DIR"));
    let run = tokio::process::Command::new(&python)
        .arg(&path)
        .env("DAGGER_SESSION_PORT", port.to_string())
        .env("DAGGER_SESSION_TOKEN", "token")
        .env_remove("_EXPERIMENTAL_DAGGER_CLI_BIN")
        .env("OTEL_SDK_DISABLED", "true")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), run).await;
    server.abort();
    let out = match out {
        Err(_) => panic!("the Python SDK run of {script} timed out"),
        Ok(Err(e)) => panic!("cannot run `{}`: {e}", python.display()),
        Ok(Ok(o)) => o,
    };
    let queries = log.lock().unwrap().clone();
    assert!(
        out.status.success(),
        "python SDK ({script}) failed:\n{}\n{}\nqueries:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        queries.iter().map(|q| if q.len() > 200 { &q[..200] } else { q }).collect::<Vec<_>>().join("\n")
    );
    eprintln!("dagger-io ({script}): {} requests, all answered", queries.len());
    if std::env::var_os("TANTO_SHOW_QUERIES").is_some() {
        for q in queries.iter().skip(1) {
            eprintln!("  {q}");
        }
    }
    queries
}

async fn dagger_io_drives_the_executor() {
    run_script("python_sdk.py", Arc::new(Generic), Obj::new("Query", ())).await;
}

/// The real resolvers for the pure-data types (type defs, functions, modules, envs): no
/// engine work is needed, so an engine that refuses all work is enough.
async fn dagger_io_builds_type_defs_and_reads_the_served_schema() {
    let api = tanto_api::Api::new(tanto_api::dagger::coverage::probe_engine(), Arc::new(tanto_api::Objects::default()));
    run_script("python_sdk_typedefs.py", Arc::new(api), tanto_api::Api::root()).await;
}
