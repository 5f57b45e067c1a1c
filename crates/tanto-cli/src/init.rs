//! `tanto init`: a new module, as `dagger init` (v0.21, `cmd/dagger/module.go`)
//! makes one: `dagger.json`, and with an SDK its generated files
//! ([`crate::codegen`]: template, vendored SDK, `uv.lock`, VCS files), then
//! a `LICENSE` unless one is found (`cmd/dagger/licenses.go`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use tanto_module::config::{ModuleConfig, FILENAME, SUPPORTED_SDKS};
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

pub const DEFAULT_LICENSE: &str = "Apache-2.0";

pub async fn init(args: InitArgs) -> Result<u8> {
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let root = tanto_module::context::clean(&cwd.join(args.path.clone().unwrap_or_else(|| cwd.clone())));
    if let Some(sdk) = &args.sdk {
        if !SUPPORTED_SDKS.contains(&sdk.as_str()) {
            bail!("sdk `{sdk}` is not supported by tanto yet; supported: {}", SUPPORTED_SDKS.join(", "));
        }
    }
    let license = args.license.clone().unwrap_or_else(|| DEFAULT_LICENSE.into());
    check_license(&license)?;
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
    if args.sdk.is_none() {
        std::fs::create_dir_all(&root).with_context(|| format!("creating `{}`", root.display()))?;
    }
    crate::codegen::generate(crate::codegen::Generate { root: &root, config: &config, deps: vec![], new_module: true })
        .await?;
    if args.sdk.is_some() {
        write_license(&root, &license, args.license.is_some())?;
    }
    println!("Initialized module {name} in {}", root.display());
    Ok(0)
}

/// `inferSourcePathDir`: `.` for a missing or empty directory (hidden files
/// and `dagger.json` aside), else `.dagger`.
pub fn infer_source_dir(root: &Path) -> Result<String> {
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

/// `findOrCreateLicense`: Apache-2.0 as `LICENSE` unless `license` is
/// empty, or a license is found and none was asked for explicitly.
pub fn write_license(root: &Path, license: &str, explicit: bool) -> Result<()> {
    if !license.is_empty() && (explicit || find_license(root).is_none()) {
        crate::codegen::write_new(&root.join("LICENSE"), template::LICENSE_APACHE_2_0.as_bytes(), 0o600)?;
    }
    Ok(())
}

/// Refuses a license tanto cannot write (all but Apache-2.0 and none).
pub fn check_license(license: &str) -> Result<()> {
    if !license.is_empty() && license != DEFAULT_LICENSE {
        bail!(
            "license `{license}` is not available: tanto writes {DEFAULT_LICENSE} only (or pass --license= for none)"
        );
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(entries: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for e in entries {
            let p = dir.path().join(e.trim_end_matches('/'));
            if e.ends_with('/') {
                std::fs::create_dir_all(&p).unwrap();
            } else {
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(&p, "").unwrap();
            }
        }
        dir
    }

    #[test]
    fn source_dir_is_the_root_only_for_an_empty_one() {
        // (entries of the module's directory, inferred source dir)
        let cases: &[(&[&str], &str)] = &[
            (&[], "."),
            (&[".git/", ".envrc"], "."),
            (&["dagger.json"], "."),
            (&["README.md"], ".dagger"),
            (&[".dagger/"], ".dagger"),
            (&["src/"], ".dagger"),
        ];
        for (entries, want) in cases {
            let dir = tree(entries);
            let root = dir.path().join("m");
            std::fs::create_dir(&root).unwrap();
            for e in *entries {
                let from = dir.path().join(e.trim_end_matches('/'));
                std::fs::rename(&from, root.join(e.trim_end_matches('/'))).unwrap();
            }
            assert_eq!(infer_source_dir(&root).unwrap(), *want, "{entries:?}");
        }
        assert_eq!(infer_source_dir(Path::new("/nonexistent/tanto-init")).unwrap(), ".");
    }

    #[test]
    fn licenses_are_searched_up_to_the_git_root() {
        // (entries, module dir, found license relative to the temp dir)
        let cases: &[(&[&str], &str, Option<&str>)] = &[
            (&["m/"], "m", None),
            (&["m/COPYING"], "m", Some("m/COPYING")),
            // no .git: only the module's directory is searched
            (&["LICENSE", "m/"], "m", None),
            (&[".git/", "LICENSE", "a/m/"], "a/m", Some("LICENSE")),
            (&[".git/", "a/LICENSE.md", "a/m/"], "a/m", Some("a/LICENSE.md")),
            (&["LICENSE", "r/.git/", "r/m/"], "r/m", None),
        ];
        for (entries, module, want) in cases {
            let dir = tree(entries);
            let got = find_license(&dir.path().join(module));
            assert_eq!(got, want.map(|w| dir.path().join(w)), "{entries:?}");
        }
    }
}
