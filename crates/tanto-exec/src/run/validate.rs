//! Checks of a [`ProcessSpec`] before anything is made for it.

use std::path::Path;

use crate::view::normalize;
use crate::{ExecError, ProcessSpec};

/// Refuses a NUL byte in what becomes a C string of the container's process (the
/// runtime would cut the string short there, silently). Environment values are
/// never shown: they may be secrets.
fn refuse_nul(spec: &ProcessSpec) -> Result<(), ExecError> {
    let nul = |s: &str| s.contains('\0');
    let shown = |s: &str| s.replace('\0', "\\0");
    let refuse = |what: String| {
        Err(ExecError::invalid(format!(
            "{what} contains a NUL byte (\\0), which a process's arguments, environment and paths cannot hold; remove it"
        )))
    };
    for (i, a) in spec.args.iter().enumerate() {
        if nul(a) {
            return refuse(format!("argument {} of the command (`{}`)", i + 1, shown(a)));
        }
    }
    for e in &spec.env {
        let (name, value) = e.split_once('=').unwrap_or((e, ""));
        if nul(name) {
            return refuse(format!("the name of environment variable `{}`", shown(name)));
        }
        if nul(value) {
            return refuse(format!("the value of environment variable `{name}`"));
        }
    }
    let fields =
        [("working directory", Some(&spec.cwd)), ("user", Some(&spec.user)), ("hostname", Some(&spec.hostname))];
    let redirects = [
        ("stdin redirect", spec.redirect_stdin.as_ref()),
        ("stdout redirect", spec.redirect_stdout.as_ref()),
        ("stderr redirect", spec.redirect_stderr.as_ref()),
    ];
    for (what, value) in fields.into_iter().chain(redirects) {
        if let Some(v) = value.filter(|v| nul(v)) {
            return refuse(format!("the {what} `{}`", shown(v)));
        }
    }
    for m in &spec.mounts {
        if nul(&m.target) {
            return refuse(format!("mount target `{}`", shown(&m.target)));
        }
    }
    Ok(())
}

pub(super) fn validate(spec: &ProcessSpec) -> Result<(), ExecError> {
    if spec.args.is_empty() || spec.args[0].is_empty() {
        return Err(ExecError::invalid("`args` is empty: give the command to run as its first element"));
    }
    refuse_nul(spec)?;
    if !spec.cwd.is_empty() && !spec.cwd.starts_with('/') {
        return Err(ExecError::invalid(format!("working directory `{}` must be an absolute path", spec.cwd)));
    }
    for m in &spec.mounts {
        if !m.target.starts_with('/') || normalize(&m.target, "/") == Path::new("/") {
            return Err(ExecError::invalid(format!(
                "mount target `{}` must be an absolute path other than `/`",
                m.target
            )));
        }
    }
    if spec.stdin.is_some() && spec.redirect_stdin.is_some() {
        return Err(ExecError::invalid("`stdin` and `redirect_stdin` are both set: use one"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rootfs;

    /// (what is changed, the error names) — a NUL byte anywhere a C string is made is refused.
    #[test]
    fn nul_bytes_are_refused() {
        let base = || ProcessSpec::new(Rootfs::Dir("/nonexistent".into()), vec!["echo".into(), "hi".into()]);
        type Change = Box<dyn Fn(&mut ProcessSpec)>;
        let cases: Vec<(Change, Option<&str>)> = vec![
            (Box::new(|_| {}), None),
            (Box::new(|s| s.args[1] = "a\0b".into()), Some("argument 2 of the command (`a\\0b`)")),
            (Box::new(|s| s.env = vec!["K=v\0secret".into()]), Some("the value of environment variable `K`")),
            (Box::new(|s| s.env = vec!["K\0=v".into()]), Some("the name of environment variable `K\\0`")),
            (Box::new(|s| s.cwd = "/w\0x".into()), Some("the working directory `/w\\0x`")),
            (Box::new(|s| s.user = "1000\0".into()), Some("the user `1000\\0`")),
            (Box::new(|s| s.redirect_stdout = Some("o\0".into())), Some("the stdout redirect")),
        ];
        for (change, want) in cases {
            let mut spec = base();
            change(&mut spec);
            match (validate(&spec), want) {
                (Ok(()), None) => {}
                (Err(e), Some(w)) => {
                    let e = e.to_string();
                    assert!(e.contains(w) && e.contains("NUL byte") && !e.contains("secret"), "{e}");
                }
                (got, want) => panic!("{spec:?}: got {got:?}, want an error with {want:?}"),
            }
        }
    }
}
