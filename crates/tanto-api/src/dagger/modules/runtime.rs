//! A module's runtime container: the SDK's recipe (GraphQL documents over
//! the core API, from `tanto_module::python::runtime`) evaluated in this
//! engine. Every step is an ordinary cached op, so a module whose source,
//! configuration and dependencies are unchanged gets its runtime from the
//! cache; a change to its code re-runs only the last steps.

use std::sync::Arc;

use serde_json::{Map, Value as Json};
use tanto_module::python::runtime::{self as recipe, Purpose};

use super::{Loaded, ModuleSourceObj};
use crate::dagger::objects::ContainerObj;
use crate::dagger::{paths, Object};
use crate::{Api, ApiError, ApiResult};

impl Api {
    pub(super) async fn module_runtime(&self, src: &ModuleSourceObj, deps: &[Arc<Loaded>]) -> ApiResult<ContainerObj> {
        let name = src.name();
        let what = format!("building the runtime of module `{name}`");
        let source = src.source_subpath();
        let read = |file: &str| {
            let path = paths::within(&paths::within(&src.root.path, &source), file);
            async move {
                match self.engine.solve.stat(src.root.root.as_ref(), &path, false).await? {
                    Some(_) => {
                        let data = self.engine.solve.read_file(src.root.root.as_ref(), &path).await?;
                        Ok::<_, ApiError>(Some(String::from_utf8_lossy(&data).into_owned()))
                    }
                    None => Ok(None),
                }
            }
        };
        let bindings = if deps.is_empty() {
            None
        } else {
            let mut types = Vec::new();
            for d in deps {
                types.push(self.module_types(d).await?);
            }
            Some(tanto_module::python::bindings(&types))
        };
        let input = recipe::Input {
            module_name: name.clone(),
            source_subpath: source.clone(),
            pyproject: read("pyproject.toml").await?,
            python_version_file: read(".python-version").await?,
            has_uv_lock: read("uv.lock").await?.is_some(),
            extra_bindings: bindings,
            env: recipe::forwarded_env(),
            purpose: Purpose::Runtime,
        };
        let prelude = recipe::prelude(&input);
        let data = self.eval(&prelude.query, prelude.variables, &what).await?;
        let ids = recipe::PreludeIds::from_data(&input, &data).map_err(|e| ApiError::from(format!("{what}: {e}")))?;
        let doc = recipe::document(&input, &ids).map_err(|e| ApiError::from(format!("{what}: {e}")))?;
        let mut vars = doc.variables;
        let context = self.objects.register(&Object::Directory(src.root.clone()));
        if let Some(files) = &doc.lock_files {
            // a host module's lock files uploaded alone: keyed by their content
            let lock = if src.context.is_none() {
                let r = self.engine.host.host_directory(&src.root_host_path, files.clone(), vec![], false).await?;
                self.objects.register(&Object::Directory(crate::dagger::objects::DirectoryObj {
                    root: Some(r),
                    path: "/".into(),
                }))
            } else {
                context.clone()
            };
            vars.insert("lock".into(), Json::String(lock));
        }
        vars.insert("context".into(), Json::String(context));
        let data = self.eval(&doc.query, vars, &what).await?;
        let id = recipe::container_id(&data).ok_or_else(|| ApiError::from(format!("{what}: no container ID")))?;
        self.load_container(&Json::String(id.to_string()))
    }

    /// A loaded module's types as clients read them (`tanto_module::types`).
    pub(super) async fn module_types(&self, m: &Loaded) -> ApiResult<tanto_module::types::ModuleTypes> {
        let id = self.objects.register(&Object::Def(crate::dagger::typedefs::DefObj::Module(m.module_obj())));
        let q = format!(
            "query($id: ModuleID!) {{ loadModuleFromID(id: $id) {{ {} }} }}",
            tanto_module::types::module_types_selection()
        );
        let mut vars = Map::new();
        vars.insert("id".into(), Json::String(id));
        let mut data = self.eval(&q, vars, &format!("reading the types of module `{}`", m.name)).await?;
        serde_json::from_value(data["loadModuleFromID"].take())
            .map_err(|e| ApiError::from(format!("reading the types of module `{}`: {e}", m.name)))
    }

    /// Runs an internal GraphQL document with the core schema; its `data`, or
    /// its errors' messages after `what`.
    pub(super) async fn eval(&self, query: &str, vars: Map<String, Json>, what: &str) -> ApiResult<Json> {
        let req = tanto_gql::Request { query: query.to_string(), variables: Some(vars), operation_name: None };
        let mut out = self.with_scope(Default::default()).execute(req).await;
        if let Some(errors) = out.get("errors").and_then(Json::as_array) {
            let msgs: Vec<&str> = errors.iter().filter_map(|e| e.get("message").and_then(Json::as_str)).collect();
            return Err(ApiError::from(format!("{what}: {}", msgs.join("; "))));
        }
        Ok(out.get_mut("data").map(Json::take).unwrap_or(Json::Null))
    }
}
