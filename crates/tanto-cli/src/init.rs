//! `tanto init`: a new module, as `dagger init` (v0.21, `cmd/dagger/module.go`)
//! makes one. The template, `dagger.json`, `.gitignore`/`.gitattributes`
//! come from `tanto_module`; the vendored SDK (`sdk/`) and `uv.lock` come
//! from the SDK's runtime container run by an in-process engine (`uv lock`
//! over the template), and everything is exported to the module's
//! directory at the end, after the engine's work succeeded; then a
//! `LICENSE` unless one is found (`cmd/dagger/licenses.go`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value};
use tanto_module::config::{ModuleConfig, FILENAME, SUPPORTED_SDKS};
use tanto_module::python::runtime::{self, Purpose};
use tanto_module::python::template;

#[derive(clap::Args)]
pub struct InitArgs {
    /// The SDK the module is written with (supported: python).
    #[arg(long)]
    sdk: Option<String>,
    /// The module's name (default: the directory's name).
    #[arg(long)]
    name: Option<String>,
    /// The source directory of the SDK's files (default: the module's root
    /// when it is empty, else `.dagger`).
    #[arg(long)]
    source: Option<PathBuf>,
    /// The license to write when none is found (`Apache-2.0`, or empty for none).
    #[arg(long)]
    license: Option<String>,
    /// The module's root directory (default: the current directory).
    path: Option<PathBuf>,
}

const DEFAULT_LICENSE: &str = "Apache-2.0";

pub async fn init(args: InitArgs) -> Result<u8> {
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let root = tanto_module::context::clean(&cwd.join(args.path.clone().unwrap_or_else(|| cwd.clone())));
    if let Some(sdk) = &args.sdk {
        if !SUPPORTED_SDKS.contains(&sdk.as_str()) {
            bail!("sdk `{sdk}` is not supported by tanto yet; supported: {}", SUPPORTED_SDKS.join(", "));
        }
    }
    let license = args.license.clone().unwrap_or_else(|| DEFAULT_LICENSE.into());
    if !license.is_empty() && license != DEFAULT_LICENSE {
        bail!(
            "license `{license}` is not available: tanto writes {DEFAULT_LICENSE} only (or pass --license= for none)"
        );
    }
    if root.join(FILENAME).exists() {
        bail!("module already exists: `{}` has a {FILENAME}", root.display());
    }
    if root.exists() && !root.is_dir() {
        bail!("`{}` is not a directory", root.display());
    }
    let name = match &args.name {
        Some(n) if !n.trim().is_empty() => n.clone(),
        Some(_) => bail!("--name must not be empty"),
        None => root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .context("the module directory has no name: pass --name")?,
    };
    let source = match (&args.sdk, &args.source) {
        (None, _) => ".".to_string(),
        (Some(_), None) => infer_source_dir(&root)?,
        (Some(_), Some(s)) => {
            let abs = tanto_module::context::clean(&cwd.join(s));
            match abs.strip_prefix(&root) {
                Ok(rel) if rel.as_os_str().is_empty() => ".".into(),
                Ok(rel) => rel.to_string_lossy().into_owned(),
                Err(_) => {
                    bail!("--source `{}` must be inside the module's directory `{}`", s.display(), root.display())
                }
            }
        }
    };

    let mut config = ModuleConfig::new(&name, tanto_api::dagger::API_VERSION, args.sdk.as_deref());
    config.source = (source != ".").then(|| source.clone());
    if args.sdk.is_some() {
        generate_python(&root, &source, &config).await?;
    } else {
        std::fs::create_dir_all(&root).with_context(|| format!("creating `{}`", root.display()))?;
        write_new(&root.join(FILENAME), config.to_json().as_bytes(), 0o644)?;
    }
    if args.sdk.is_some() && !license.is_empty() && (args.license.is_some() || find_license(&root).is_none()) {
        write_new(&root.join("LICENSE"), template::LICENSE_APACHE_2_0.as_bytes(), 0o600)?;
    }
    println!("Initialized module {name} in {}", root.display());
    Ok(0)
}

/// `inferSourcePathDir`: `.` for a missing or empty directory (hidden files
/// and `dagger.json` aside), else `.dagger`.
fn infer_source_dir(root: &Path) -> Result<String> {
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(".".into()),
        Err(e) => return Err(e).with_context(|| format!("reading `{}`", root.display())),
    };
    for e in entries {
        let name = e?.file_name().to_string_lossy().into_owned();
        if name == FILENAME {
            continue;
        }
        if name == ".dagger" || !name.starts_with('.') {
            return Ok(".dagger".into());
        }
    }
    Ok(".".into())
}

/// `searchForLicense`: a license file in `root` or a parent, up to the
/// nearest directory with `.git` (only `root` when there is none).
fn find_license(root: &Path) -> Option<PathBuf> {
    let dirs: Vec<&Path> = match tanto_module::context::find_git_root(root) {
        Some(git) => root.ancestors().take_while(|d| d.starts_with(&git)).collect(),
        None => vec![root],
    };
    dirs.iter().flat_map(|d| template::LICENSE_FILES.iter().map(move |f| d.join(f))).find(|p| p.exists())
}

fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
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

/// Runs `uv lock` over the template in the Python runtime and exports the
/// project (with `sdk/` and `uv.lock`), the VCS files and `dagger.json`.
async fn generate_python(root: &Path, source: &str, config: &ModuleConfig) -> Result<()> {
    let src_dir = if source == "." { root.to_path_buf() } else { root.join(source) };
    let read = |name: &str| std::fs::read_to_string(src_dir.join(name)).ok();
    let pyproject = read("pyproject.toml");
    let dot_python = read(".python-version");
    let python_version = dot_python.as_deref().map(str::trim).filter(|v| !v.is_empty());
    let has_python = has_python_files(&src_dir);
    let files = template::files(&config.name, python_version, pyproject.is_some(), has_python);
    let pyproject = pyproject.or_else(|| files.iter().find(|f| f.path == "pyproject.toml").map(|f| f.contents.clone()));
    let input = runtime::Input {
        module_name: config.name.clone(),
        source_subpath: ".".into(),
        pyproject,
        python_version_file: dot_python.clone(),
        has_uv_lock: src_dir.join("uv.lock").exists(),
        extra_bindings: None,
        env: runtime::forwarded_env(),
        purpose: Purpose::Lock,
    };
    let layout = input.layout()?;

    let engine = crate::start_engine(None).await?;
    let result = async {
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
            format!("host {{ directory(path: {}, exclude: [\".git\"])", lit(&src_dir.to_string_lossy()))
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
        vars.insert("context".into(), context_id.into());
        let data = execute(&engine, &doc.query, vars).await.context("running `uv lock` in the Python runtime")?;
        let ctr = runtime::container_id(&data).context("no container id in the answer")?.to_string();

        let gitignore = template::gitignore(read(".gitignore").as_deref());
        let gitattributes = template::gitattributes(read(".gitattributes").as_deref());
        let q = format!(
            "query($ctr: ID!) {{ loadContainerFromID(id: $ctr) {{ directory(path: {}) {{ \
             withNewFile(path: \".gitignore\", contents: {}, permissions: 384) {{ \
             withNewFile(path: \".gitattributes\", contents: {}, permissions: 384) {{ id }} }} }} }} }}",
            lit(&layout.workdir),
            lit(&gitignore),
            lit(&gitattributes)
        );
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
