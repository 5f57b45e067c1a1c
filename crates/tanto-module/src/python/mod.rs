//! The Python SDK's side of modules: client bindings for a module's
//! dependencies ([`codegen`]), appended to the vendored dagger-io `gen.py`.

pub mod codegen;

pub use codegen::{bindings, py_name};
