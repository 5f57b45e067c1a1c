//! tanto-gql: a generic, lenient GraphQL executor — parsing, validation, coercion, execution and
//! introspection over a schema built from SDL.
//!
//! Role: turn one GraphQL request (JSON body) into one response body, calling a [`Resolver`]
//! for every field of a non-introspection object. The executor is hand-written (as Dagger's
//! `dagql` is) because the SDKs rely on leniency a validating server rejects: quoted enums,
//! numeric strings for `Int`, Int literals for `ID`, `null` for defaulted arguments, object fields
//! without sub-selections (answered with the object's `id`). Queries are parsed by our own
//! parser (`parse`); async-graphql-parser reads SDL only.
//!
//! Invariants:
//! - responses hold exactly the requested keys, in selection order (the TypeScript SDK rejects
//!   extra keys), so `__typename` appears only when asked;
//! - unknown fields and arguments are rejected before anything resolves (`data: null`);
//! - resolvers see arguments coerced to JSON with schema defaults applied ([`Args`]);
//! - sibling fields resolve concurrently; errors carrying `extensions._type` come first;
//! - introspection never reaches the resolver and is memoized per schema and query text, within
//!   a byte budget;
//! - nothing recurses once per level of a query — parsing, validation, execution, response
//!   building, serialization, drop — so [`limits::MAX_DEPTH`] nested calls run on a 2 MiB
//!   stack; every size a request controls is bounded by [`limits`], with an error naming the
//!   limit.
//!
//! It must not depend on any tanto crate: it knows GraphQL and JSON, nothing of Dagger,
//! containers or the solver.

mod ast;
mod exec;
mod introspection;
mod json;
pub mod limits;
mod parse;
mod request;
mod resolver;
pub mod schema;
pub mod sdl;
mod value;

pub use exec::{execute, execute_bytes};
pub use json::{drop_deep as drop_json, kind as json_kind, to_vec as json_to_vec, to_vec_pretty as json_to_vec_pretty};
pub use request::{parse_request_body, Request};
pub use resolver::{FieldCall, FieldError, Obj, ObjectValue, Resolved, Resolver};
pub use schema::{Schema, SchemaError};
pub use value::{print_literal, Args};
