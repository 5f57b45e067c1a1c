//! Dagger modules as data, with no engine in sight: `dagger.json`
//! ([`config`]), where a local module and its dependencies live
//! ([`context`]), the names Dagger derives from a module's name ([`names`]),
//! a module's type definitions as the API returns them ([`types`]), and
//! the Python SDK: `init`'s template, the runtime container and the client
//! bindings of a module's dependencies ([`python`]).
//! The engine (`tanto-api`) loads and calls modules; the CLI lists and calls
//! their functions; both read modules through this crate.

pub mod config;
pub mod context;
pub mod gitref;
pub mod names;
pub mod python;
pub mod types;
