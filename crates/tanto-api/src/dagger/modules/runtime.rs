//! A module's runtime container: the SDK's recipe (a GraphQL document over
//! the core API, from `tanto-module`) evaluated in this engine.

use std::sync::Arc;

use serde_json::{json, Value as Json};

use super::{Loaded, ModuleSourceObj};
use crate::dagger::objects::ContainerObj;
use crate::dagger::Object;
use crate::{Api, ApiError, ApiResult};

const RUNTIME_PY: &str = "#!/usr/bin/env python\n\nimport sys\n\nfrom dagger.mod.cli import app\n\nif __name__ == \"__main__\":\n    sys.exit(app(None, \"--register\" in sys.argv[1:]))\n";

impl Api {
    pub(super) async fn module_runtime(&self, src: &ModuleSourceObj, _deps: &[Arc<Loaded>]) -> ApiResult<ContainerObj> {
        let ctx_id = self.objects.register(&Object::Directory(src.root.clone()));
        let name = src.name();
        let query = r#"query($ctx: ID!, $module: String!, $pkg: String!, $main: String!, $runtime: String!) {
  container { from(address: "python:3.14-slim") {
    withEnvVariable(name: "PYTHONUNBUFFERED", value: "1") {
    withEnvVariable(name: "PIP_DISABLE_PIP_VERSION_CHECK", value: "1") {
    withEnvVariable(name: "PIP_ROOT_USER_ACTION", value: "ignore") {
    withExec(args: ["pip", "install", "--break-system-packages", "dagger-io==0.21.11"]) {
    withDirectory(path: "/src", source: $ctx) { withWorkdir(path: "/src") {
    withExec(args: ["pip", "install", "--break-system-packages", "--no-deps", "-e", "."]) {
    withNewFile(path: "/runtime", contents: $runtime, permissions: 493) {
    withEntrypoint(args: ["/runtime"]) {
    withEnvVariable(name: "DAGGER_MODULE", value: $module) {
    withEnvVariable(name: "DAGGER_DEFAULT_PYTHON_PACKAGE", value: $pkg) {
    withEnvVariable(name: "DAGGER_MAIN_OBJECT", value: $main) { id }
  } } } } } } } } } } } } }
}"#;
        let vars = json!({
            "ctx": ctx_id,
            "module": name,
            "pkg": tanto_module::names::snake(&name),
            "main": tanto_module::names::camel(&name),
            "runtime": RUNTIME_PY,
        });
        self.eval_container(query, vars, &format!("building the runtime of module `{name}`")).await
    }

    /// Runs an internal GraphQL document whose answer ends in one `id` of a
    /// container, and returns that container.
    pub(super) async fn eval_container(&self, query: &str, vars: Json, what: &str) -> ApiResult<ContainerObj> {
        let req =
            tanto_gql::Request { query: query.to_string(), variables: vars.as_object().cloned(), operation_name: None };
        let plain = self.with_scope(Default::default());
        let out = plain.execute(req).await;
        if let Some(errors) = out.get("errors").and_then(Json::as_array) {
            let msgs: Vec<&str> = errors.iter().filter_map(|e| e.get("message").and_then(Json::as_str)).collect();
            return Err(ApiError::from(format!("{what}: {}", msgs.join("; "))));
        }
        let id =
            find_id(&out["data"]).ok_or_else(|| ApiError::from(format!("{what}: no container ID in the answer")))?;
        self.load_container(&Json::String(id))
    }
}

/// The one `id` at the end of a chain of single-field objects.
fn find_id(v: &Json) -> Option<String> {
    let mut cur = v;
    loop {
        let Json::Object(o) = cur else { return None };
        if let Some(Json::String(id)) = o.get("id") {
            return Some(id.clone());
        }
        cur = o.values().next()?;
    }
}
