//! Calling a module function: the module's runtime container runs once per
//! call with a nested session that serves the call's context
//! (`currentFunctionCall`) and takes its result.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value as Json};
use tanto_model::StableHasher;

use super::scope::{Returned, Scope};
use super::values::type_key;
use super::{FunctionCallObj, Loaded};
use crate::dagger::typedefs::{FunctionObj, Kind, ObjectTypeDefObj, TypeDefObj};
use crate::{Api, ApiError, ApiResult};

impl Api {
    /// Calls `f` of object `o` (state `parent`) of module `m` with `args`
    /// (original names). Results are kept as the function's cache policy says
    /// (see [`Policy`]).
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
        let default_off = m.source.config.get("disableDefaultFunctionCaching").and_then(Json::as_bool) == Some(true);
        let policy = Policy::of(f.cache_policy.as_deref(), f.cache_ttl.as_deref(), default_off);
        let cached = policy != Policy::Never;
        let ttl = match policy {
            Policy::Kept(ttl) => Some(ttl),
            _ => None,
        };
        let key = call_key(m, &call);
        // The result of a call that saw no secret is also kept in the state
        // dir, for later engines, for its time to live, with the objects it
        // names (`kept`).
        let durable = matches!(policy, Policy::Kept(_))
            && !f.args.iter().any(|a| holds_secret(m, &a.type_def, 0))
            && !o.fields.iter().any(|f| holds_secret(m, &f.type_def, 0));
        if cached {
            if let Some(hit) = self.objects.call_result(&key) {
                return Ok(hit);
            }
            if durable {
                if let Some((bytes, age)) = self.engine.cache.memo(&key).await? {
                    let fresh = ttl.is_none_or(|t| age < t.as_secs());
                    if let (true, Ok(kept)) = (fresh, serde_json::from_slice::<super::kept::Kept>(&bytes)) {
                        if let Some(v) = self.restore(kept).await {
                            let left = ttl.map(|t| t.saturating_sub(Duration::from_secs(age)));
                            self.objects.keep_call_result(key, v.clone(), left);
                            return Ok(v);
                        }
                    }
                }
            }
        }
        let out = self.run_function(m.clone(), call).await?;
        if cached {
            self.objects.keep_call_result(key.clone(), out.clone(), ttl);
        }
        if let Some(kept) = durable.then(|| self.keep(&out)).flatten() {
            if let Ok(bytes) = serde_json::to_vec(&kept) {
                self.engine.cache.set_memo(&key, &bytes).await?;
            }
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
        let label = if call.parent_name.is_empty() {
            format!("register module {}", m.name)
        } else if call.name.is_empty() {
            format!("call {} (module {})", call.parent_name, m.name)
        } else {
            format!("call {}.{} (module {})", call.parent_name, call.name, m.name)
        };
        let scope = Scope::for_call(m.clone(), call)?;
        let session = Arc::new(self.nested(scope));
        let args = tanto_gql::Args::new("Container", "withExec")
            .with("args", json!([]))
            .with("useEntrypoint", json!(true))
            .with("experimentalPrivilegedNesting", json!(true));
        let ctr = self.with_exec(&m.runtime, &args)?;
        let exec = ctr.exec.ok_or_else(|| ApiError::from("internal error: the function's exec was not built"))?;
        let out = self.engine.solve.run_nested(&exec, session.clone(), &label).await?;
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

/// Dagger's function cache policies (v0.19.4 on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Policy {
    /// `cache = "never"`: runs every time.
    Never,
    /// `cache = "session"`, and every function of a module written before
    /// v0.19.4 (`disableDefaultFunctionCaching`): kept for the client's
    /// session, which is this engine's life.
    Session,
    /// The default and `cache = "<duration>"`: kept, across engines too, for
    /// the duration, at most [`MAX_FUNCTION_CACHE_TTL`].
    Kept(Duration),
}

/// The longest a function result is kept, and the default (Dagger's 7 days).
const MAX_FUNCTION_CACHE_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

impl Policy {
    /// From the function's `withCachePolicy` and the module's
    /// `disableDefaultFunctionCaching`.
    fn of(policy: Option<&str>, ttl: Option<&str>, default_off: bool) -> Policy {
        let ttl = ttl
            .and_then(|t| tanto_contract::image::parse_duration(t).ok())
            .map(|ns| Duration::from_nanos(ns.max(0) as u64).min(MAX_FUNCTION_CACHE_TTL));
        match (policy, ttl) {
            (Some("Never"), _) => Policy::Never,
            (Some("PerSession"), _) => Policy::Session,
            (_, Some(ttl)) => Policy::Kept(ttl),
            (_, None) if default_off => Policy::Session,
            (_, None) => Policy::Kept(MAX_FUNCTION_CACHE_TTL),
        }
    }
}

/// Whether values of type `t` can carry a secret: `Secret` itself, lists of
/// it and module objects with such fields. A call that takes one is never
/// kept in the state dir: its result may hold the plaintext.
fn holds_secret(m: &Loaded, t: &TypeDefObj, depth: usize) -> bool {
    if depth > 8 {
        return true;
    }
    match t.kind {
        Some(Kind::List) => t.list.as_deref().is_some_and(|e| holds_secret(m, e, depth + 1)),
        Some(Kind::Object) | Some(Kind::Interface) => {
            let name = t.name();
            if name == "Secret" {
                return true;
            }
            let owner = std::iter::once(m).chain(m.deps.iter().map(|d| &**d)).find(|x| x.object(&name).is_some());
            owner
                .and_then(|x| x.object(&name))
                .is_some_and(|o| o.fields.iter().any(|f| holds_secret(m, &f.type_def, depth + 1)))
        }
        _ => false,
    }
}

/// The memo key of a call: the module's identity and runtime, the object's
/// state, the function and its arguments (IDs name their content, secrets their keyed digest).
fn call_key(m: &Loaded, call: &FunctionCallObj) -> String {
    let mut h = StableHasher::new();
    h.str("function-call/v2").str(&m.digest).json(&m.runtime).json(call);
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

#[cfg(test)]
mod tests {
    use super::{Policy, MAX_FUNCTION_CACHE_TTL};
    use std::time::Duration;

    #[test]
    fn cache_policies_as_dagger() {
        let cases: &[(Option<&str>, Option<&str>, bool, Policy)] = &[
            (None, None, false, Policy::Kept(MAX_FUNCTION_CACHE_TTL)),
            (Some("Default"), None, false, Policy::Kept(MAX_FUNCTION_CACHE_TTL)),
            (Some("Default"), Some("10m"), false, Policy::Kept(Duration::from_secs(600))),
            (Some("Default"), Some("720h"), false, Policy::Kept(MAX_FUNCTION_CACHE_TTL)),
            (Some("Default"), None, true, Policy::Session),
            (Some("Default"), Some("10m"), true, Policy::Kept(Duration::from_secs(600))),
            (Some("PerSession"), None, false, Policy::Session),
            (Some("Never"), None, false, Policy::Never),
            (Some("Never"), None, true, Policy::Never),
        ];
        for (policy, ttl, off, want) in cases {
            assert_eq!(Policy::of(*policy, *ttl, *off), *want, "{policy:?} {ttl:?} disableDefault={off}");
        }
    }
}
