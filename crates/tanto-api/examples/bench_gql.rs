//! Rough per-request cost of the executor on the Dagger schema.
//!
//! `cargo run --release -p tanto-api --example bench_gql [iterations]`

use std::time::Instant;

use tanto_gql::{execute, execute_bytes, FieldCall, FieldError, Obj, Request, Resolved, Resolver};

/// Answers chain fields with a new object and leaves with a constant.
struct Trivial;

#[async_trait::async_trait]
impl Resolver for Trivial {
    async fn resolve(&self, _: &Obj, call: &FieldCall<'_>) -> Result<Resolved, FieldError> {
        match call.def.ty.name() {
            "String" | "ID" => Ok(Resolved::leaf("hi")),
            t => Ok(Resolved::object(t, ())),
        }
    }
}

const TYPICAL: &str = r#"{ container { from(address: "alpine") { withExec(args: ["echo", "hi"]) { stdout } } } }"#;
const INTROSPECTION: &str = include_str!("../tests/data/gql4_introspection.graphql");

fn main() {
    let n: u32 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let schema = tanto_api::schema::dagger_v021();
    let root = Obj::new("Query", ());
    rt.block_on(async {
        let out = execute(schema, &Trivial, root.clone(), Request::new(TYPICAL)).await;
        assert!(out.get("errors").is_none(), "{out}");
        let start = Instant::now();
        for _ in 0..n {
            let out = execute(schema, &Trivial, root.clone(), Request::new(TYPICAL)).await;
            std::hint::black_box(out);
        }
        println!("typical query: {:.1} µs/request", start.elapsed().as_secs_f64() * 1e6 / f64::from(n));

        let fresh = schema.clone();
        let start = Instant::now();
        let body = execute(&fresh, &Trivial, root.clone(), Request::new(INTROSPECTION)).await;
        let cold = start.elapsed();
        let start = Instant::now();
        let again = execute(&fresh, &Trivial, root.clone(), Request::new(INTROSPECTION)).await;
        let warm = start.elapsed();
        assert_eq!(body, again);
        let start = Instant::now();
        let bytes = execute_bytes(&fresh, &Trivial, root.clone(), Request::new(INTROSPECTION)).await;
        let warm_bytes = start.elapsed();
        assert_eq!(serde_json::from_slice::<serde_json::Value>(&bytes).ok(), Some(again));
        println!(
            "introspection: {} bytes, cold {cold:?}, memoized as a value {warm:?}, as bytes {warm_bytes:?}",
            bytes.len(),
        );

        let start = Instant::now();
        for _ in 0..n {
            std::hint::black_box(execute_bytes(schema, &Trivial, root.clone(), Request::new(TYPICAL)).await);
        }
        println!("typical query, serialized: {:.1} µs/request", start.elapsed().as_secs_f64() * 1e6 / f64::from(n));

        // A fluent chain of 10 000 calls, as the SDKs send it.
        let mut chain = String::from(r#"{container{from(address:"alpine"){"#);
        for i in 0..10_000 {
            chain.push_str(&format!(r#"withEnvVariable(name:"A{i}",value:"{i}"){{"#));
        }
        chain.push_str("id");
        chain.push_str(&"}".repeat(10_003));
        let start = Instant::now();
        let out = execute_bytes(schema, &Trivial, root.clone(), Request::new(chain)).await;
        println!("chain of 10000 calls: {:?}, {} bytes of answer", start.elapsed(), out.len());
    });
}
