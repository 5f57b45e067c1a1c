//! A module's generated files, as `dagger init`/`develop`/`install` write
//! them (`core/schema/modulesource.go` `runCodegen` with the Python SDK's
//! `Codegen`): the template where the project lacks it, the vendored SDK
//! (`sdk/`, with the client bindings of the module's dependencies appended
//! to `sdk/src/dagger/client/gen.py`), `uv.lock` when the module uses one,
//! `.gitignore`/`.gitattributes` lines, and `dagger.json`. The SDK's files
//! come from the runtime container (`Purpose::Lock`) of an in-process
//! engine; the dependencies' types from loading them there
//! (`moduleSource(...).asModule`), as the engine does for a call.
//! Everything is exported to the module's root at the end, after the
//! engine's work succeeded.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value};
use tanto_module::config::{ModuleConfig, FILENAME};
use tanto_module::python::runtime::{self, Purpose};
use tanto_module::python::template;
use tanto_module::types::ModuleTypes;

/// What to generate.
pub struct Generate<'a> {
    /// The module's root (absolute).
    pub root: &'a Path,
    /// Its `dagger.json` as it is to be written.
    pub config: &'a ModuleConfig,
    /// Its dependencies, whose bindings go into `gen.py`: their roots on the
    /// host (absolute) and the names the module knows them by.
    pub deps: Vec<(PathBuf, String)>,
    /// Whether this makes a new module (`init`: `uv.lock` is always made).
    pub new_module: bool,
}

/// Writes the module's generated files and `dagger.json` (see the module
/// docs); a module without an SDK gets its `dagger.json` only.
pub async fn generate(g: Generate<'_>) -> Result<()> {
    match g.config.sdk_source() {
        Some(_) => generate_python(&g).await,
        None if g.new_module => write_new(&g.root.join(FILENAME), g.config.to_json().as_bytes(), 0o644),
        None => write_replacing(&g.root.join(FILENAME), g.config.to_json().as_bytes()),
    }
}

/// The host roots of the local dependencies in `config` of the module at
/// `root`, with their names there; a git dependency is refused (not supported yet).
pub fn local_dependency_roots(root: &Path, config: &ModuleConfig) -> Result<Vec<(PathBuf, String)>> {
    let module = tanto_module::context::locate(root)?;
    let mut out = Vec::new();
    for d in &config.dependencies {
        if tanto_module::context::kind(&module, &d.source, d.pin.as_deref()) == tanto_module::context::SourceKind::Git {
            bail!(
                "dependency `{}` (`{}`) is a git module: tanto does not support git dependencies yet; \
                 clone it inside the module's repository and install the local path",
                d.name,
                d.source
            );
        }
        let rel = tanto_module::context::resolve_dependency(&module, &d.source)?;
        let dir = if rel == "." { module.context.clone() } else { module.context.join(rel) };
        out.push((dir, d.name.clone()));
    }
    Ok(out)
}

/// Runs the Python runtime in `Lock` mode over the project (the template
/// added where missing) and exports the project, the VCS files and `dagger.json`.
async fn generate_python(g: &Generate<'_>) -> Result<()> {
    let (root, config) = (g.root, g.config);
    let source = config.source_dir();
    let src_dir = if source == "." { root.to_path_buf() } else { root.join(source) };
    let read = |name: &str| std::fs::read_to_string(src_dir.join(name)).ok();
    let pyproject = read("pyproject.toml");
    let dot_python = read(".python-version");
    let python_version = dot_python.as_deref().map(str::trim).filter(|v| !v.is_empty());
    let has_python = has_python_files(&src_dir);
    let files = template::files(&config.name, python_version, pyproject.is_some(), has_python);
    let has_uv_lock = src_dir.join("uv.lock").exists();
    // `UseUvLock`: a lock is kept up to date, or made for a new project
    // (no dagger.json before, or no pyproject.toml) without requirements.lock
    let is_init = g.new_module || pyproject.is_none();
    let keep_lock = has_uv_lock || (is_init && !src_dir.join("requirements.lock").exists());
    let pyproject = pyproject.or_else(|| files.iter().find(|f| f.path == "pyproject.toml").map(|f| f.contents.clone()));

    let engine = crate::start_engine(None).await?;
    let result = async {
        let bindings = if g.deps.is_empty() {
            None
        } else {
            let mut types = Vec::new();
            for (dir, name) in &g.deps {
                types.push(dependency_types(&engine, dir, name).await?);
            }
            Some(tanto_module::python::bindings(&types))
        };
        let input = runtime::Input {
            module_name: config.name.clone(),
            source_subpath: ".".into(),
            pyproject,
            python_version_file: dot_python.clone(),
            has_uv_lock,
            extra_bindings: bindings,
            env: runtime::forwarded_env(),
            purpose: Purpose::Lock,
        };
        let layout = input.layout()?;

        // the project as the runtime sees it: what is there, plus the template
        let mut chain = Vec::new();
        for f in &files {
            chain.push(format!(
                "withNewFile(path: {}, contents: {}, permissions: {})",
                lit(&f.path),
                lit(&f.contents),
                f.mode
            ));
        }
        let start = if src_dir.is_dir() {
            format!(
                "host {{ directory(path: {}, exclude: {})",
                lit(&src_dir.to_string_lossy()),
                json!([".git", ".venv"])
            )
        } else {
            "directory".to_string()
        };
        let q = format!("{{ {start} {{ {} }} }}{}", nest(&chain, "id"), if src_dir.is_dir() { " }" } else { "" });
        let data = execute(&engine, &q, Map::new()).await.context("uploading the module's files")?;
        let context_id = leaf_id(&data).context("no directory id in the answer")?.to_string();

        let pre = runtime::prelude(&input);
        let data = execute(&engine, &pre.query, pre.variables).await.context("preparing the Python runtime")?;
        let ids = runtime::PreludeIds::from_data(&input, &data)?;
        let doc = runtime::document(&input, &ids)?;
        let mut vars = doc.variables;
        if doc.lock_files.is_some() {
            vars.insert("lock".into(), context_id.clone().into());
        }
        vars.insert("context".into(), context_id.into());
        let data = execute(&engine, &doc.query, vars).await.context("running `uv lock` in the Python runtime")?;
        let ctr = runtime::container_id(&data).context("no container id in the answer")?.to_string();

        let gitignore = template::gitignore(read(".gitignore").as_deref());
        let gitattributes = template::gitattributes(read(".gitattributes").as_deref());
        let mut calls = vec![format!("directory(path: {})", lit(&layout.workdir))];
        if !keep_lock {
            calls.push("withoutFile(path: \"uv.lock\")".into());
        }
        calls.push(format!("withNewFile(path: \".gitignore\", contents: {}, permissions: 384)", lit(&gitignore)));
        calls.push(format!(
            "withNewFile(path: \".gitattributes\", contents: {}, permissions: 384)",
            lit(&gitattributes)
        ));
        let q = format!("query($ctr: ID!) {{ loadContainerFromID(id: $ctr) {{ {} }} }}", nest(&calls, "id"));
        let mut vars = Map::new();
        vars.insert("ctr".into(), ctr.into());
        let data = execute(&engine, &q, vars).await.context("reading the generated files")?;
        let generated = leaf_id(&data).context("no directory id in the answer")?.to_string();

        // the module's root: the project at its source dir, and dagger.json
        let q = format!(
            "query($gen: ID!) {{ directory {{ withDirectory(path: {}, source: $gen) {{ \
             withNewFile(path: {}, contents: {}, permissions: 420) {{ export(path: {}) }} }} }} }}",
            lit(source),
            lit(FILENAME),
            lit(&config.to_json()),
            lit(&root.to_string_lossy())
        );
        let mut vars = Map::new();
        vars.insert("gen".into(), generated.into());
        execute(&engine, &q, vars).await.with_context(|| format!("exporting the module to `{}`", root.display()))?;
        anyhow::Ok(())
    }
    .await;
    engine.shutdown().await;
    result
}

/// The types of the dependency whose root is `dep`, known as `name`, loaded
/// as a call loads them.
async fn dependency_types(engine: &tanto_engine::Engine, dep: &Path, name: &str) -> Result<ModuleTypes> {
    let q = format!(
        "{{ moduleSource(refString: {}, disableFindUp: true) {{ withName(name: {}) {{ asModule {{ {} }} }} }} }}",
        lit(&dep.to_string_lossy()),
        lit(name),
        tanto_module::types::module_types_selection()
    );
    let what = || format!("loading the dependency at `{}`", dep.display());
    let mut data = execute(engine, &q, Map::new()).await.with_context(what)?;
    serde_json::from_value(data["moduleSource"]["withName"]["asModule"].take()).with_context(what)
}

/// Whether the project has Python files at its top or under `src/`.
fn has_python_files(dir: &Path) -> bool {
    fn walk(d: &Path) -> bool {
        let Ok(entries) = std::fs::read_dir(d) else { return false };
        entries.flatten().any(|e| {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => walk(&p),
                Ok(t) if t.is_file() => p.extension().is_some_and(|x| x == "py"),
                _ => false,
            }
        })
    }
    let top = std::fs::read_dir(dir)
        .map(|es| es.flatten().any(|e| e.path().extension().is_some_and(|x| x == "py") && e.path().is_file()))
        .unwrap_or(false);
    top || walk(&dir.join("src"))
}

/// Creates `path` (refused if it exists) with `contents`.
pub fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("writing `{}`", path.display()))?;
    f.write_all(contents).with_context(|| format!("writing `{}`", path.display()))
}

/// Replaces `path` whole: written beside it, synced, renamed over it (its mode kept).
fn write_replacing(path: &Path, contents: &[u8]) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).map(|m| m.permissions().mode() & 0o7777).unwrap_or(0o644);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tanto-{}", std::process::id()));
    let written = (|| {
        write_new(&tmp, contents, mode)?;
        std::fs::File::open(&tmp).and_then(|f| f.sync_all()).with_context(|| format!("syncing `{}`", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("writing `{}`", path.display()))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// `a { b { ... leaf } }` from calls `[a, b, ...]`.
fn nest(calls: &[String], leaf: &str) -> String {
    let mut s = String::new();
    for c in calls {
        s.push_str(c);
        s.push_str(" { ");
    }
    s.push_str(leaf);
    for _ in calls {
        s.push_str(" }");
    }
    s
}

fn leaf_id(data: &Value) -> Option<&str> {
    runtime::container_id(data)
}

fn lit(s: &str) -> String {
    serde_json::to_string(s).expect("a string always serializes")
}

/// Executes a document; its `data`, or its first error (with an exec's
/// stderr) as the error.
pub async fn execute(engine: &tanto_engine::Engine, query: &str, variables: Map<String, Value>) -> Result<Value> {
    let mut result = engine
        .execute(tanto_gql::Request { query: query.to_string(), variables: Some(variables), operation_name: None })
        .await;
    if let Some(err) = result.get("errors").and_then(|e| e.get(0)) {
        let mut msg = err.get("message").and_then(Value::as_str).unwrap_or("unknown error").to_string();
        let ext = err.get("extensions").cloned().unwrap_or(json!({}));
        if let Some(stderr) = ext.get("stderr").and_then(Value::as_str).filter(|s| !s.trim().is_empty()) {
            let tail: Vec<&str> = stderr.lines().rev().take(40).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            msg.push_str(&format!("\n{}", tail.join("\n")));
        }
        tanto_gql::drop_json(result);
        bail!("{msg}");
    }
    Ok(result.get_mut("data").map(Value::take).unwrap_or(Value::Null))
}
