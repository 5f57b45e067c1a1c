//! Calling a module function: the module's runtime container runs once per
//! call with a nested session that serves the call's context
//! (`currentFunctionCall`) and takes its result.

use std::sync::Arc;

use serde_json::{json, Value as Json};
use tanto_model::StableHasher;

use super::scope::{Returned, Scope};
use super::values::type_key;
use super::{FunctionCallObj, Loaded};
use crate::dagger::typedefs::{FunctionObj, Kind, ObjectTypeDefObj, TypeDefObj};
use crate::{Api, ApiError, ApiResult};

impl Api {
    /// Calls `f` of object `o` (state `parent`) of module `m` with `args`
    /// (original names). Results are kept for the life of the engine unless the
    /// function's cache policy is `NEVER`.
    pub(crate) async fn call_function(
        &self,
        m: &Arc<Loaded>,
        o: &ObjectTypeDefObj,
        parent: Json,
        f: &FunctionObj,
        args: Vec<(String, Json)>,
    ) -> ApiResult<Json> {
        let call = FunctionCallObj {
            name: if f.original_name.is_empty() { f.name.clone() } else { f.original_name.clone() },
            parent_name: type_key(o).to_string(),
            parent,
            input_args: args,
        };
        // A constructor's name is empty on the wire.
        let call = if f.name.is_empty() { FunctionCallObj { name: String::new(), ..call } } else { call };
        // Dagger's policies: `Never` runs every time; `Default` (with an
        // optional time to live) and `PerSession` keep the result (an engine
        // serves one client session).
        let default_off = m.source.config.get("disableDefaultFunctionCaching").and_then(Json::as_bool) == Some(true);
        let cached = match f.cache_policy.as_deref() {
            Some("Never") => false,
            None | Some("Default") if default_off && f.cache_ttl.is_none() => false,
            _ => true,
        };
        let ttl = f
            .cache_ttl
            .as_deref()
            .and_then(|t| tanto_contract::image::parse_duration(t).ok())
            .map(|ns| std::time::Duration::from_nanos(ns.max(0) as u64));
        let key = call_key(m, &call);
        // A result of plain values (no object IDs, which live as long as
        // their engine) is also kept in the state dir, for later engines.
        let durable = cached && plain(m, &f.return_type, 0);
        if cached {
            if let Some(hit) = self.objects.call_result(&key) {
                return Ok(hit);
            }
            if durable {
                if let Some((bytes, age)) = self.engine.cache.memo(&key).await? {
                    let fresh = ttl.is_none_or(|t| age < t.as_secs());
                    if let (true, Ok(v)) = (fresh, serde_json::from_slice::<Json>(&bytes)) {
                        let left = ttl.map(|t| t.saturating_sub(std::time::Duration::from_secs(age)));
                        self.objects.keep_call_result(key, v.clone(), left);
                        return Ok(v);
                    }
                }
            }
        }
        let out = self.run_function(m.clone(), call).await?;
        if cached {
            self.objects.keep_call_result(key.clone(), out.clone(), ttl);
        }
        if durable {
            self.engine.cache.set_memo(&key, out.to_string().as_bytes()).await?;
        }
        Ok(out)
    }

    /// Runs the module's runtime for `call` and returns what it returned.
    pub(crate) async fn run_function(&self, m: Arc<Loaded>, call: FunctionCallObj) -> ApiResult<Json> {
        let what = if call.parent_name.is_empty() {
            format!("registering the functions of module `{}`", m.name)
        } else if call.name.is_empty() {
            format!("the constructor of `{}` (module `{}`)", call.parent_name, m.name)
        } else {
            format!("function `{}.{}` (module `{}`)", call.parent_name, call.name, m.name)
        };
        let scope = Scope::for_call(m.clone(), call)?;
        let session = Arc::new(self.nested(scope));
        let args = tanto_gql::Args::new("Container", "withExec")
            .with("args", json!([]))
            .with("useEntrypoint", json!(true))
            .with("experimentalPrivilegedNesting", json!(true));
        let ctr = self.with_exec(&m.runtime, &args)?;
        let exec = ctr.exec.ok_or_else(|| ApiError::from("internal error: the function's exec was not built"))?;
        let out = self.engine.solve.run_nested(&exec, session.clone()).await?;
        let returned = session.scope.call.as_ref().and_then(|c| c.returned.lock().take());
        match returned {
            Some(Returned::Value(Json::String(text))) => serde_json::from_str(&text).map_err(|e| {
                ApiError::from(format!("{what} returned a value that is not JSON ({e}): {}", short(&text)))
            }),
            Some(Returned::Value(v)) => Ok(v),
            Some(Returned::Error(msg)) => Err(ApiError::from(msg)),
            None => {
                let stderr = String::from_utf8_lossy(&out.stderr);
                Err(ApiError::from(format!(
                    "{what} completed without returning a value (exit code {}){}",
                    out.exit_code,
                    tail(&stderr)
                )))
            }
        }
    }
}

/// Whether values of type `t` hold no object IDs: scalars, enums, lists of
/// them, and objects of module `m` (or its dependencies) whose fields are plain.
fn plain(m: &Loaded, t: &TypeDefObj, depth: usize) -> bool {
    if depth > 8 {
        return false;
    }
    match t.kind {
        Some(Kind::List) => t.list.as_deref().is_none_or(|e| plain(m, e, depth + 1)),
        Some(Kind::Object) => {
            let name = t.name();
            let owner = std::iter::once(m).chain(m.deps.iter().map(|d| &**d)).find(|x| x.object(&name).is_some());
            match owner.and_then(|x| x.object(&name)) {
                Some(o) => o.fields.iter().all(|f| plain(m, &f.type_def, depth + 1)),
                None => false, // a core object: an ID
            }
        }
        Some(Kind::Interface) => false,
        _ => true,
    }
}

/// The memo key of a call: the module's identity and runtime, the object's
/// state, the function and its arguments (IDs name their content, secrets their keyed digest).
fn call_key(m: &Loaded, call: &FunctionCallObj) -> String {
    let mut h = StableHasher::new();
    h.str("function-call/v1").str(&m.digest).json(&m.runtime).json(call);
    h.finish().hex()
}

fn short(s: &str) -> String {
    if s.len() > 200 {
        format!("{}...", &s[..s.char_indices().take_while(|(i, _)| *i < 200).last().map(|(i, _)| i).unwrap_or(0)])
    } else {
        s.to_string()
    }
}

/// The last lines of a function's stderr, for an error message.
fn tail(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().collect();
    if lines.is_empty() {
        return String::new();
    }
    let start = lines.len().saturating_sub(20);
    format!(":\n{}", lines[start..].join("\n"))
}
