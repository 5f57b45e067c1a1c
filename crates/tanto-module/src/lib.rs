//! Dagger modules as data, with no engine in sight: `dagger.json`
//! ([`config`]), the names Dagger derives from a module's name ([`names`]),
//! a module's type definitions as the API returns them ([`types`]), and the
//! Python client bindings of its dependencies ([`python`]).
//! The engine (`tanto-api`) loads and calls modules; the CLI lists and calls
//! their functions; both read modules through this crate.

pub mod names;
pub mod python;
pub mod types;
