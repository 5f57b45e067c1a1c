//! The executor: parse, pick the operation, coerce variables, validate field names, then resolve
//! selections against a [`Resolver`] and assemble the `{"data", "errors"}` body.

use std::any::Any;
use std::fmt;
use std::sync::{Arc, Mutex};

use async_graphql_parser::types::{
    Directive, DocumentOperations, ExecutableDocument, Field, OperationDefinition, OperationType, Selection,
    SelectionSet,
};
use async_graphql_parser::{Pos, Positioned};
use async_graphql_value::Value;
use futures::future::{join_all, BoxFuture};
use serde_json::{Map, Value as Json};

use super::introspection;
use super::schema::{CachedResponse, FieldDef, Schema, TypeDef, TypeKind, TypeRef};
use super::value::{Args, Coercer};

/// The value behind a GraphQL object: whatever the resolver put there.
pub type ObjectValue = Arc<dyn Any + Send + Sync>;

/// A GraphQL object: its concrete object type name and the resolver's value.
#[derive(Clone)]
pub struct Obj {
    pub type_name: String,
    pub value: ObjectValue,
}

impl Obj {
    /// An object of type `type_name` wrapping `value`.
    pub fn new<T: Any + Send + Sync>(type_name: impl Into<String>, value: T) -> Obj {
        Obj { type_name: type_name.into(), value: Arc::new(value) }
    }
    /// The wrapped value, if it is a `T`.
    pub fn downcast_ref<T: Any>(&self) -> Option<&T> {
        self.value.downcast_ref::<T>()
    }
}

impl fmt::Debug for Obj {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Obj").field("type_name", &self.type_name).finish_non_exhaustive()
    }
}

/// What a resolver returns for a field.
#[derive(Debug, Clone)]
pub enum Resolved {
    Null,
    /// A scalar or enum value (or a whole list of them, as a JSON array), passed through as is.
    Leaf(Json),
    /// An object; its sub-selection is executed against `type_name`.
    Object(Obj),
    /// A list whose items are completed one by one (objects get their sub-selection).
    List(Vec<Resolved>),
}

impl Resolved {
    /// A leaf value.
    pub fn leaf(v: impl Into<Json>) -> Resolved {
        Resolved::Leaf(v.into())
    }
    /// An object of type `type_name` wrapping `value`.
    pub fn object<T: Any + Send + Sync>(type_name: impl Into<String>, value: T) -> Resolved {
        Resolved::Object(Obj::new(type_name, value))
    }
}

impl From<Obj> for Resolved {
    fn from(o: Obj) -> Resolved {
        Resolved::Object(o)
    }
}

/// A field's failure, as reported in the response's `errors`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FieldError {
    pub message: String,
    pub extensions: Option<Map<String, Json>>,
}

impl FieldError {
    pub fn new(message: impl Into<String>) -> FieldError {
        FieldError { message: message.into(), extensions: None }
    }
    /// An error carrying `extensions` (e.g. `{"_type": "EXEC_ERROR", ...}`).
    pub fn with_extensions(message: impl Into<String>, extensions: Map<String, Json>) -> FieldError {
        FieldError { message: message.into(), extensions: Some(extensions) }
    }
    /// Adds one extension entry.
    pub fn extension(mut self, key: impl Into<String>, value: impl Into<Json>) -> FieldError {
        self.extensions.get_or_insert_with(Map::new).insert(key.into(), value.into());
        self
    }
}

impl From<String> for FieldError {
    fn from(message: String) -> FieldError {
        FieldError::new(message)
    }
}

impl From<&str> for FieldError {
    fn from(message: &str) -> FieldError {
        FieldError::new(message)
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FieldError {}

/// One field to resolve.
pub struct FieldCall<'a> {
    pub schema: &'a Schema,
    /// The concrete object type of the parent.
    pub type_name: &'a str,
    pub field: &'a str,
    pub args: &'a Args,
    /// The field's definition (on the concrete type).
    pub def: &'a FieldDef,
}

/// Resolves the fields of non-introspection objects.
#[async_trait::async_trait]
pub trait Resolver: Send + Sync {
    async fn resolve(&self, parent: &Obj, field: &FieldCall<'_>) -> Result<Resolved, FieldError>;
}

/// A GraphQL request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Request {
    pub query: String,
    pub variables: Option<Map<String, Json>>,
    pub operation_name: Option<String>,
}

impl Request {
    pub fn new(query: impl Into<String>) -> Request {
        Request { query: query.into(), variables: None, operation_name: None }
    }
}

/// Parses a JSON request body `{"query": string, "variables"?: object|null, "operationName"?:
/// string|null}`. On failure, returns the error body to send back.
pub fn parse_request_body(body: &[u8]) -> Result<Request, Json> {
    let v: Json =
        serde_json::from_slice(body).map_err(|e| request_error_body(format!("request body is not valid JSON: {e}")))?;
    let Json::Object(mut m) = v else {
        return Err(request_error_body("request body must be a JSON object with a `query` string"));
    };
    let query = match m.remove("query") {
        Some(Json::String(q)) => q,
        None | Some(Json::Null) => {
            return Err(request_error_body("request body has no `query`: send {\"query\": \"{ ... }\"}"))
        }
        Some(other) => return Err(request_error_body(format!("`query` must be a string, not {}", json_kind(&other)))),
    };
    let variables = match m.remove("variables") {
        None | Some(Json::Null) => None,
        Some(Json::Object(vars)) => Some(vars),
        // Some clients send variables as an encoded JSON string.
        Some(Json::String(s)) if !s.trim().is_empty() => match serde_json::from_str::<Json>(&s) {
            Ok(Json::Object(vars)) => Some(vars),
            Ok(Json::Null) => None,
            _ => return Err(request_error_body("`variables` must be a JSON object")),
        },
        Some(Json::String(_)) => None,
        Some(other) => {
            return Err(request_error_body(format!("`variables` must be an object, not {}", json_kind(&other))))
        }
    };
    let operation_name = match m.remove("operationName") {
        None | Some(Json::Null) => None,
        Some(Json::String(s)) if s.is_empty() => None,
        Some(Json::String(s)) => Some(s),
        Some(other) => {
            return Err(request_error_body(format!("`operationName` must be a string, not {}", json_kind(&other))))
        }
    };
    Ok(Request { query, variables, operation_name })
}

fn json_kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

fn request_error_body(message: impl Into<String>) -> Json {
    let mut e = Map::new();
    e.insert("message".into(), Json::String(message.into()));
    body(Json::Null, vec![Json::Object(e)])
}

fn body(data: Json, errors: Vec<Json>) -> Json {
    let mut m = Map::new();
    if !errors.is_empty() {
        m.insert("errors".into(), Json::Array(errors));
    }
    m.insert("data".into(), data);
    Json::Object(m)
}

/// An error as it goes into the response.
#[derive(Debug)]
struct GqlError {
    message: String,
    locations: Vec<Pos>,
    path: Option<Vec<Json>>,
    extensions: Option<Map<String, Json>>,
}

impl GqlError {
    fn at(message: impl Into<String>, pos: Pos) -> GqlError {
        GqlError { message: message.into(), locations: vec![pos], path: None, extensions: None }
    }
    fn has_type(&self) -> bool {
        self.extensions.as_ref().is_some_and(|e| e.contains_key("_type"))
    }
    fn into_json(self) -> Json {
        let mut m = Map::new();
        m.insert("message".into(), Json::String(self.message));
        if !self.locations.is_empty() {
            let locs = self
                .locations
                .iter()
                .map(|p| {
                    let mut l = Map::new();
                    l.insert("line".into(), Json::from(p.line));
                    l.insert("column".into(), Json::from(p.column));
                    Json::Object(l)
                })
                .collect();
            m.insert("locations".into(), Json::Array(locs));
        }
        if let Some(p) = self.path {
            m.insert("path".into(), Json::Array(p));
        }
        if let Some(e) = self.extensions {
            m.insert("extensions".into(), Json::Object(e));
        }
        Json::Object(m)
    }
}

fn errors_body(data: Json, mut errors: Vec<GqlError>) -> Json {
    // Typed errors (`extensions._type`, e.g. EXEC_ERROR) first: Python picks the exception class
    // from errors[0]. Then query order, so concurrent siblings report deterministically.
    errors.sort_by_key(|e| (!e.has_type(), e.locations.first().map(|p| (p.line, p.column))));
    body(data, errors.into_iter().map(GqlError::into_json).collect())
}

/// A response path, as a linked list up the stack of executing fields.
struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    seg: Seg<'a>,
}

enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

impl Path<'_> {
    fn to_json(&self) -> Vec<Json> {
        let mut out = Vec::new();
        let mut cur = Some(self);
        while let Some(p) = cur {
            out.push(match p.seg {
                Seg::Key(k) => Json::String(k.to_string()),
                Seg::Index(i) => Json::from(i),
            });
            cur = p.parent;
        }
        out.reverse();
        out
    }
}

struct Ctx<'a> {
    schema: &'a Schema,
    resolver: &'a dyn Resolver,
    doc: &'a ExecutableDocument,
    vars: Map<String, Json>,
    errors: Mutex<Vec<GqlError>>,
}

/// Fields of one selection set grouped by response key, in order.
type Grouped<'a> = Vec<(&'a str, Vec<&'a Positioned<Field>>)>;

/// Marks a position whose error has been recorded and whose null must reach a nullable parent.
#[derive(Debug)]
struct Bubble;

impl<'a> Ctx<'a> {
    fn push(&self, e: GqlError) {
        if let Ok(mut errs) = self.errors.lock() {
            errs.push(e);
        }
    }
    fn error(&self, pos: Pos, path: &Path<'_>, message: impl Into<String>, extensions: Option<Map<String, Json>>) {
        self.push(GqlError { message: message.into(), locations: vec![pos], path: Some(path.to_json()), extensions });
    }

    fn included(&self, directives: &[Positioned<Directive>]) -> bool {
        for d in directives {
            let name = d.node.name.node.as_str();
            if name != "skip" && name != "include" {
                continue;
            }
            let cond = d.node.get_argument("if").and_then(|v| match &v.node {
                Value::Boolean(b) => Some(*b),
                Value::String(s) => s.parse::<bool>().ok(),
                Value::Variable(n) => match self.vars.get(n.as_str()) {
                    Some(Json::Bool(b)) => Some(*b),
                    Some(Json::String(s)) => s.parse::<bool>().ok(),
                    _ => None,
                },
                _ => None,
            });
            match (name, cond) {
                ("skip", Some(true)) | ("include", Some(false)) => return false,
                _ => {}
            }
        }
        true
    }

    /// CollectFields (spec §6.3.2) for an object of type `object_type`.
    fn collect_fields(
        &self,
        object_type: &str,
        set: &'a SelectionSet,
        out: &mut Grouped<'a>,
        visited: &mut Vec<&'a str>,
    ) {
        for sel in &set.items {
            match &sel.node {
                Selection::Field(f) => {
                    if !self.included(&f.node.directives) {
                        continue;
                    }
                    let key = f.node.response_key().node.as_str();
                    match out.iter_mut().find(|(k, _)| *k == key) {
                        Some((_, v)) => v.push(f),
                        None => out.push((key, vec![f])),
                    }
                }
                Selection::FragmentSpread(s) => {
                    if !self.included(&s.node.directives) {
                        continue;
                    }
                    let name = s.node.fragment_name.node.as_str();
                    if visited.contains(&name) {
                        continue;
                    }
                    visited.push(name);
                    let Some(frag) = self.doc.fragments.get(name) else {
                        continue;
                    };
                    if self.schema.type_applies(object_type, frag.node.type_condition.node.on.node.as_str()) {
                        self.collect_fields(object_type, &frag.node.selection_set.node, out, visited);
                    }
                }
                Selection::InlineFragment(i) => {
                    if !self.included(&i.node.directives) {
                        continue;
                    }
                    let applies = match &i.node.type_condition {
                        None => true,
                        Some(c) => self.schema.type_applies(object_type, c.node.on.node.as_str()),
                    };
                    if applies {
                        self.collect_fields(object_type, &i.node.selection_set.node, out, visited);
                    }
                }
            }
        }
    }

    fn coerce_args(&self, ty: &TypeDef, def: &FieldDef, field: &Field) -> Result<Args, String> {
        let mut args = Args::with_capacity(ty.name.clone(), def.name.clone(), def.args.len());
        if let Some((name, _)) = field.arguments.iter().find(|(n, _)| !def.args.contains_key(n.node.as_str())) {
            return Err(format!("unknown argument `{}` on field `{}.{}`", name.node, ty.name, def.name));
        }
        let coercer = Coercer::new(self.schema, &self.vars);
        for a in def.args.values() {
            let given = field.arguments.iter().find(|(n, _)| n.node.as_str() == &*a.name).map(|(_, v)| &v.node);
            // An unset variable is an absent argument.
            let given = match given {
                Some(Value::Variable(v)) if !self.vars.contains_key(v.as_str()) => None,
                g => g,
            };
            let value = match given {
                None => None,
                Some(v) => Some(coercer.coerce(v, a.ty.nullable()).map_err(|e| {
                    format!("invalid value for argument `{}` of `{}.{}`: {e}", a.name, ty.name, def.name)
                })?),
            };
            match value {
                Some(v) if !v.is_null() => args.push(a.name.clone(), v),
                // Absent or null: the default if there is one (Python sends `null` for `None`).
                _ => {
                    if let Some(d) = &a.default_json {
                        args.push(a.name.clone(), d.clone());
                    } else if a.ty.is_non_null() {
                        return Err(format!(
                            "argument `{}` of `{}.{}` is required (type `{}`)",
                            a.name, ty.name, def.name, a.ty
                        ));
                    } else if value.is_some() {
                        args.push(a.name.clone(), Json::Null);
                    }
                }
            }
        }
        Ok(args)
    }
}

/// Executes a request against `schema`, resolving non-introspection fields with `resolver`
/// starting from `root` (the query root object). Returns the full response body.
pub async fn execute(schema: &Schema, resolver: &dyn Resolver, root: Obj, req: Request) -> Json {
    if let Some(hit) = cache_lookup(schema, &req, &root.type_name) {
        return (*hit.0).clone();
    }
    let (out, memoizable) = execute_uncached(schema, resolver, &root, &req).await;
    if memoizable {
        cache_store(schema, &req, &root.type_name, &out);
    }
    out
}

/// [`execute`], serialized: what goes on the wire. Memoized introspection answers are copied
/// out as bytes, which is much cheaper than cloning a large JSON value.
pub async fn execute_bytes(schema: &Schema, resolver: &dyn Resolver, root: Obj, req: Request) -> Vec<u8> {
    if let Some(hit) = cache_lookup(schema, &req, &root.type_name) {
        return hit.1.to_vec();
    }
    let (out, memoizable) = execute_uncached(schema, resolver, &root, &req).await;
    if memoizable {
        if let Some(bytes) = cache_store(schema, &req, &root.type_name, &out) {
            return bytes.to_vec();
        }
    }
    serde_json::to_vec(&out).unwrap_or_else(|e| {
        serde_json::to_vec(&request_error_body(format!("cannot serialize the response: {e}"))).unwrap_or_default()
    })
}

/// Runs a request; the flag says whether the response depends on nothing but the schema and
/// the request (introspection only, no variables, no errors), so it can be memoized.
async fn execute_uncached(schema: &Schema, resolver: &dyn Resolver, root: &Obj, req: &Request) -> (Json, bool) {
    let doc = match async_graphql_parser::parse_query(&req.query) {
        Ok(d) => d,
        Err(e) => {
            let locations: Vec<Pos> = e.positions().collect();
            let message = syntax_error_message(&e);
            let err = GqlError { message, locations, path: None, extensions: None };
            return (errors_body(Json::Null, vec![err]), false);
        }
    };
    let op = match select_operation(&doc, req.operation_name.as_deref()) {
        Ok(op) => op,
        Err(message) => {
            let err = GqlError { message, locations: Vec::new(), path: None, extensions: None };
            return (errors_body(Json::Null, vec![err]), false);
        }
    };
    if op.node.ty == OperationType::Subscription {
        return (errors_body(Json::Null, vec![GqlError::at("subscriptions are not supported", op.pos)]), false);
    }
    let vars = match coerce_variables(schema, &op.node, req.variables.as_ref()) {
        Ok(v) => v,
        Err(errs) => return (errors_body(Json::Null, errs), false),
    };
    let Some(root_type) = schema.get_type(schema.query_type()) else {
        return (request_error_body(format!("query type `{}` is missing", schema.query_type())), false);
    };
    let mut errs = Vec::new();
    Validator::new(schema, &doc).selection_set(root_type, &op.node.selection_set.node, &mut errs);
    if !errs.is_empty() {
        return (errors_body(Json::Null, errs), false);
    }

    let ctx = Ctx { schema, resolver, doc: &doc, vars, errors: Mutex::new(Vec::new()) };
    let mut groups = Grouped::new();
    ctx.collect_fields(&root.type_name, &op.node.selection_set.node, &mut groups, &mut Vec::new());
    let introspection_only = groups.iter().all(|(_, fs)| fs[0].node.name.node.starts_with("__"));
    let data = execute_groups(&ctx, root, root_type, groups, None).await.unwrap_or(Json::Null);
    let errors = ctx.errors.into_inner().unwrap_or_default();
    let memoizable = introspection_only && errors.is_empty() && req.variables.as_ref().is_none_or(|v| v.is_empty());
    (errors_body(data, errors), memoizable)
}

/// A one-line parse error: pest's report quotes the offending source line (which may hold a
/// secret's plaintext), so keep only its "expected ..." part; positions go in `locations`.
fn syntax_error_message(e: &async_graphql_parser::Error) -> String {
    let text = e.to_string();
    let detail = text.lines().rev().find_map(|l| l.trim_start().strip_prefix("= ")).unwrap_or_else(|| text.trim());
    let detail = detail.replace("selection_set", "selection set").replace("executable_definition", "operation");
    match e.positions().next() {
        Some(p) => format!("syntax error: {detail} (line {}, column {})", p.line, p.column),
        None => format!("syntax error: {detail}"),
    }
}

const CACHE_MAX_QUERIES: usize = 32;

fn cache_lookup(schema: &Schema, req: &Request, root: &str) -> Option<(Arc<Json>, Arc<[u8]>)> {
    if req.variables.as_ref().is_some_and(|v| !v.is_empty()) {
        return None;
    }
    let cache = schema.intro_cache.lock().ok()?;
    let entries = cache.get(req.query.as_str())?;
    entries
        .iter()
        .find(|e| e.operation_name.as_deref() == req.operation_name.as_deref() && e.root_type == root)
        .map(|e| (e.json.clone(), e.bytes.clone()))
}

fn cache_store(schema: &Schema, req: &Request, root: &str, out: &Json) -> Option<Arc<[u8]>> {
    let bytes: Arc<[u8]> = serde_json::to_vec(out).ok()?.into();
    let mut cache = schema.intro_cache.lock().ok()?;
    if cache.len() >= CACHE_MAX_QUERIES && !cache.contains_key(req.query.as_str()) {
        cache.clear();
    }
    let entries = cache.entry(req.query.clone()).or_default();
    if entries.len() < 8 {
        entries.push(CachedResponse {
            operation_name: req.operation_name.clone(),
            root_type: root.to_string(),
            json: Arc::new(out.clone()),
            bytes: bytes.clone(),
        });
    }
    Some(bytes)
}

fn select_operation<'d>(
    doc: &'d ExecutableDocument,
    name: Option<&str>,
) -> Result<&'d Positioned<OperationDefinition>, String> {
    match (&doc.operations, name) {
        (DocumentOperations::Single(op), _) => Ok(op),
        (DocumentOperations::Multiple(ops), Some(n)) => {
            ops.get(n).ok_or_else(|| format!("unknown operation named `{n}`"))
        }
        (DocumentOperations::Multiple(ops), None) => {
            let mut it = ops.values();
            match (it.next(), it.next()) {
                (Some(op), None) => Ok(op),
                _ => Err("the document has several operations: set `operationName` to pick one".into()),
            }
        }
    }
}

fn coerce_variables(
    schema: &Schema,
    op: &OperationDefinition,
    given: Option<&Map<String, Json>>,
) -> Result<Map<String, Json>, Vec<GqlError>> {
    let mut out = Map::new();
    let mut errs = Vec::new();
    let none = Map::new();
    let coercer = Coercer::new(schema, &none);
    for def in &op.variable_definitions {
        let name = def.node.name.node.as_str();
        let ty = TypeRef::from_ast(&def.node.var_type.node);
        match schema.get_type(ty.name()) {
            Some(t) if t.kind.is_input() => {}
            Some(_) => {
                errs.push(GqlError::at(format!("variable `${name}` cannot be of non-input type `{ty}`"), def.pos));
                continue;
            }
            None => {
                errs.push(GqlError::at(format!("variable `${name}` has unknown type `{ty}`"), def.pos));
                continue;
            }
        }
        let value = match given.and_then(|g| g.get(name)) {
            Some(v) => coercer.coerce(v, &ty),
            None => match &def.node.default_value {
                Some(d) => coercer.coerce(&d.node, &ty),
                None if ty.is_non_null() => {
                    errs.push(GqlError::at(
                        format!("variable `${name}` of required type `{ty}` was not provided"),
                        def.pos,
                    ));
                    continue;
                }
                None => continue,
            },
        };
        match value {
            Ok(v) => {
                out.insert(name.to_string(), v);
            }
            Err(e) => errs.push(GqlError::at(format!("variable `${name}` has an invalid value: {e}"), def.pos)),
        }
    }
    if errs.is_empty() {
        Ok(out)
    } else {
        Err(errs)
    }
}

/// Executes grouped fields of one object; `Err` when a non-null field failed.
fn execute_groups<'a>(
    ctx: &'a Ctx<'a>,
    obj: &'a Obj,
    ty: &'a TypeDef,
    groups: Grouped<'a>,
    path: Option<&'a Path<'a>>,
) -> BoxFuture<'a, Result<Json, Bubble>> {
    Box::pin(async move {
        let results: Vec<Result<Json, Bubble>> = if groups.len() == 1 {
            let (key, fields) = &groups[0];
            let p = Path { parent: path, seg: Seg::Key(key) };
            vec![execute_field(ctx, obj, ty, fields, &p).await]
        } else {
            join_all(groups.iter().map(|(key, fields)| async move {
                let p = Path { parent: path, seg: Seg::Key(key) };
                execute_field(ctx, obj, ty, fields, &p).await
            }))
            .await
        };
        let mut map = Map::with_capacity(groups.len());
        let mut bubbled = false;
        for ((key, _), r) in groups.iter().zip(results) {
            match r {
                Ok(v) => {
                    map.insert((*key).to_string(), v);
                }
                Err(Bubble) => bubbled = true,
            }
        }
        if bubbled {
            Err(Bubble)
        } else {
            Ok(Json::Object(map))
        }
    })
}

async fn execute_field<'a>(
    ctx: &'a Ctx<'a>,
    obj: &'a Obj,
    ty: &'a TypeDef,
    fields: &'a [&'a Positioned<Field>],
    path: &Path<'_>,
) -> Result<Json, Bubble> {
    let field = fields[0];
    let name = field.node.name.node.as_str();
    if name == "__typename" {
        return Ok(Json::String(obj.type_name.clone()));
    }
    let is_meta = name == "__schema" || name == "__type";
    let def = if is_meta { ctx.schema.meta_field(name) } else { ty.fields.get(name) };
    let Some(def) = def else {
        ctx.error(field.pos, path, format!("Cannot query field \"{name}\" on type \"{}\".", ty.name), None);
        return Ok(Json::Null);
    };
    let args = match ctx.coerce_args(ty, def, &field.node) {
        Ok(a) => a,
        Err(msg) => {
            ctx.error(field.pos, path, msg, None);
            return if def.ty.is_non_null() { Err(Bubble) } else { Ok(Json::Null) };
        }
    };
    let resolved = if is_meta {
        introspection::resolve_meta(ctx.schema, name, &args)
    } else if ty.name.starts_with("__") {
        introspection::resolve(ctx.schema, obj, name, &args)
    } else {
        let call = FieldCall { schema: ctx.schema, type_name: &obj.type_name, field: name, args: &args, def };
        ctx.resolver.resolve(obj, &call).await
    };
    match resolved {
        Ok(r) => complete_value(ctx, &def.ty, r, fields, path, field.pos, ty, def).await,
        Err(e) => {
            ctx.error(field.pos, path, e.message, e.extensions);
            if def.ty.is_non_null() {
                Err(Bubble)
            } else {
                Ok(Json::Null)
            }
        }
    }
}

/// Completes a resolved value at a position of type `ty`. Nullable positions absorb failures
/// (already reported) as `null`; non-null ones bubble them up.
#[allow(clippy::too_many_arguments)]
fn complete_value<'a, 'p>(
    ctx: &'a Ctx<'a>,
    ty: &'a TypeRef,
    r: Resolved,
    fields: &'a [&'a Positioned<Field>],
    path: &'p Path<'p>,
    pos: Pos,
    parent: &'a TypeDef,
    def: &'a FieldDef,
) -> BoxFuture<'p, Result<Json, Bubble>>
where
    'a: 'p,
{
    Box::pin(async move {
        match ty {
            TypeRef::NonNull(inner) => {
                let v = complete_nullable(ctx, inner, r, fields, path, pos, parent, def).await?;
                // `Void!` (e.g. `Container.exportImage`) is null, as in Dagger.
                if v.is_null() && inner.name() != "Void" {
                    let msg = format!("Cannot return null for non-nullable field {}.{}.", parent.name, def.name);
                    ctx.error(pos, path, msg, None);
                    Err(Bubble)
                } else {
                    Ok(v)
                }
            }
            _ => Ok(complete_nullable(ctx, ty, r, fields, path, pos, parent, def).await.unwrap_or(Json::Null)),
        }
    })
}

#[allow(clippy::too_many_arguments)]
async fn complete_nullable<'a, 'p>(
    ctx: &'a Ctx<'a>,
    ty: &'a TypeRef,
    r: Resolved,
    fields: &'a [&'a Positioned<Field>],
    path: &'p Path<'p>,
    pos: Pos,
    parent: &'a TypeDef,
    def: &'a FieldDef,
) -> Result<Json, Bubble> {
    let fail = |msg: String| {
        ctx.error(pos, path, msg, None);
        Err(Bubble)
    };
    match (ty, r) {
        (_, Resolved::Null) | (_, Resolved::Leaf(Json::Null)) => Ok(Json::Null),
        (TypeRef::List(inner), Resolved::List(items)) => {
            // Items complete concurrently, like sibling fields (each may run its own pipeline).
            let results = join_all(items.into_iter().enumerate().map(|(i, item)| async move {
                let p = Path { parent: Some(path), seg: Seg::Index(i) };
                complete_value(ctx, inner, item, fields, &p, pos, parent, def).await
            }))
            .await;
            results.into_iter().collect::<Result<Vec<_>, _>>().map(Json::Array)
        }
        // Lists of leaves may come as one JSON array.
        (TypeRef::List(_), Resolved::Leaf(v)) => Ok(v),
        (TypeRef::List(_), _) => fail(format!("internal error: `{}.{}` resolved to a non-list", parent.name, def.name)),
        (TypeRef::NonNull(inner), r) => complete_value(ctx, inner, r, fields, path, pos, parent, def).await,
        (TypeRef::Named(name), r) => {
            let Some(t) = ctx.schema.get_type(name) else {
                return fail(format!("internal error: unknown type `{name}`"));
            };
            if t.kind.is_leaf() {
                return match r {
                    Resolved::Leaf(v) => Ok(v),
                    _ => fail(format!("internal error: `{}.{}` resolved to a non-leaf value", parent.name, def.name)),
                };
            }
            let Resolved::Object(obj) = r else {
                return fail(format!("internal error: `{}.{}` resolved to a non-object value", parent.name, def.name));
            };
            let Some(concrete) = ctx.schema.get_type(&obj.type_name).filter(|c| c.kind == TypeKind::Object) else {
                return fail(format!("internal error: `{}` is not an object type", obj.type_name));
            };
            let mut groups = Grouped::new();
            let mut visited = Vec::new();
            for f in fields {
                ctx.collect_fields(&concrete.name, &f.node.selection_set.node, &mut groups, &mut visited);
            }
            if fields.iter().all(|f| f.node.selection_set.node.items.is_empty()) {
                return complete_bare_object(ctx, &obj, concrete, path, pos).await;
            }
            execute_groups(ctx, &obj, concrete, groups, Some(path)).await
        }
    }
}

/// Lenient ScalarLeafs: an object field selected without sub-fields yields the object's `id`.
async fn complete_bare_object(
    ctx: &Ctx<'_>,
    obj: &Obj,
    concrete: &TypeDef,
    path: &Path<'_>,
    pos: Pos,
) -> Result<Json, Bubble> {
    let Some(id_def) = concrete.fields.get("id") else {
        ctx.error(pos, path, format!("field of type `{}` must have a selection of subfields", concrete.name), None);
        return Err(Bubble);
    };
    let args = Args::new(concrete.name.clone(), id_def.name.clone());
    let call = FieldCall { schema: ctx.schema, type_name: &obj.type_name, field: "id", args: &args, def: id_def };
    match ctx.resolver.resolve(obj, &call).await {
        Ok(Resolved::Leaf(v)) => Ok(v),
        Ok(_) => {
            ctx.error(pos, path, format!("internal error: `{}.id` is not a leaf", concrete.name), None);
            Err(Bubble)
        }
        Err(e) => {
            ctx.error(pos, path, e.message, e.extensions);
            Err(Bubble)
        }
    }
}

/// Static checks before execution: field and argument names, fragments, leaf/sub-selection
/// shape. Type conditions are lenient (dagql's PossibleFragmentSpreads replacement).
struct Validator<'a> {
    schema: &'a Schema,
    doc: &'a ExecutableDocument,
    done: Vec<&'a str>,
    stack: Vec<&'a str>,
}

impl<'a> Validator<'a> {
    fn new(schema: &'a Schema, doc: &'a ExecutableDocument) -> Validator<'a> {
        Validator { schema, doc, done: Vec::new(), stack: Vec::new() }
    }

    fn selection_set(&mut self, parent: &'a TypeDef, set: &'a SelectionSet, errs: &mut Vec<GqlError>) {
        for sel in &set.items {
            match &sel.node {
                Selection::Field(f) => self.field(parent, f, errs),
                Selection::FragmentSpread(s) => {
                    let name = s.node.fragment_name.node.as_str();
                    let Some(frag) = self.doc.fragments.get(name) else {
                        errs.push(GqlError::at(format!("Unknown fragment \"{name}\"."), s.pos));
                        continue;
                    };
                    if self.stack.contains(&name) {
                        errs.push(GqlError::at(format!("Cannot spread fragment \"{name}\" within itself."), s.pos));
                        continue;
                    }
                    if self.done.contains(&name) {
                        continue;
                    }
                    self.done.push(name);
                    let on = &frag.node.type_condition.node.on;
                    if let Some(t) = self.condition(on, errs) {
                        self.stack.push(name);
                        self.selection_set(t, &frag.node.selection_set.node, errs);
                        self.stack.pop();
                    }
                }
                Selection::InlineFragment(i) => {
                    let t = match &i.node.type_condition {
                        None => Some(parent),
                        Some(c) => self.condition(&c.node.on, errs),
                    };
                    if let Some(t) = t {
                        self.selection_set(t, &i.node.selection_set.node, errs);
                    }
                }
            }
        }
    }

    fn condition(&self, on: &Positioned<async_graphql_value::Name>, errs: &mut Vec<GqlError>) -> Option<&'a TypeDef> {
        match self.schema.get_type(on.node.as_str()) {
            Some(t) if t.kind.is_composite() => Some(t),
            Some(_) => {
                errs.push(GqlError::at(
                    format!("Fragment cannot condition on non composite type \"{}\".", on.node),
                    on.pos,
                ));
                None
            }
            None => {
                errs.push(GqlError::at(format!("Unknown type \"{}\".", on.node), on.pos));
                None
            }
        }
    }

    fn field(&mut self, parent: &'a TypeDef, f: &'a Positioned<Field>, errs: &mut Vec<GqlError>) {
        let name = f.node.name.node.as_str();
        let sub = &f.node.selection_set.node;
        if name == "__typename" {
            if !sub.items.is_empty() {
                errs.push(GqlError::at(
                    "Field \"__typename\" must not have a selection since type \"String!\" has no subfields.",
                    f.pos,
                ));
            }
            return;
        }
        let def = if (name == "__schema" || name == "__type") && &*parent.name == self.schema.query_type() {
            self.schema.meta_field(name)
        } else {
            parent.fields.get(name)
        };
        let Some(def) = def else {
            errs.push(GqlError::at(format!("Cannot query field \"{name}\" on type \"{}\".", parent.name), f.pos));
            return;
        };
        for (arg, _) in &f.node.arguments {
            if !def.args.contains_key(arg.node.as_str()) {
                errs.push(GqlError::at(
                    format!("Unknown argument \"{}\" on field \"{}.{name}\".", arg.node, parent.name),
                    arg.pos,
                ));
            }
        }
        let Some(t) = self.schema.get_type(def.ty.name()) else {
            return;
        };
        if t.kind.is_leaf() {
            if !sub.items.is_empty() {
                errs.push(GqlError::at(
                    format!("Field \"{name}\" must not have a selection since type \"{}\" has no subfields.", def.ty),
                    f.pos,
                ));
            }
        } else if sub.items.is_empty() {
            // Lenient ScalarLeafs: allowed when the object can answer with its `id`.
            if !t.fields.contains_key("id") && t.kind != TypeKind::Union {
                errs.push(GqlError::at(
                    format!(
                        "Field \"{name}\" of type \"{}\" must have a selection of subfields. Did you mean \"{name} {{ ... }}\"?",
                        def.ty
                    ),
                    f.pos,
                ));
            }
        } else {
            self.selection_set(t, sub, errs);
        }
    }
}

#[cfg(test)]
#[path = "exec_tests.rs"]
mod tests;
