//! The Python SDK's side of modules: client bindings for a module's
//! dependencies ([`codegen`]), appended to the vendored dagger-io `gen.py`,
//! with Python names as the SDK's codegen makes them ([`naming`]).

pub mod codegen;
pub mod naming;

pub use codegen::bindings;
pub use naming::py_name;
