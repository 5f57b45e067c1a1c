//! `EngineConfig::load_default` and its environment variables. One test in
//! its own binary, because it changes the process environment.

#![allow(clippy::type_complexity)]

use std::path::{Path, PathBuf};

use tanto_oci::config::EngineConfig;

fn set(vars: &[(&str, Option<&Path>)]) {
    for (k, v) in vars {
        match v {
            Some(p) => std::env::set_var(k, p),
            None => std::env::remove_var(k),
        }
    }
}

#[test]
fn load_default_table() {
    let tmp = tempfile::tempdir().unwrap();
    let xdg = tmp.path().join("xdg");
    let home = tmp.path().join("home");
    let good = tmp.path().join("good.toml");
    let bad = tmp.path().join("bad.toml");
    let missing = tmp.path().join("missing.toml");
    std::fs::write(&good, "[registry.\"docker.io\"]\nmirrors = [\"127.0.0.1:5000\"]\n").unwrap();
    std::fs::write(&bad, "[registry.\"docker.io\"]\nmirrors = [\n").unwrap();
    let xdg_file = xdg.join("tanto/engine.toml");
    let home_file = home.join(".config/tanto/engine.toml");

    enum Want {
        Loaded(PathBuf),
        Empty,
        Error(Vec<String>),
    }
    use Want::*;
    let cases: Vec<(&str, Vec<(&str, Option<&Path>)>, Option<(&Path, &str)>, Want)> = vec![
        ("TANTO_CONFIG names a file", vec![("TANTO_CONFIG", Some(&good))], None, Loaded(good.clone())),
        (
            "TANTO_CONFIG names a missing file",
            vec![("TANTO_CONFIG", Some(&missing))],
            None,
            Error(vec![format!("`{}`", missing.display()), "TANTO_CONFIG".into()]),
        ),
        (
            "TANTO_CONFIG names a malformed file",
            vec![("TANTO_CONFIG", Some(&bad))],
            None,
            Error(vec![format!("`{}` line ", bad.display())]),
        ),
        (
            "no file anywhere",
            vec![("TANTO_CONFIG", None), ("XDG_CONFIG_HOME", Some(&xdg)), ("HOME", Some(&home))],
            None,
            Empty,
        ),
        (
            "XDG_CONFIG_HOME file",
            vec![("TANTO_CONFIG", None), ("XDG_CONFIG_HOME", Some(&xdg)), ("HOME", Some(&home))],
            Some((&xdg_file, "[registry.\"x.io\"]\nhttp = true\n")),
            Loaded(xdg_file.clone()),
        ),
        (
            "HOME file when XDG_CONFIG_HOME is unset",
            vec![("TANTO_CONFIG", None), ("XDG_CONFIG_HOME", None), ("HOME", Some(&home))],
            Some((&home_file, "[registry.\"x.io\"]\nhttp = true\n")),
            Loaded(home_file.clone()),
        ),
        (
            "malformed default file",
            vec![("TANTO_CONFIG", None), ("XDG_CONFIG_HOME", Some(&xdg)), ("HOME", Some(&home))],
            Some((&xdg_file, "http = = 1\n")),
            Error(vec![format!("`{}` line 1", xdg_file.display())]),
        ),
    ];
    for (name, vars, file, want) in cases {
        let _ = std::fs::remove_file(&xdg_file);
        let _ = std::fs::remove_file(&home_file);
        if let Some((p, text)) = file {
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        set(&vars);
        match (EngineConfig::load_default(), want) {
            (Ok((cfg, Some(p))), Loaded(w)) => {
                assert_eq!(p, w, "{name}");
                assert!(!cfg.registries.is_empty(), "{name}");
            }
            (Ok((cfg, None)), Empty) => assert_eq!(cfg, EngineConfig::default(), "{name}"),
            (Err(e), Error(fragments)) => {
                for f in fragments {
                    assert!(e.to_string().contains(&f), "{name}: {e} should contain {f:?}");
                }
            }
            (got, _) => panic!("{name}: unexpected {got:?}"),
        }
    }
}
