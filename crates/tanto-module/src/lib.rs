//! Dagger modules as data, with no engine in sight: `dagger.json`
//! ([`config`]), the names Dagger derives from a module's name ([`names`]),
//! and a module's type definitions as the API returns them ([`types`]).
//! The engine (`tanto-api`) loads and calls modules; the CLI lists and calls
//! their functions; both read modules through this crate.

pub mod names;
pub mod types;
