//! `tanto develop` and `tanto install`, as `dagger develop` and `dagger
//! install` (v0.21.8 `cmd/dagger/module.go`) change a local module: its
//! `dagger.json` (the SDK, the source directory, a dependency; the engine
//! version), then its generated files ([`crate::codegen`]: the vendored SDK
//! with the dependencies' bindings, `uv.lock`, the template where missing).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use tanto_module::config::{Dependency, ModuleConfig, Sdk, FILENAME, SUPPORTED_SDKS};
use tanto_module::context::{self, ContextError, SourceKind};

use crate::codegen::{self, Generate};

#[derive(clap::Args)]
pub struct DevelopArgs {
    /// The module: a local directory (default: the nearest with a dagger.json from here up).
    #[arg(short = 'm', long = "mod")]
    module: Option<String>,
    /// The SDK to set on a module that has none (supported: python).
    #[arg(long)]
    sdk: Option<String>,
    /// The source directory of the SDK's files (default: the module's root
    /// when it is empty, else `.dagger`).
    #[arg(long)]
    source: Option<PathBuf>,
    /// With --sdk: the license to write when none is found (`Apache-2.0`, or empty for none).
    #[arg(long)]
    license: Option<String>,
}

#[derive(clap::Args)]
pub struct InstallArgs {
    /// The module: a local directory (default: the nearest with a dagger.json from here up).
    #[arg(short = 'm', long = "mod")]
    module: Option<String>,
    /// The name the module calls the dependency by (default: the dependency's own name).
    #[arg(short = 'n', long)]
    name: Option<String>,
    /// The module to install: a local directory with a dagger.json.
    dependency: String,
}

/// The root of the module to change: the nearest directory with a
/// `dagger.json` from `-m DIR` (or the current directory) up.
fn module_root(flag: Option<&str>, cwd: &Path) -> Result<PathBuf> {
    let start = match flag {
        Some("") => bail!("`-m` needs a module: a local directory"),
        Some(m) if context::fast_kind(m, None) == Some(SourceKind::Git) => {
            bail!("module `{m}` is not local: only a local module can be changed; give its directory with -m DIR")
        }
        Some(m) => context::clean(&cwd.join(m)),
        None => cwd.to_path_buf(),
    };
    context::find_module_root(&start).with_context(|| {
        format!(
            "no {FILENAME} in `{}` or any parent directory: run this in a module, or give one with -m DIR \
             (create one with `{} init`)",
            start.display(),
            crate::program_name()
        )
    })
}

fn read_config(root: &Path) -> Result<ModuleConfig> {
    Ok(ModuleConfig::read(root).with_context(|| format!("reading `{}`", root.join(FILENAME).display()))??)
}

/// Dagger's messages for a refused `withDependencies` come after this.
fn install_error(e: ContextError) -> anyhow::Error {
    match e {
        ContextError::DependencyOutside { .. } | ContextError::DuplicateName(_) => {
            anyhow::anyhow!("failed to install dependency: {e}")
        }
        e => e.into(),
    }
}

pub async fn install(args: InstallArgs) -> Result<u8> {
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let root = module_root(args.module.as_deref(), &cwd)?;
    let mut config = read_config(&root)?;
    let dep_ref = args.dependency.as_str();
    let local = match context::fast_kind(dep_ref, None) {
        Some(k) => k == SourceKind::Local,
        None => cwd.join(dep_ref).is_dir(),
    };
    if !local {
        bail!(
            "`{dep_ref}` is a git module: tanto does not install git dependencies yet; \
             clone it inside the module's repository and install its local path"
        );
    }
    let dep_root = context::clean(&cwd.join(dep_ref));
    if !dep_root.exists() {
        bail!("local path {dep_ref:?} does not exist");
    }
    if !dep_root.join(FILENAME).is_file() {
        bail!(
            "no {FILENAME} in `{}`: a dependency must be a module (create one there with `{} init --sdk=python`)",
            dep_root.display(),
            crate::program_name()
        );
    }
    let dep_config = read_config(&dep_root)?;
    let module = context::locate(&root)?;
    let source = context::dependency_source(&module, &dep_root).map_err(install_error)?;
    let name = match &args.name {
        Some(n) if n.trim().is_empty() => bail!("--name must not be empty"),
        Some(n) => n.clone(),
        None => dep_config.name.clone(),
    };
    config.dependencies = context::add_dependency(&root, &config.dependencies, Dependency::local(&name, &source))
        .map_err(install_error)?;
    config.engine_version = tanto_api::dagger::API_VERSION.into();
    regenerate(&root, &config).await.context("failed to install dependency")?;
    println!("Installed module dependency {name:?}");
    Ok(0)
}

pub async fn develop(args: DevelopArgs) -> Result<u8> {
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let root = module_root(args.module.as_deref(), &cwd)?;
    let mut config = read_config(&root)?;
    let program = crate::program_name();
    // the source directory as configured: none for a module without an SDK
    // that never set one (WithSDK then defaults it)
    let configured =
        (config.sdk_source().is_some() || config.source.is_some()).then(|| config.source_dir().to_string());
    let mut requested = match &args.source {
        None => None,
        Some(s) => {
            let abs = context::clean(&cwd.join(s));
            match abs.strip_prefix(&root) {
                Ok(rel) if rel.as_os_str().is_empty() => Some(".".to_string()),
                Ok(rel) => Some(rel.to_string_lossy().into_owned()),
                Err(_) => {
                    bail!("--source `{}` must be inside the module's directory `{}`", s.display(), root.display())
                }
            }
        }
    };
    let license = args.license.clone().unwrap_or_else(|| crate::init::DEFAULT_LICENSE.into());
    if let Some(sdk) = &args.sdk {
        if !SUPPORTED_SDKS.contains(&sdk.as_str()) {
            bail!("sdk `{sdk}` is not supported by tanto yet; supported: {}", SUPPORTED_SDKS.join(", "));
        }
        match config.sdk_source() {
            Some(have) if have != sdk => bail!("cannot update module SDK that has already been set to {have:?}"),
            Some(_) => {}
            None => config.sdk = Some(Sdk::new(sdk)),
        }
        crate::init::check_license(&license)?;
    }
    if config.sdk_source().is_some() && configured.is_none() && requested.is_none() {
        requested = Some(crate::init::infer_source_dir(&root)?);
    }
    if config.sdk_source().is_none() && args.source.is_none() {
        bail!("{program} develop on a module without an SDK requires either --sdk or --source");
    }
    if let Some(req) = requested {
        if let Some(have) = configured.filter(|h| *h != req) {
            bail!("cannot update module source path that has already been set to {have:?}");
        }
        config.source = (req != ".").then_some(req);
    }
    config.engine_version = tanto_api::dagger::API_VERSION.into();
    regenerate(&root, &config).await.context("failed to generate code")?;
    if args.sdk.is_some() {
        crate::init::write_license(&root, &license, args.license.is_some())?;
    }
    Ok(0)
}

/// Writes `config` and the files generated from it into the module at `root`.
async fn regenerate(root: &Path, config: &ModuleConfig) -> Result<()> {
    let deps = match config.sdk_source() {
        Some(_) => codegen::local_dependency_roots(root, config)?,
        None => Vec::new(),
    };
    codegen::generate(Generate { root, config, deps, new_module: false }).await
}
