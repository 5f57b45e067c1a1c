//! Where the engine looks for CDI specs (GPUs and other devices by name, see
//! `tanto_exec::cdi`): `$TANTO_CDI_SPEC_DIRS` (colon-separated), else the
//! engine config's `[cdi] spec_dirs`, else `/etc/cdi` and `/var/run/cdi`.
//! Later directories win when two define the same device.

use std::path::{Path, PathBuf};

use crate::EngineError;

pub(crate) fn spec_dirs(
    config: &tanto_oci::config::EngineConfig,
    path: Option<&Path>,
    env: Option<&str>,
) -> Result<Vec<PathBuf>, EngineError> {
    if let Some(v) = env.filter(|v| !v.trim().is_empty()) {
        let dirs: Vec<PathBuf> = v.split(':').filter(|s| !s.is_empty()).map(PathBuf::from).collect();
        if let Some(d) = dirs.iter().find(|d| !d.is_absolute()) {
            return Err(EngineError::input(format!(
                "`TANTO_CDI_SPEC_DIRS`: `{}` is not an absolute path; list absolute directories separated by `:`",
                d.display()
            )));
        }
        return Ok(dirs);
    }
    let default = || tanto_exec::cdi::DEFAULT_SPEC_DIRS.iter().map(PathBuf::from).collect();
    let Some(section) = config.extra.get("cdi") else { return Ok(default()) };
    let file = path.map(|p| p.display().to_string()).unwrap_or_else(|| "the engine config".into());
    let bad = |key: &str, why: &str| EngineError::input(format!("`{file}`: `[cdi] {key}`: {why}"));
    let table = section.as_table().ok_or_else(|| bad("", "must be a table"))?;
    let mut dirs = default();
    for (key, value) in table {
        match key.as_str() {
            "spec_dirs" => {
                let list = value.as_array().ok_or_else(|| {
                    bad(key, "must be a list of absolute directories, such as [\"/etc/cdi\", \"/var/run/cdi\"]")
                })?;
                dirs = Vec::new();
                for v in list {
                    let s = v.as_str().filter(|s| s.starts_with('/')).ok_or_else(|| {
                        bad(key, "must be a list of absolute directories, such as [\"/etc/cdi\", \"/var/run/cdi\"]")
                    })?;
                    dirs.push(PathBuf::from(s));
                }
            }
            other => return Err(bad(other, "unknown key: use spec_dirs")),
        }
    }
    Ok(dirs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_dir_settings() {
        // (config text, env, Ok(dirs) or Err(fragment))
        let cases: &[(&str, Option<&str>, Result<&str, &str>)] = &[
            ("", None, Ok("/etc/cdi:/var/run/cdi")),
            ("[cdi]\nspec_dirs = [\"/a\", \"/b\"]\n", None, Ok("/a:/b")),
            ("[cdi]\nspec_dirs = []\n", None, Ok("")),
            ("[cdi]\nspec_dirs = [\"/a\"]\n", Some("/x:/y"), Ok("/x:/y")),
            ("", Some(""), Ok("/etc/cdi:/var/run/cdi")),
            ("", Some("rel/dir"), Err("`rel/dir` is not an absolute path")),
            ("[cdi]\nspec_dirs = \"/a\"\n", None, Err("must be a list")),
            ("[cdi]\nspec_dirs = [\"a\"]\n", None, Err("must be a list of absolute")),
            ("[cdi]\nspecdirs = []\n", None, Err("unknown key")),
        ];
        for (text, env, want) in cases {
            let cfg = tanto_oci::config::EngineConfig::from_toml_str(text).unwrap();
            let got = spec_dirs(&cfg, None, *env)
                .map(|d| d.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(":"))
                .map_err(|e| e.to_string());
            match (want, got) {
                (Ok(w), Ok(g)) => assert_eq!(&g, w, "{text}"),
                (Err(w), Err(g)) => assert!(g.contains(w), "{text}: {g}"),
                (w, g) => panic!("{text}: want {w:?}, got {g:?}"),
            }
        }
    }
}
