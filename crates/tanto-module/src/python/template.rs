//! The files `init` writes for a Python module, byte for byte as Dagger
//! v0.21.8 writes them: `sdk/python/runtime/template/*` with `main` → the
//! project name in `pyproject.toml` and `Main` → the main object elsewhere
//! (`main.go` `WithTemplate`), `[tool.uv.sources]` appended (`python.go`
//! `VendorConfig`), `.gitignore`/`.gitattributes` extended as
//! `core/schema/modulesource.go` `runCodegen` does with the Python SDK's
//! ignored and generated paths, and the Apache-2.0 `LICENSE` of
//! `cmd/dagger/licenses.go`.

use crate::python::{package_name, project_name};

const PYPROJECT: &str = include_str!("template/pyproject.toml");
const INIT_PY: &str = include_str!("template/__init__.py");
const MAIN_PY: &str = include_str!("template/main.py");
/// The runtime's entrypoint (`/runtime`, mode 0755).
pub const RUNTIME_PY: &str = include_str!("template/runtime.py");
/// `cmd/dagger/licenses/Apache-2.0.txt`: the `LICENSE` a new module gets.
pub const LICENSE_APACHE_2_0: &str = include_str!("template/LICENSE-Apache-2.0.txt");

/// The vendored SDK's directory (`GenDir`).
pub const VENDOR_PATH: &str = "sdk";
/// Paths `.gitignore` gets (`Codegen`: `.venv`, `**/__pycache__`, then the vendor path).
pub const VCS_IGNORED: &[&str] = &[".venv", "**/__pycache__", VENDOR_PATH];
/// Paths `.gitattributes` marks `linguist-generated`.
pub const VCS_GENERATED: &[&str] = &["sdk/**"];

/// One file to write, relative to the module's source directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateFile {
    pub path: String,
    pub contents: String,
    pub mode: u32,
}

/// The module's `pyproject.toml`: the template's, `main` → the project
/// name, `requires-python` aligned with `python_version` (from
/// `.python-version`) when given, then `[tool.uv.sources]`.
pub fn pyproject(module: &str, python_version: Option<&str>) -> String {
    let mut cfg = PYPROJECT.replace("main", &project_name(module));
    if let Some(v) = python_version.map(str::trim).filter(|v| !v.is_empty()) {
        cfg = cfg.replacen("requires-python = \">=3.14\"", &format!("requires-python = \">={v}\""), 1);
    }
    vendor_config(&cfg, VENDOR_PATH)
}

/// `VendorConfig`: the config with `[tool.uv.sources]` pointing `dagger-io`
/// at the vendored SDK.
pub fn vendor_config(cfg: &str, path: &str) -> String {
    if path.is_empty() {
        return cfg.to_string();
    }
    // Go's %q of a plain path is the path in double quotes
    format!("{}\n\n[tool.uv.sources]\ndagger-io = {{ path = \"{path}\", editable = true }}\n", cfg.trim())
}

/// `src/<package>/__init__.py` with the main object named after the module.
pub fn init_py(module: &str) -> String {
    INIT_PY.replace("Main", &crate::names::camel(module))
}

/// `src/<package>/main.py` with the main object named after the module.
pub fn main_py(module: &str) -> String {
    MAIN_PY.replace("Main", &crate::names::camel(module))
}

/// The template files for a module without them: `pyproject.toml` unless
/// the source directory has one, the two Python files unless it has any
/// `*.py` at its top or under `src/` (Dagger's rule).
pub fn files(module: &str, python_version: Option<&str>, has_pyproject: bool, has_python: bool) -> Vec<TemplateFile> {
    let mut out = Vec::new();
    if !has_pyproject {
        out.push(TemplateFile {
            path: "pyproject.toml".into(),
            contents: pyproject(module, python_version),
            mode: 0o644,
        });
    }
    if !has_python {
        let pkg = package_name(&project_name(module));
        out.push(TemplateFile { path: format!("src/{pkg}/__init__.py"), contents: init_py(module), mode: 0o644 });
        out.push(TemplateFile { path: format!("src/{pkg}/main.py"), contents: main_py(module), mode: 0o644 });
    }
    out
}

/// `.gitignore` after codegen: `existing` (if any) with a `/path` line
/// added for each ignored path it does not mention yet. Written 0600.
pub fn gitignore(existing: Option<&str>) -> String {
    vcs_lines(existing, VCS_IGNORED, "")
}

/// `.gitattributes` after codegen: a `/path linguist-generated` line for
/// each generated path not mentioned yet. Written 0600.
pub fn gitattributes(existing: Option<&str>) -> String {
    vcs_lines(existing, VCS_GENERATED, " linguist-generated")
}

fn vcs_lines(existing: Option<&str>, paths: &[&str], suffix: &str) -> String {
    let mut out = existing.unwrap_or("").to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    for p in paths {
        if existing.is_some_and(|e| e.contains(p)) {
            continue;
        }
        out.push('/');
        out.push_str(p.trim_start_matches('/'));
        out.push_str(suffix);
        out.push('\n');
    }
    out
}

/// The file names `findOrCreateLicense` takes for an existing license.
pub const LICENSE_FILES: &[&str] = &[
    "COPYING",
    "COPYING.md",
    "COPYING.markdown",
    "COPYING.txt",
    "LICENCE",
    "LICENCE.md",
    "LICENCE.markdown",
    "LICENCE.txt",
    "LICENSE",
    "LICENSE.md",
    "LICENSE.markdown",
    "LICENSE.txt",
    "LICENSE-2.0.txt",
    "LICENCE-2.0.txt",
    "LICENSE-APACHE",
    "LICENCE-APACHE",
    "LICENSE-APACHE-2.0.txt",
    "LICENCE-APACHE-2.0.txt",
    "LICENSE-MIT",
    "LICENCE-MIT",
    "LICENSE.MIT",
    "LICENCE.MIT",
    "LICENSE.code",
    "LICENCE.code",
    "LICENSE.docs",
    "LICENCE.docs",
    "LICENSE.rst",
    "LICENCE.rst",
    "MIT-LICENSE",
    "MIT-LICENCE",
    "MIT-LICENSE.md",
    "MIT-LICENCE.md",
    "MIT-LICENSE.markdown",
    "MIT-LICENCE.markdown",
    "MIT-LICENSE.txt",
    "MIT-LICENCE.txt",
    "MIT_LICENSE",
    "MIT_LICENCE",
    "UNLICENSE",
    "UNLICENCE",
];

#[cfg(test)]
mod tests {
    use super::*;

    // The conformance suite's expectations (shared/conformance/modules/test_modules.py).
    const HELLO_PYPROJECT: &str = "[project]\nname = \"hello\"\nversion = \"0.1.0\"\nrequires-python = \">=3.14\"\n\
dependencies = [\"dagger-io\"]\n\n[build-system]\nrequires = [\"uv_build>=0.8.4,<0.9.0\"]\nbuild-backend = \"uv_build\"\n\n\
[tool.uv.sources]\ndagger-io = { path = \"sdk\", editable = true }\n";

    const HELLO_MAIN: &str = r#"import dagger
from dagger import dag, function, object_type


@object_type
class Hello:
    @function
    def container_echo(self, string_arg: str) -> dagger.Container:
        """Returns a container that echoes whatever string argument is provided"""
        return dag.container().from_("alpine:latest").with_exec(["echo", string_arg])

    @function
    async def grep_dir(self, directory_arg: dagger.Directory, pattern: str) -> str:
        """Returns lines that match a pattern in the files of the provided Directory"""
        return await (
            dag.container()
            .from_("alpine:latest")
            .with_mounted_directory("/mnt", directory_arg)
            .with_workdir("/mnt")
            .with_exec(["grep", "-R", pattern, "."])
            .stdout()
        )
"#;

    #[test]
    fn the_hello_template_is_daggers() {
        let files = files("hello", None, false, false);
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["pyproject.toml", "src/hello/__init__.py", "src/hello/main.py"]);
        assert_eq!(files[0].contents, HELLO_PYPROJECT);
        assert!(files[1].contents.starts_with("\"\"\"A generated module for Hello functions\n"));
        assert!(files[1].contents.ends_with("\n\nfrom .main import Hello as Hello\n"), "{}", files[1].contents);
        assert_eq!(files[2].contents, HELLO_MAIN);
        assert!(LICENSE_APACHE_2_0.starts_with("Apache License\nVersion 2.0, January 2004\n"));
        assert_eq!(RUNTIME_PY.lines().next(), Some("#!/usr/bin/env python"));
    }

    #[test]
    fn names_and_existing_files() {
        // (module, python version, has pyproject, has python, paths, a line of the first file)
        type Case<'a> = (&'a str, Option<&'a str>, bool, bool, &'a [&'a str], &'a str);
        let cases: &[Case] = &[
            (
                "my-mod",
                None,
                false,
                false,
                &["pyproject.toml", "src/my_mod/__init__.py", "src/my_mod/main.py"],
                "name = \"my-mod\"",
            ),
            ("MyMod", Some("3.12"), false, true, &["pyproject.toml"], "requires-python = \">=3.12\""),
            (
                "my_mod",
                None,
                true,
                false,
                &["src/my_mod/__init__.py", "src/my_mod/main.py"],
                "from .main import MyMod as MyMod",
            ),
            ("x", None, true, true, &[], ""),
        ];
        for (module, version, has_pyproject, has_python, paths, line) in cases {
            let files = files(module, *version, *has_pyproject, *has_python);
            let got: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
            assert_eq!(&got, paths, "{module}");
            if let Some(first) = files.first() {
                assert!(first.contents.lines().any(|l| l == *line), "{module}: {}", first.contents);
            }
        }
        assert!(main_py("my-mod").contains("\nclass MyMod:\n"));
    }

    #[test]
    fn vcs_files() {
        // (existing .gitignore, result)
        let cases = [
            (None, "/.venv\n/**/__pycache__\n/sdk\n"),
            (Some("*.log"), "*.log\n/.venv\n/**/__pycache__\n/sdk\n"),
            (Some("/sdk\n.venv\n"), "/sdk\n.venv\n/**/__pycache__\n"),
            (Some("/.venv\n/**/__pycache__\n/sdk\n"), "/.venv\n/**/__pycache__\n/sdk\n"),
        ];
        for (existing, want) in cases {
            assert_eq!(gitignore(existing), want, "{existing:?}");
        }
        assert_eq!(gitattributes(None), "/sdk/** linguist-generated\n");
        assert_eq!(gitattributes(Some("/sdk/** linguist-generated\n")), "/sdk/** linguist-generated\n");
        assert_eq!(gitattributes(Some("*.png binary")), "*.png binary\n/sdk/** linguist-generated\n");
    }
}
