//! tanto-gql: a generic, lenient GraphQL executor — parsing, validation, coercion, execution and
//! introspection over a schema built from SDL.
//!
//! Role: turn one GraphQL request (JSON body) into one response body, calling a [`Resolver`]
//! for every field of a non-introspection object. The executor is hand-written (as Dagger's
//! `dagql` is) because the SDKs rely on leniency a validating server rejects: quoted enums,
//! numeric strings for `Int`, Int literals for `ID`, `null` for defaulted arguments, object fields
//! without sub-selections (answered with the object's `id`). async-graphql-parser is used for
//! parsing only.
//!
//! Invariants:
//! - responses hold exactly the requested keys, in selection order (the TypeScript SDK rejects
//!   extra keys), so `__typename` appears only when asked;
//! - unknown fields and arguments are rejected before anything resolves (`data: null`);
//! - resolvers see arguments coerced to JSON with schema defaults applied ([`Args`]);
//! - sibling fields resolve concurrently; errors carrying `extensions._type` come first;
//! - introspection never reaches the resolver and is memoized per schema and query text.
//!
//! It must not depend on any tanto crate: it knows GraphQL and JSON, nothing of Dagger,
//! containers or the solver.

mod exec;
mod introspection;
pub mod schema;
pub mod sdl;
mod value;

pub use exec::{
    execute, execute_bytes, parse_request_body, FieldCall, FieldError, Obj, ObjectValue, Request, Resolved, Resolver,
};
pub use schema::{Schema, SchemaError};
pub use value::{print_literal, Args};
