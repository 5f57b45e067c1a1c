//! What one session serves: its schema (core, plus the modules it has
//! served), and, in a module function call's session, the call's context and
//! the slot its result is returned into. Nested sessions (an exec with
//! `experimentalPrivilegedNesting`, or a function call) get a scope of their
//! own; the object table is shared engine-wide, so IDs pass between them.

use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use serde_json::Value as Json;
use tanto_contract::{NestedSessions, QueryHandler};
use tanto_gql::Schema;

use super::{FunctionCallObj, Loaded};
use crate::dagger::{Api, Objects};

/// A session's view of the API.
#[derive(Default)]
pub struct Scope {
    /// The served schema: `None` is the core schema alone.
    schema: RwLock<Option<Arc<Schema>>>,
    /// Modules served in this session, by the name of their field on `Query`.
    served: RwLock<Vec<Arc<Loaded>>>,
    /// The function call this session runs, in a module runtime.
    pub(crate) call: Option<CallContext>,
}

/// A function call's context: what `currentFunctionCall` answers and where
/// `returnValue`/`returnError` put the outcome.
pub(crate) struct CallContext {
    pub module: Arc<Loaded>,
    pub call: FunctionCallObj,
    pub returned: Mutex<Option<Returned>>,
}

/// What a function call returned.
#[derive(Debug, Clone)]
pub(crate) enum Returned {
    Value(Json),
    /// The error's message and its extra values (`withValue`).
    Error(String),
}

impl Scope {
    /// Whether this session serves a function of a module written for an
    /// engine older than `version` (`dagger.json` `engineVersion`): Dagger keeps
    /// such modules' API behaviour as it was (its "views").
    pub(crate) fn module_older_than(&self, version: (u64, u64, u64)) -> bool {
        let Some(c) = &self.call else { return false };
        parse_engine_version(&c.module.source.engine_version()).is_some_and(|v| v < version)
    }

    pub fn schema(&self) -> Option<Arc<Schema>> {
        self.schema.read().clone()
    }

    pub(crate) fn served(&self) -> Vec<Arc<Loaded>> {
        self.served.read().clone()
    }

    /// Serves `modules` (their fields on `Query`, their types) in this session.
    pub(crate) fn serve(&self, modules: Vec<Arc<Loaded>>) -> Result<(), crate::ApiError> {
        let mut served = self.served.write();
        for m in modules {
            if served.iter().any(|s| s.digest == m.digest) {
                continue;
            }
            if let Some(other) = served.iter().find(|s| s.field_name() == m.field_name()) {
                return Err(format!(
                    "module `{}` cannot be served: this session already serves a module named `{}` (from {})",
                    m.name, other.name, other.source_label
                )
                .into());
            }
            served.push(m);
        }
        let schema = super::schema::served_schema(&served)?;
        *self.schema.write() = Some(Arc::new(schema));
        Ok(())
    }

    pub(crate) fn for_call(module: Arc<Loaded>, call: FunctionCallObj) -> Result<Scope, crate::ApiError> {
        let scope = Scope {
            call: Some(CallContext { module: module.clone(), call, returned: Mutex::new(None) }),
            ..Default::default()
        };
        // A function sees the core API and its module's dependencies.
        if !module.deps.is_empty() {
            scope.serve(module.deps.clone())?;
        }
        Ok(scope)
    }
}

impl Api {
    /// The schema this session serves.
    pub fn schema(&self) -> Arc<Schema> {
        match self.scope.schema() {
            Some(s) => s,
            None => crate::schema::dagger_v021_arc(),
        }
    }

    /// Executes one request against this session's schema.
    pub async fn execute(&self, req: tanto_gql::Request) -> Json {
        let schema = self.schema();
        tanto_gql::execute(&schema, self, Api::root(), req).await
    }

    /// Like [`Api::execute`], serialised.
    pub async fn execute_bytes(&self, req: tanto_gql::Request) -> Vec<u8> {
        let schema = self.schema();
        tanto_gql::execute_bytes(&schema, self, Api::root(), req).await
    }

    /// The same engine and objects, seen through another scope.
    pub(crate) fn with_scope(&self, scope: Scope) -> Api {
        Api { engine: self.engine.clone(), objects: self.objects.clone(), scope: Arc::new(scope) }
    }

    /// The API of a nested session (a function call, or an exec with
    /// `experimentalPrivilegedNesting`): `scope`, this engine's objects, and
    /// no way to the client's host — what it needs of the host comes as
    /// arguments (directories, files, secrets) from the caller.
    pub(crate) fn nested(&self, scope: Scope) -> Api {
        Api { engine: without_host(&self.engine), objects: self.objects.clone(), scope: Arc::new(scope) }
    }

    /// What opens the sessions of execs with `experimentalPrivilegedNesting`:
    /// each gets the core API over this engine's objects, without the host.
    pub fn nested_sessions(&self) -> Arc<dyn NestedSessions> {
        Arc::new(PlainNested { engine: without_host(&self.engine), objects: self.objects.clone() })
    }
}

/// What a nested session's host access answers.
const NO_HOST: &str = "a nested session (a module function, or an exec with experimentalPrivilegedNesting) cannot reach the client's host: pass the host directories, files and secrets it needs as arguments";

/// `engine` with its host refused: files, sockets, exports and secrets read
/// from the host's environment, files or commands.
fn without_host(engine: &tanto_contract::Engine) -> tanto_contract::Engine {
    let refusing = Arc::new(tanto_contract::Refusing { message: NO_HOST, platform: "" });
    tanto_contract::Engine {
        host: refusing,
        secrets: Arc::new(NoHostSecrets(engine.secrets.clone())),
        ..engine.clone()
    }
}

/// Secrets of a nested session: set by value and read as usual; none read from the host.
struct NoHostSecrets(Arc<dyn tanto_contract::Secrets>);

#[async_trait::async_trait]
impl tanto_contract::Secrets for NoHostSecrets {
    fn set_secret(&self, name: &str, plaintext: Vec<u8>) -> String {
        self.0.set_secret(name, plaintext)
    }
    async fn secret_from_uri(&self, _: &str, _: Option<&str>) -> tanto_contract::EngineResult<String> {
        Err(tanto_contract::EngineError::input(NO_HOST))
    }
    async fn secret_plaintext(&self, identity: &str) -> tanto_contract::EngineResult<Vec<u8>> {
        self.0.secret_plaintext(identity).await
    }
}

struct PlainNested {
    engine: tanto_contract::Engine,
    objects: Arc<Objects>,
}

impl NestedSessions for PlainNested {
    fn open(&self) -> Arc<dyn QueryHandler> {
        Arc::new(Api { engine: self.engine.clone(), objects: self.objects.clone(), scope: Arc::default() })
    }
}

#[async_trait::async_trait]
impl QueryHandler for Api {
    async fn handle(&self, body: &[u8]) -> Vec<u8> {
        match tanto_gql::parse_request_body(body) {
            Ok(request) => self.execute_bytes(request).await,
            Err(errors) => serde_json::to_vec(&errors).unwrap_or_default(),
        }
    }
}

/// `v0.14.2` (or `0.14.2`, `v0.14.2-dev...`) as numbers; `None` for anything
/// else (a module without `engineVersion` gets the current behaviour).
fn parse_engine_version(v: &str) -> Option<(u64, u64, u64)> {
    let v = v.strip_prefix('v').unwrap_or(v);
    let core = v.split(['-', '+']).next()?;
    let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
    Some((parts.next()??, parts.next()??, parts.next().flatten().unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::parse_engine_version;

    #[test]
    fn engine_versions() {
        let cases = [
            ("v0.14.2", Some((0, 14, 2))),
            ("0.15.0", Some((0, 15, 0))),
            ("v0.21.8-dev-abc", Some((0, 21, 8))),
            ("v0.12", Some((0, 12, 0))),
            ("", None),
            ("latest", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_engine_version(input), want, "{input}");
        }
    }
}
