//! The executor: parse, pick the operation, coerce variables, validate, then resolve selections
//! against a [`Resolver`] and assemble the `{"data", "errors"}` body.
//!
//! - [`plan`]: which fields apply to an object, and their arguments;
//! - [`validate`]: the static checks before anything resolves;
//! - [`run`]: field execution, one loop over nodes and futures;
//! - [`shape`]: the response built from the executed nodes.
//!
//! No step recurses per level of the query: a chain of [`MAX_DEPTH`](crate::limits::MAX_DEPTH)
//! calls runs on a 2 MiB tokio worker stack.

mod plan;
mod run;
mod shape;
mod validate;

use std::sync::Arc;

use serde_json::{Map, Value as Json};

use super::ast::{Document, Operation, OperationType};
use super::json;
use super::limits::MAX_RESPONSE_POSITIONS;
use super::parse::parse_query;
use super::request::{errors_body, request_error_body, GqlError, Request};
use super::resolver::{Obj, Resolver};
use super::schema::{CachedResponse, Schema, TypeRef};
use super::value::Coercer;
use plan::Ctx;
use run::Run;

/// Executes a request against `schema`, resolving non-introspection fields with `resolver`
/// starting from `root` (the query root object). Returns the full response body; a deeply
/// nested one is best dropped with [`crate::drop_json`] (or asked for with [`execute_bytes`]).
pub async fn execute(schema: &Schema, resolver: &dyn Resolver, root: Obj, req: Request) -> Json {
    if let Some(hit) = cache_lookup(schema, &req, &root.type_name) {
        // Memoized responses nest shallowly (see `MEMO_MAX_DEPTH`).
        if let Ok(v) = serde_json::from_slice(&hit) {
            return v;
        }
    }
    let (out, memoizable) = execute_uncached(schema, resolver, &root, &req).await;
    if memoizable {
        cache_store(schema, &req, &root.type_name, &json::to_vec(&out));
    }
    out
}

/// [`execute`], serialized: what goes on the wire. Memoized introspection answers are copied
/// out as bytes.
pub async fn execute_bytes(schema: &Schema, resolver: &dyn Resolver, root: Obj, req: Request) -> Vec<u8> {
    if let Some(hit) = cache_lookup(schema, &req, &root.type_name) {
        return hit.to_vec();
    }
    let (out, memoizable) = execute_uncached(schema, resolver, &root, &req).await;
    let bytes = json::to_vec(&out);
    json::drop_deep(out);
    if memoizable {
        cache_store(schema, &req, &root.type_name, &bytes);
    }
    bytes
}

/// Memoized requests nest at most this deep, so their responses parse back with serde_json.
const MEMO_MAX_DEPTH: usize = 32;

/// Runs a request; the flag says whether the response depends on nothing but the schema and
/// the request (introspection only, no variables, no errors), so it can be memoized.
async fn execute_uncached(schema: &Schema, resolver: &dyn Resolver, root: &Obj, req: &Request) -> (Json, bool) {
    let doc = match parse_query(&req.query) {
        Ok(d) => d,
        Err(e) => return (errors_body(Json::Null, vec![GqlError::at(e.message, e.pos)]), false),
    };
    let op = match select_operation(&doc, req.operation_name.as_deref()) {
        Ok(op) => op,
        Err(message) => {
            let err = GqlError { message, locations: Vec::new(), path: None, extensions: None };
            return (errors_body(Json::Null, vec![err]), false);
        }
    };
    if op.ty == OperationType::Subscription {
        return (errors_body(Json::Null, vec![GqlError::at("subscriptions are not supported", op.pos)]), false);
    }
    let vars = match coerce_variables(schema, op, req.variables.as_ref()) {
        Ok(v) => v,
        Err(errs) => return (errors_body(Json::Null, errs), false),
    };
    let Some(root_type) = schema.get_type(schema.query_type()) else {
        return (request_error_body(format!("query type `{}` is missing", schema.query_type())), false);
    };
    let errs = validate::validate(schema, &doc, root_type, op.set);
    if !errs.is_empty() {
        return (errors_body(Json::Null, errs), false);
    }

    let ctx = Ctx { schema, resolver, doc: &doc, vars };
    let groups = ctx.collect_fields(&root.type_name, std::iter::once(op.set));
    let introspection_only = groups.values().all(|fs| fs[0].name.starts_with("__"));
    let Ok(run) = Run::execute(&ctx, root, root_type, groups).await else {
        let message = format!(
            "the response would have more than {MAX_RESPONSE_POSITIONS} fields and list items, tanto's limit: \
             select less, or split the query"
        );
        return (
            errors_body(Json::Null, vec![GqlError { message, locations: Vec::new(), path: None, extensions: None }]),
            false,
        );
    };
    let errors = run.errors;
    let memoizable = introspection_only
        && errors.is_empty()
        && doc.depth <= MEMO_MAX_DEPTH
        && req.variables.as_ref().is_none_or(|v| v.is_empty());
    (errors_body(shape::data(run.nodes), errors), memoizable)
}

fn select_operation<'d>(doc: &'d Document, name: Option<&str>) -> Result<&'d Operation, String> {
    match name {
        Some(n) => doc
            .operations
            .iter()
            .find(|o| o.name.as_ref().is_some_and(|on| on.as_str() == n))
            .ok_or_else(|| format!("unknown operation named `{n}`")),
        None => match doc.operations.as_slice() {
            [op] => Ok(op),
            [] => Err("the document has no operation: add a query".into()),
            _ => Err("the document has several operations: set `operationName` to pick one".into()),
        },
    }
}

fn coerce_variables(
    schema: &Schema,
    op: &Operation,
    given: Option<&Map<String, Json>>,
) -> Result<Map<String, Json>, Vec<GqlError>> {
    let mut out = Map::new();
    let mut errs = Vec::new();
    let none = Map::new();
    let coercer = Coercer::new(schema, &none);
    for def in &op.variables {
        let name = def.name.as_str();
        let ty: &TypeRef = &def.ty;
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
            Some(v) => coercer.coerce(v, ty),
            None => match &def.default {
                Some(d) => coercer.coerce(d, ty),
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

/// Memoized responses kept per schema, in bytes (query texts included).
const MEMO_MAX_BYTES: usize = 32 << 20;

fn cache_lookup(schema: &Schema, req: &Request, root: &str) -> Option<Arc<[u8]>> {
    if req.variables.as_ref().is_some_and(|v| !v.is_empty()) {
        return None;
    }
    let memo = schema.intro_cache.lock().ok()?;
    memo.entries
        .get(req.query.as_str())?
        .iter()
        .find(|e| e.operation_name.as_deref() == req.operation_name.as_deref() && e.root_type == root)
        .map(|e| e.bytes.clone())
}

/// Remembers `bytes` as the answer to `req`, within [`MEMO_MAX_BYTES`]: a response too big for
/// a quarter of it is not kept, and a full memo starts over.
fn cache_store(schema: &Schema, req: &Request, root: &str, bytes: &[u8]) {
    let size = req.query.len() + bytes.len();
    if size > MEMO_MAX_BYTES / 4 {
        return;
    }
    let Ok(mut memo) = schema.intro_cache.lock() else {
        return;
    };
    if memo.bytes + size > MEMO_MAX_BYTES {
        memo.entries.clear();
        memo.bytes = 0;
    }
    let entries = memo.entries.entry(req.query.clone()).or_default();
    if entries.iter().any(|e| e.operation_name == req.operation_name && e.root_type == root) {
        return;
    }
    entries.push(CachedResponse {
        operation_name: req.operation_name.clone(),
        root_type: root.to_string(),
        bytes: bytes.into(),
    });
    memo.bytes += size;
}

#[cfg(test)]
mod tests;
