//! tanto's GraphQL API: the Dagger v0.21 schema, resolvers and IDs, served by the generic
//! executor of `tanto-gql`.
//!
//! This crate knows Dagger's wire conventions; it builds ops and asks the solver for results but
//! never runs anything itself. It must not depend on the engine's HTTP or session layers.

pub mod dagger;
pub mod schema;

pub use dagger::{Api, ApiError, ApiResult, Objects};
