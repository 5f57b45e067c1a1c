//! Module values: instances of a module's object types, and the fields a
//! served module adds to `Query` (its constructor, `load<T>FromID`).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use tanto_gql::{FieldCall, Resolved};

use super::{function, Loaded};
use crate::dagger::objects::DirectoryObj;
use crate::dagger::typedefs::{FunctionObj, Kind, ObjectTypeDefObj, TypeDefObj};
use crate::dagger::{leaf, resolved, Object};
use crate::{Api, ApiError, ApiResult};

/// An instance of a module's object type: its fields by original name.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModValue {
    /// The digest of the module that defines the type.
    pub module: String,
    /// The type's GraphQL name.
    pub type_name: String,
    pub fields: Json,
}

impl Api {
    /// A field of `Query` that a served module adds, when `call` is one.
    pub(crate) async fn served_query_field(&self, call: &FieldCall<'_>) -> Option<ApiResult<Resolved>> {
        let served = self.scope.served();
        if let Some(m) = served.iter().find(|m| m.field_name() == call.field) {
            return Some(self.construct(m, call).await);
        }
        for m in &served {
            for o in m.types.objects.iter().filter_map(|t| t.object.as_deref()) {
                if call.field == format!("load{}FromID", o.name) {
                    let id = call.args.get("id").cloned().unwrap_or(Json::Null);
                    return Some(self.load(&id, Some(&o.name)).map(|o| resolved((*o).clone())));
                }
            }
        }
        None
    }

    /// The module's main object, through its constructor when it has one.
    async fn construct(&self, m: &Arc<Loaded>, call: &FieldCall<'_>) -> ApiResult<Resolved> {
        let main_name = m.main_object_name();
        let main = m
            .object(&main_name)
            .ok_or_else(|| ApiError::from(format!("module `{}` registered no main object `{main_name}`", m.name)))?;
        let fields = match &main.constructor {
            Some(ctor) => {
                let args = self.call_args(m, ctor, call).await?;
                self.call_function(m, main, Json::Object(Default::default()), ctor, args).await?
            }
            None => Json::Object(Default::default()),
        };
        Ok(resolved(Object::ModValue(ModValue { module: m.digest.clone(), type_name: main_name, fields })))
    }

    /// A field of a module value: one of its object's fields, or a function call.
    pub(crate) async fn resolve_mod_value(&self, v: &ModValue, call: &FieldCall<'_>) -> ApiResult<Resolved> {
        let m = self
            .objects
            .module(&v.module)
            .ok_or_else(|| ApiError::from(format!("module {} is not loaded in this engine", v.module)))?;
        let o = m
            .object(&v.type_name)
            .ok_or_else(|| ApiError::from(format!("module `{}` has no object `{}`", m.name, v.type_name)))?;
        if let Some(f) = o.fields.iter().find(|f| f.name == call.field) {
            let raw = v.fields.get(&f.original_name).or_else(|| v.fields.get(&f.name)).cloned().unwrap_or(Json::Null);
            return self.value_to_resolved(&m, &f.type_def, raw);
        }
        if let Some(func) = function(o, call.field) {
            let args = self.call_args(&m, func, call).await?;
            let out = self.call_function(&m, o, v.fields.clone(), func, args).await?;
            return self.value_to_resolved(&m, &func.return_type, out);
        }
        Err(format!("not implemented yet: {}.{}", v.type_name, call.field).into())
    }

    /// A function's result (JSON as the SDK returned it) as a GraphQL value of type `t`.
    pub(crate) fn value_to_resolved(&self, m: &Arc<Loaded>, t: &TypeDefObj, v: Json) -> ApiResult<Resolved> {
        if v.is_null() {
            return Ok(Resolved::Null);
        }
        Ok(match t.kind {
            None | Some(Kind::Void) => Resolved::Null,
            Some(Kind::List) => {
                let elem = t.list.as_deref().cloned().unwrap_or_default();
                let Json::Array(items) = v else {
                    return Err(format!("function returned {v} where a list was expected").into());
                };
                Resolved::List(
                    items.into_iter().map(|i| self.value_to_resolved(m, &elem, i)).collect::<Result<_, _>>()?,
                )
            }
            Some(Kind::Object) | Some(Kind::Interface) => {
                let name = t.name();
                if let Some(owner) = module_defining(m, &name) {
                    resolved(Object::ModValue(ModValue { module: owner.digest.clone(), type_name: name, fields: v }))
                } else {
                    // a core object, returned by ID
                    let o = self.load(&v, Some(&name))?;
                    resolved((*o).clone())
                }
            }
            _ => leaf(v),
        })
    }
}

impl Api {
    /// `dir` without what `ignore` matches (a new directory).
    fn filtered_directory(&self, dir: &DirectoryObj, ignore: &[String]) -> ApiResult<DirectoryObj> {
        let args = tanto_gql::Args::new("Directory", "withDirectory").with("exclude", serde_json::json!(ignore));
        let action = crate::dagger::container::copy_dir_action(dir, "/".into(), &args)?;
        let empty = DirectoryObj { root: None, path: "/".into() };
        Ok(empty.with_action(action, dir.root.iter().cloned().collect()))
    }
}

/// The module (`m` or one of its dependencies) that defines object `name`.
fn module_defining<'a>(m: &'a Arc<Loaded>, name: &str) -> Option<&'a Arc<Loaded>> {
    if m.object(name).is_some() {
        return Some(m);
    }
    m.deps.iter().find(|d| d.object(name).is_some())
}

impl Api {
    /// The arguments of a call to `f`, by original name, as the SDK reads them:
    /// those given, and for a directory or file argument left out that has a
    /// `defaultPath`, that path of the module's context (`/...`) or source.
    async fn call_args(&self, m: &Loaded, f: &FunctionObj, call: &FieldCall<'_>) -> ApiResult<Vec<(String, Json)>> {
        let mut out = Vec::new();
        for arg in &f.args {
            let name = if arg.original_name.is_empty() { arg.name.clone() } else { arg.original_name.clone() };
            match call.args.get(&arg.name) {
                Some(v) if !v.is_null() => out.push((name, self.sdk_input(m, &arg.type_def, v)?)),
                _ if !arg.default_path.is_empty() => {
                    let o = self.default_path_value(m, &arg.default_path, &arg.ignore, &arg.type_def).await?;
                    out.push((name, Json::String(self.objects.register(&o))));
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// An argument as the SDK takes it: module objects (given by ID) as
    /// their fields, everything else as given (core objects by ID).
    fn sdk_input(&self, m: &Loaded, t: &TypeDefObj, v: &Json) -> ApiResult<Json> {
        match (t.kind, v) {
            (Some(Kind::List), Json::Array(items)) => {
                let elem = t.list.as_deref().cloned().unwrap_or_default();
                Ok(Json::Array(items.iter().map(|i| self.sdk_input(m, &elem, i)).collect::<Result<_, _>>()?))
            }
            (Some(Kind::Object), Json::String(_)) if m.object(&t.name()).is_some() => {
                match &*self.load(v, Some(&t.name()))? {
                    Object::ModValue(mv) => Ok(mv.fields.clone()),
                    _ => unreachable!("type checked by load"),
                }
            }
            _ => Ok(v.clone()),
        }
    }

    /// A `defaultPath` argument's value, from the host the module was loaded from.
    async fn default_path_value(
        &self,
        m: &Loaded,
        default_path: &str,
        ignore: &[String],
        t: &TypeDefObj,
    ) -> ApiResult<Object> {
        let src = &m.source;
        let outside = || {
            ApiError::from(format!(
                "module `{}`: default path `{default_path}` is outside the module's context directory; use a path inside it",
                m.name
            ))
        };
        if let Some(ctx) = &src.context {
            // a directory's module: the path within its context directory
            let path = default_path_in(&ctx.path, &src.root.path, default_path).ok_or_else(outside)?;
            let sub = crate::dagger::objects::DirectoryObj { root: ctx.root.clone(), path };
            return Ok(match t.name().as_str() {
                "File" => Object::File(crate::dagger::objects::FileObj { root: sub.root, path: sub.path }),
                _ if ignore.is_empty() => Object::Directory(sub),
                _ => Object::Directory(self.filtered_directory(&sub, ignore)?),
            });
        }
        let path = default_path_in(&src.context_host_path, &src.root_host_path, default_path).ok_or_else(outside)?;
        match t.name().as_str() {
            "Directory" => {
                let root = self.engine.host.host_directory(&path, vec![], ignore.to_vec(), false).await?;
                Ok(Object::Directory(crate::dagger::objects::DirectoryObj { root: Some(root), path: "/".into() }))
            }
            "File" => {
                let (root, path) = self.engine.host.host_file(&path).await?;
                Ok(Object::File(crate::dagger::objects::FileObj { root: Some(root), path }))
            }
            other => Err(ApiError::from(format!(
                "module `{}`: `defaultPath` is for Directory and File arguments, not {other}",
                m.name
            ))),
        }
    }
}

/// Where a `defaultPath` points: absolute paths count from the context
/// directory, relative ones from the module's root; `None` when it leaves the
/// context directory.
fn default_path_in(context: &str, root: &str, default_path: &str) -> Option<String> {
    let path = if default_path.starts_with('/') {
        crate::dagger::paths::within(context, default_path)
    } else {
        crate::dagger::paths::resolve(root, default_path)
    };
    crate::dagger::paths::strip_dir_prefix(&path, context)?;
    Some(path)
}

/// The object type a module value belongs to, for the memo key.
pub(super) fn type_key(o: &ObjectTypeDefObj) -> &str {
    if o.original_name.is_empty() {
        &o.name
    } else {
        &o.original_name
    }
}

#[cfg(test)]
mod tests {
    use super::default_path_in;

    #[test]
    fn default_paths_stay_in_the_context_directory() {
        let ctx = "/home/u/repo";
        let root = "/home/u/repo/ci";
        let cases: &[(&str, Option<&str>)] = &[
            ("/", Some("/home/u/repo")),
            ("/src", Some("/home/u/repo/src")),
            ("/../etc", None),
            (".", Some("/home/u/repo/ci")),
            ("..", Some("/home/u/repo")),
            ("../src", Some("/home/u/repo/src")),
            ("../..", None),
            ("../../repo-other", None),
            ("../../repo2/x", None),
        ];
        for (p, want) in cases {
            assert_eq!(default_path_in(ctx, root, p).as_deref(), *want, "defaultPath {p:?}");
        }
    }
}
