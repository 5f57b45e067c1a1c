//! tanto's GraphQL API: the Dagger v0.21 schema, the executor that serves it, resolvers and IDs.
//!
//! This crate knows GraphQL and Dagger's wire conventions; it builds ops and asks the solver for
//! results but never runs anything itself. It must not depend on the engine's HTTP or session
//! layers.

pub mod dagger;
pub mod gql;

pub use dagger::{Api, ApiError, ApiResult, Objects};
