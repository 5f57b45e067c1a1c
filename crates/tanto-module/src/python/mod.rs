//! Dagger's Python SDK as tanto runs it: the files `init` writes
//! ([`template`]), what a module's `pyproject.toml` tells the runtime
//! ([`pyproject`]), and the runtime container as a GraphQL document over the
//! core API ([`runtime`]), after `sdk/python/runtime` of Dagger v0.21.8;
//! client bindings for a module's dependencies ([`codegen`]), appended to
//! the vendored dagger-io `gen.py`, with Python names as the SDK's codegen
//! makes them ([`naming`]).

pub mod codegen;
pub mod naming;
pub mod pyproject;
pub mod runtime;
pub mod template;

pub use codegen::bindings;
pub use naming::py_name;

/// `NormalizeProjectName` (`python.go`): PEP 503 names, with characters PEP
/// 508 does not allow removed instead of refused.
pub fn normalize_project_name(n: &str) -> String {
    let lower = n.to_lowercase();
    let mut out = String::new();
    let mut in_sep = false;
    for c in lower.chars() {
        if c == '.' || c == '_' || c == '-' {
            if !in_sep {
                out.push('-');
                in_sep = true;
            }
            continue;
        }
        in_sep = false;
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        }
    }
    out.trim_matches('-').to_string()
}

/// The distribution name Dagger derives from a module's name
/// (`NormalizeProjectNameFromModule`: `my_mod` → `my-mod`).
pub fn project_name(module: &str) -> String {
    normalize_project_name(&crate::names::kebab(&crate::names::camel(module)))
}

/// The import package of a distribution name (`my-mod` → `my_mod`).
pub fn package_name(project: &str) -> String {
    project.replace('-', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        // (module name, project name, package name)
        let cases = [
            ("hello", "hello", "hello"),
            ("my-mod", "my-mod", "my_mod"),
            ("my_mod", "my-mod", "my_mod"),
            ("MyMod", "my-mod", "my_mod"),
            ("my mod", "my-mod", "my_mod"),
            ("conf", "conf", "conf"),
        ];
        for (module, project, package) in cases {
            assert_eq!(project_name(module), project, "{module}");
            assert_eq!(package_name(&project_name(module)), package, "{module}");
        }
        assert_eq!(normalize_project_name("--A..b__c!d--"), "a-b-cd");
    }
}
