//! The Python module runtime as GraphQL over the core API, after Dagger
//! v0.21.8's `sdk/python/runtime/main.go` (`WithBase`, `WithSDK`,
//! `WithTemplate`, `WithSource`, `WithUpdates`, `WithInstall`), built by
//! the engine itself from two documents: a [`prelude`] (cache volumes, the
//! pinned dagger-io sdist, secrets for index URLs with credentials) and the
//! [`document`] that builds the container from the prelude's IDs and returns
//! its `id`. Pure: the caller executes them.
//!
//! Layers, cheapest to change last: the base image and its environment, uv
//! (`pip install uv==0.10.3`: Dagger's `ghcr.io/astral-sh/uv` image is not
//! reachable everywhere), `/runtime`, the vendored SDK at `<source>/sdk`,
//! the module's dependencies (from `pyproject.toml` and `uv.lock` only, or
//! from the SDK's when there is no lock), then the module's context and the
//! install of the module itself. A change to the module's code re-runs only
//! the last steps; the uv cache volume keeps downloads across all of them.

use serde_json::{json, Map, Value};

use crate::python::pyproject::PyProject;
use crate::python::template::RUNTIME_PY;
use crate::python::{package_name, project_name};

/// The dagger-io release vendored into modules (the API tanto serves).
pub const SDK_VERSION: &str = "0.21.11";
/// Its sdist on PyPI (the short `/packages/source/` URL does not resolve).
pub const SDK_SDIST_URL: &str = "https://files.pythonhosted.org/packages/2e/0b/aacad0e98fb186ad8be87f388e1da26e7760ea651a103373a92c3a4627b1/dagger_io-0.21.11.tar.gz";
pub const SDK_SDIST_SHA256: &str = "4a779b8497f5a79b7a6e2aa47b7a3ad09c24bb92281fc19f6646a95c8ec7328c";
/// Dagger v0.21.8's uv (`images/uv/Dockerfile`).
pub const UV_VERSION: &str = "0.10.3";
/// The uv cache volume (Dagger's name).
pub const UV_CACHE: &str = "modpython-uv";
/// The pip cache volume (used to install uv).
pub const PIP_CACHE: &str = "modpython-pip";
/// Where the virtual environment goes (`UV_PROJECT_ENVIRONMENT`).
pub const VENV: &str = "/opt/venv";
/// The entrypoint.
pub const RUNTIME_PATH: &str = "/runtime";
/// Host variables forwarded into the runtime (package indexes).
pub const FORWARDED_ENV: &[&str] = &[
    "UV_INDEX_URL",
    "UV_EXTRA_INDEX_URL",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_TRUSTED_HOST",
    "UV_INSECURE_HOST",
];

/// The [`FORWARDED_ENV`] variables set (non-empty) in this process's
/// environment: the client's, which the runtime's package installs honour.
pub fn forwarded_env() -> Vec<(String, String)> {
    FORWARDED_ENV
        .iter()
        .filter_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()).map(|v| (k.to_string(), v)))
        .collect()
}

/// `sdk/codegen/pyproject.toml`: the sdist's `pyproject.toml` names the
/// workspace member `codegen`, which the sdist does not ship; uv needs the
/// member's `pyproject.toml` to read the workspace (Dagger vendors the real one).
pub const CODEGEN_PYPROJECT: &str = "[project]\nname = \"codegen\"\nversion = \"0.0.0\"\n\
description = \"Codegen for the Python SDK\"\nrequires-python = \">= 3.10\"\n\
dependencies = [\"graphql-core>=3.2.3\"]\n\n[build-system]\n\
requires = [\"uv_build>=0.8.4,<0.9.0\"]\nbuild-backend = \"uv_build\"\n";

/// Unpacks the sdist (argv 1) as the directory argv 2 (replaced whole).
const UNPACK_PY: &str = r#"import os, shutil, sys, tarfile
src, dest = sys.argv[1], sys.argv[2]
tmp = dest + ".unpack"
shutil.rmtree(tmp, ignore_errors=True)
with tarfile.open(src) as t:
    if hasattr(tarfile, "data_filter"):
        t.extractall(tmp, filter="data")
    else:
        t.extractall(tmp)
(top,) = os.listdir(tmp)
shutil.rmtree(dest, ignore_errors=True)
os.makedirs(os.path.dirname(dest), exist_ok=True)
os.rename(os.path.join(tmp, top), dest)
os.rmdir(tmp)
"#;

/// Appends file argv 1 to file argv 2.
const APPEND_PY: &str = "import sys\nopen(sys.argv[2], 'a').write(open(sys.argv[1]).read())\n";

/// What the runtime container is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The container functions run in (`ModuleRuntime`): dependencies installed.
    Runtime,
    /// `init`/`develop`: the SDK vendored and `uv lock` run, nothing installed;
    /// the caller exports `<workdir>/sdk` and `<workdir>/uv.lock`.
    Lock,
}

/// What the runtime of one module depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// The module's name (`dagger.json`).
    pub module_name: String,
    /// The module's Python project (its source directory: the root joined
    /// with `dagger.json`'s `source`) relative to the context, `.` for the
    /// context itself.
    pub source_subpath: String,
    /// The project's `pyproject.toml`, when it has one.
    pub pyproject: Option<String>,
    /// The project's `.python-version`, when it has one.
    pub python_version_file: Option<String>,
    /// Whether the project has a `uv.lock` (`init` always makes one).
    pub has_uv_lock: bool,
    /// Python bindings appended to the vendored `sdk/src/dagger/client/gen.py`
    /// (the module's dependencies).
    pub extra_bindings: Option<String>,
    /// Host variables to forward ([`FORWARDED_ENV`] that are set), in order.
    pub env: Vec<(String, String)>,
    pub purpose: Purpose,
}

/// A GraphQL document and its variables.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub query: String,
    pub variables: Map<String, Value>,
    /// The files (relative to the context) the dependencies are installed
    /// from, when the document takes them as `$lock`: a directory with only
    /// these, so that the install is keyed by their content, not by the
    /// whole context's (the context's own ID does too, keyed by all of it).
    pub lock_files: Option<Vec<String>>,
}

/// Where things are inside the runtime container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub base_image: String,
    /// Where the context directory is copied (`/src/<project name>`: fixed
    /// for a module, so the layers before it stay cached across edits, and
    /// unique per module, so uv's cache keys by path do not collide).
    pub context_path: String,
    /// The working directory: the project (`context_path` + subpath).
    pub workdir: String,
    /// The vendored SDK relative to the workdir.
    pub vendor_path: String,
    pub package: String,
    pub main_object: String,
}

/// Why the runtime cannot be described.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    PyProject(#[from] crate::python::pyproject::PyProjectError),
    #[error("module source subpath `{0}` must be relative and stay inside the context")]
    Subpath(String),
    #[error("the prelude's answer has no `{0}` id")]
    Prelude(&'static str),
}

impl Input {
    fn parsed(&self) -> Result<PyProject, RuntimeError> {
        Ok(match &self.pyproject {
            Some(t) => PyProject::parse(t)?,
            None => PyProject::default(),
        })
    }

    /// Where things go; see [`Layout`].
    pub fn layout(&self) -> Result<Layout, RuntimeError> {
        let p = self.parsed()?;
        let sub =
            clean_subpath(&self.source_subpath).ok_or_else(|| RuntimeError::Subpath(self.source_subpath.clone()))?;
        let project = if p.project.name.trim().is_empty() {
            project_name(&self.module_name)
        } else {
            crate::python::normalize_project_name(&p.project.name)
        };
        let dir_name = match project_name(&self.module_name) {
            n if n.is_empty() => "module".to_string(),
            n => n,
        };
        let context_path = format!("/src/{dir_name}");
        let workdir = if sub.is_empty() { context_path.clone() } else { format!("{context_path}/{sub}") };
        Ok(Layout {
            base_image: p.base_image(self.python_version_file.as_deref()),
            context_path,
            workdir,
            vendor_path: p.vendor_path(),
            package: package_name(&project),
            main_object: crate::names::camel(&self.module_name),
        })
    }

    fn secret_env(&self) -> impl Iterator<Item = (usize, &(String, String))> {
        self.env.iter().enumerate().filter(|(_, (_, v))| has_credentials(v))
    }
}

/// The prelude: the cache volumes, the sdist (fetched by the engine, checked
/// against [`SDK_SDIST_SHA256`]) and a secret per forwarded value with
/// credentials. Its answer feeds [`document`].
pub fn prelude(input: &Input) -> Document {
    let mut q = String::from("query ModuleRuntimePrelude");
    let secrets: Vec<_> = input.secret_env().collect();
    if !secrets.is_empty() {
        let decls: Vec<String> = secrets.iter().map(|(i, _)| format!("$secret{i}: String!")).collect();
        q.push_str(&format!("({})", decls.join(", ")));
    }
    q.push_str(&format!(
        " {{ uvCache: cacheVolume(key: {}) {{ id }} pipCache: cacheVolume(key: {}) {{ id }} \
         sdist: http(url: {}, checksum: {}) {{ id }}",
        lit(UV_CACHE),
        lit(PIP_CACHE),
        lit(SDK_SDIST_URL),
        lit(&format!("sha256:{SDK_SDIST_SHA256}"))
    ));
    let mut variables = Map::new();
    for (i, (name, value)) in secrets {
        q.push_str(&format!(" secret{i}: setSecret(name: {}, plaintext: $secret{i}) {{ id }}", lit(name)));
        variables.insert(format!("secret{i}"), value.clone().into());
    }
    q.push_str(" }");
    Document { query: q, variables, lock_files: None }
}

/// The IDs the prelude answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreludeIds {
    pub uv_cache: String,
    pub pip_cache: String,
    pub sdist: String,
    /// By the index of the variable in [`Input::env`].
    pub secrets: Vec<(usize, String)>,
}

impl PreludeIds {
    /// Reads the prelude's `data`.
    pub fn from_data(input: &Input, data: &Value) -> Result<PreludeIds, RuntimeError> {
        let id = |k: &str| data.get(k).and_then(|v| v.get("id")).and_then(Value::as_str).map(str::to_string);
        let mut secrets = Vec::new();
        for (i, _) in input.secret_env() {
            secrets.push((i, id(&format!("secret{i}")).ok_or(RuntimeError::Prelude("secret"))?));
        }
        Ok(PreludeIds {
            uv_cache: id("uvCache").ok_or(RuntimeError::Prelude("uvCache"))?,
            pip_cache: id("pipCache").ok_or(RuntimeError::Prelude("pipCache"))?,
            sdist: id("sdist").ok_or(RuntimeError::Prelude("sdist"))?,
            secrets,
        })
    }
}

/// A chain of `Container` calls, nested into one selection.
struct Chain {
    calls: Vec<String>,
}

impl Chain {
    fn call(&mut self, c: String) -> &mut Self {
        self.calls.push(c);
        self
    }
    fn env(&mut self, name: &str, value: &str) -> &mut Self {
        self.call(format!("withEnvVariable(name: {}, value: {})", lit(name), lit(value)))
    }
    fn exec(&mut self, args: &[&str]) -> &mut Self {
        self.call(format!("withExec(args: {})", lits(args)))
    }
    fn render(&self, leaf: &str) -> String {
        let mut s = String::new();
        for c in &self.calls {
            s.push_str(c);
            s.push_str(" { ");
        }
        s.push_str(leaf);
        for _ in &self.calls {
            s.push_str(" }");
        }
        s
    }
}

/// The document that builds the runtime container and selects its `id`,
/// with `$context` (the module's context directory ID) as its input besides
/// the prelude's IDs, and `$lock` when [`Document::lock_files`] says so. The
/// answer's `id`: [`container_id`].
pub fn document(input: &Input, ids: &PreludeIds) -> Result<Document, RuntimeError> {
    let l = input.layout()?;
    let mut vars = Map::new();
    let mut decls = vec!["$context: ID!".to_string()];
    let mut c = Chain { calls: Vec::new() };
    let mut lock_files = None;

    // Base: WithBase.
    c.call(format!("from(address: {})", lit(&l.base_image)));
    c.env("DAGGER_BASE_IMAGE", &l.base_image)
        .env("PYTHONUNBUFFERED", "1")
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env("PIP_ROOT_USER_ACTION", "ignore");
    for (i, (name, value)) in input.env.iter().enumerate() {
        match ids.secrets.iter().find(|(j, _)| *j == i) {
            Some((_, id)) => {
                c.call(format!("withSecretVariable(name: {}, secret: {})", lit(name), lit(id)));
            }
            None => {
                c.env(name, value);
            }
        }
    }
    // uv, from PyPI with pip (its cache only for this step).
    c.call(format!("withMountedCache(path: \"/root/.cache/pip\", cache: {})", lit(&ids.pip_cache)))
        .exec(&["python", "-m", "pip", "install", &format!("uv=={UV_VERSION}")])
        .call("withoutMount(path: \"/root/.cache/pip\")".into())
        .call(format!("withMountedCache(path: \"/root/.cache/uv\", cache: {})", lit(&ids.uv_cache)))
        .env("DAGGER_UV_VERSION", UV_VERSION)
        .env("UV_SYSTEM_PYTHON", "1")
        .env("UV_LINK_MODE", "copy")
        .env("UV_NATIVE_TLS", "1")
        .env("UV_PROJECT_ENVIRONMENT", VENV);
    // The entrypoint: WithTemplate.
    decls.push("$runtime: String!".into());
    vars.insert("runtime".into(), RUNTIME_PY.into());
    c.call(format!("withNewFile(path: {}, contents: $runtime, permissions: 493)", lit(RUNTIME_PATH)))
        .call(format!("withEntrypoint(args: {})", lits(&[RUNTIME_PATH])));
    // The vendored SDK: WithSDK.
    let sdk = format!("{}/{}", l.workdir, l.vendor_path);
    let sdist = format!("/tmp/dagger_io-{SDK_VERSION}.tar.gz");
    c.call(format!("withMountedFile(path: {}, source: {})", lit(&sdist), lit(&ids.sdist)))
        .exec(&["python", "-c", UNPACK_PY, &sdist, &sdk])
        .call(format!("withoutMount(path: {})", lit(&sdist)))
        .call(format!("withoutDirectory(path: {})", lit(&format!("{sdk}/tests"))))
        .call(format!("withoutDirectory(path: {})", lit(&format!("{sdk}/docs"))))
        .call(format!(
            "withNewFile(path: {}, contents: {})",
            lit(&format!("{sdk}/codegen/pyproject.toml")),
            lit(CODEGEN_PYPROJECT)
        ))
        .call(format!("withWorkdir(path: {})", lit(&l.workdir)));

    // The module's dependencies, from what declares them only.
    let sub = clean_subpath(&input.source_subpath).unwrap_or_default();
    let in_ctx = |name: &str| if sub.is_empty() { name.to_string() } else { format!("{sub}/{name}") };
    let runtime = input.purpose == Purpose::Runtime;
    if runtime {
        c.env("UV_COMPILE_BYTECODE", "1");
        if input.has_uv_lock {
            let files = vec![in_ctx("pyproject.toml"), in_ctx("uv.lock")];
            decls.push("$lock: ID!".into());
            c.call(format!(
                "withDirectory(path: {}, source: $lock, include: {})",
                lit(&l.context_path),
                lits(&files.iter().map(String::as_str).collect::<Vec<_>>())
            ))
            .exec(&["uv", "sync", "--no-dev", "--no-install-project", "--frozen"]);
            lock_files = Some(files);
        } else {
            c.exec(&["uv", "pip", "install", "-e", &format!("./{}", l.vendor_path)]);
        }
    }
    // Bindings for the module's dependencies.
    if let Some(extra) = input.extra_bindings.as_deref().filter(|e| !e.is_empty()) {
        decls.push("$bindings: String!".into());
        vars.insert("bindings".into(), extra.into());
        let tmp = "/tmp/tanto-bindings.py";
        c.call(format!("withNewFile(path: {}, contents: $bindings)", lit(tmp)))
            .exec(&["python", "-c", APPEND_PY, tmp, &format!("{sdk}/src/dagger/client/gen.py")])
            .call(format!("withoutFile(path: {})", lit(tmp)));
    }
    // The SDK's bytecode, once per SDK and bindings: it is installed
    // editable, which uv does not compile, and compiling its large client
    // bindings (`gen.py`) at every function call's start costs most of it.
    if runtime {
        c.exec(&["python", "-m", "compileall", "-q", "-j", "0", &format!("{sdk}/src")]);
    }
    // The module's context (its own sdk/ and .venv/ left out): WithSource.
    c.call(format!(
        "withDirectory(path: {}, source: $context, exclude: {})",
        lit(&l.context_path),
        lits(&[&in_ctx(&l.vendor_path), &in_ctx(".venv")])
    ));
    // WithUpdates, WithInstall.
    if input.has_uv_lock || !runtime {
        c.exec(&["uv", "lock"]);
    }
    if runtime {
        if input.has_uv_lock {
            c.exec(&["uv", "sync", "--no-dev"])
                .call("withEnvVariable(name: \"VIRTUAL_ENV\", value: \"$UV_PROJECT_ENVIRONMENT\", expand: true)".into())
                .call("withEnvVariable(name: \"PATH\", value: \"$VIRTUAL_ENV/bin:$PATH\", expand: true)".into());
        } else {
            c.exec(&["uv", "pip", "install", "-e", &format!("./{}", l.vendor_path), "-e", "."])
                .exec(&["uv", "pip", "check"]);
        }
    }
    c.env("DAGGER_MODULE", &input.module_name)
        .env("DAGGER_DEFAULT_PYTHON_PACKAGE", &l.package)
        .env("DAGGER_MAIN_OBJECT", &l.main_object);

    let query = format!("query ModuleRuntime({}) {{ container {{ {} }} }}", decls.join(", "), c.render("id"));
    Ok(Document { query, variables: vars, lock_files })
}

/// The container's `id` in the answer's `data` (the one leaf of the chain).
pub fn container_id(data: &Value) -> Option<&str> {
    let mut v = data;
    loop {
        let m = v.as_object()?;
        if let Some(id) = m.get("id") {
            return id.as_str();
        }
        if m.len() != 1 {
            return None;
        }
        v = m.values().next()?;
    }
}

/// `sub` cleaned to `a/b` (empty for the context itself), or `None` when it
/// is absolute or climbs out.
pub fn clean_subpath(sub: &str) -> Option<String> {
    if sub.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for p in sub.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// Whether a URL-ish value carries credentials (`scheme://user:pass@host`).
fn has_credentials(v: &str) -> bool {
    v.split_whitespace().any(|u| {
        let rest = u.split_once("://").map(|(_, r)| r).unwrap_or(u);
        rest.split('/').next().is_some_and(|authority| authority.contains('@'))
    })
}

/// A GraphQL string literal (JSON's escapes are GraphQL's).
fn lit(s: &str) -> String {
    serde_json::to_string(s).expect("a string always serializes")
}

fn lits(items: &[&str]) -> String {
    json!(items).to_string()
}

#[cfg(test)]
mod tests;
