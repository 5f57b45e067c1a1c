//! Shared set-up of the engine integration tests: a real docker-registry with
//! the busybox image, engine config mirroring docker.io to it, and in-process
//! engines on a state dir of the test's own.

#![allow(dead_code)] // each test binary uses its own subset

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use tanto_engine::{Engine, EngineOptions};

pub struct Fixture {
    _registry: tanto_testkit::Registry,
    /// `127.0.0.1:PORT` of the registry.
    pub addr: String,
    /// The engine config file mirroring docker.io to the registry.
    pub config: PathBuf,
    _dir: tempfile::TempDir,
}

pub fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let registry = tanto_testkit::Registry::start(&dir.path().join("registry")).expect("starting docker-registry");
    let addr = registry.address();
    tanto_testkit::publish_busybox(&addr).expect("pushing busybox");
    let config = dir.path().join("engine.toml");
    tanto_testkit::write_engine_config(&config, &addr).expect("writing the engine config");
    Fixture { _registry: registry, addr, config, _dir: dir }
}

/// An engine with its state under `state`, host paths relative to `state`.
pub async fn engine(fx: &Fixture, state: &Path) -> Arc<Engine> {
    engine_with(&fx.config, state).await
}

/// An engine of engine config `config`, with its state under `state`, host
/// paths relative to `state`.
pub async fn engine_with(config: &Path, state: &Path) -> Arc<Engine> {
    let mut opts = EngineOptions::from_env(Some(state.to_path_buf())).unwrap();
    opts.state_dir = state.join("state");
    opts.config = Some(config.to_path_buf());
    opts.quiet = true;
    Engine::start(opts).await.expect("starting the engine")
}

/// An engine whose client works in `workdir`, with its state exactly in `state_dir`.
pub async fn engine_at(fx: &Fixture, workdir: &Path, state_dir: &Path) -> Arc<Engine> {
    let mut opts = EngineOptions::from_env(Some(workdir.to_path_buf())).unwrap();
    opts.state_dir = state_dir.to_path_buf();
    opts.config = Some(fx.config.clone());
    opts.quiet = true;
    Engine::start(opts).await.expect("starting the engine")
}

pub async fn query(e: &Engine, q: &str) -> Value {
    e.execute(tanto_gql::Request { query: q.to_string(), variables: None, operation_name: None }).await
}

pub fn first_error(v: &Value) -> String {
    v["errors"][0]["message"].as_str().unwrap_or("").to_string()
}

/// An engine with no registry configured (for tests of local sources), its
/// state under `state`, host paths relative to `state`.
pub async fn engine_offline(state: &Path) -> Arc<Engine> {
    let mut opts = EngineOptions::from_env(Some(state.to_path_buf())).unwrap();
    opts.state_dir = state.join("state");
    let config = state.join("engine.toml");
    std::fs::write(&config, "").unwrap();
    opts.config = Some(config);
    opts.quiet = true;
    Engine::start(opts).await.expect("starting the engine")
}

/// The answer at `path` (dot-separated keys), failing the test on errors.
pub async fn ask(e: &Engine, q: &str, path: &str) -> Value {
    let got = query(e, q).await;
    assert!(got.get("errors").is_none(), "{q}: {got}");
    path.split('.').fold(&got["data"], |v, k| &v[k]).clone()
}

/// The first error's message, failing the test when there is none.
pub async fn ask_err(e: &Engine, q: &str) -> String {
    let got = query(e, q).await;
    got["errors"][0]["message"].as_str().unwrap_or_else(|| panic!("{q}: expected an error, got {got}")).to_string()
}
