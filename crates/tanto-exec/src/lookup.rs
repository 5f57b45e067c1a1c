//! Finding `args[0]` inside the container before starting it, so a missing command is a
//! typed [`ExecError::CommandNotFound`] instead of a runtime message.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::view::{normalize, Resolved, View};

/// `PATH` used when the process environment has none (Docker's default).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The effective `PATH` of an environment list (the last `PATH=` wins, as with `env`).
pub fn path_of(env: &[String]) -> Option<&str> {
    env.iter().rev().find_map(|e| e.strip_prefix("PATH="))
}

/// Outcome of a command lookup.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    /// Container path of the executable (symlinks resolved).
    Found(PathBuf),
    /// Could not be checked before start (lives in a tmpfs or /proc): let the runtime try.
    Unknown,
    NotFound,
}

/// Looks `cmd` up as `execvp` would inside the container.
pub fn find_command(view: &View, cmd: &str, search_path: &str, cwd: &str) -> Lookup {
    if cmd.is_empty() {
        return Lookup::NotFound;
    }
    if cmd.contains('/') {
        return check(view, &normalize(cmd, cwd));
    }
    let mut unknown = false;
    for dir in search_path.split(':') {
        // An empty entry means the working directory, as in execvp.
        let dir = if dir.is_empty() { cwd } else { dir };
        match check(view, &normalize(&format!("{dir}/{cmd}"), cwd)) {
            Lookup::Found(p) => return Lookup::Found(p),
            Lookup::Unknown => unknown = true,
            Lookup::NotFound => {}
        }
    }
    if unknown {
        Lookup::Unknown
    } else {
        Lookup::NotFound
    }
}

fn check(view: &View, path: &Path) -> Lookup {
    match view.resolve(path, true, usize::MAX) {
        Ok(Resolved::Found { path, meta }) if meta.is_file() && meta.permissions().mode() & 0o111 != 0 => {
            Lookup::Found(path)
        }
        Ok(Resolved::Virtual { .. }) => Lookup::Unknown,
        _ => Lookup::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::Backing;
    use std::fs;
    use std::os::unix::fs::symlink;

    fn check_case(view: &View, cmd: &str, path: &str, expect: &str) {
        let got = match find_command(view, cmd, path, "/work") {
            Lookup::Found(p) => p.display().to_string(),
            Lookup::Unknown => "unknown".to_string(),
            Lookup::NotFound => "not found".to_string(),
        };
        assert_eq!(got, expect, "looking up {cmd:?} in {path:?}");
    }

    #[test]
    fn path_lookup() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path().join("root");
        for d in ["bin", "usr/bin", "work", "noexec"] {
            fs::create_dir_all(r.join(d)).unwrap();
        }
        let exe = |p: &Path, mode| {
            fs::write(p, b"#!").unwrap();
            fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
        };
        exe(&r.join("bin/busybox"), 0o755);
        exe(&r.join("noexec/tool"), 0o644);
        exe(&r.join("work/local"), 0o700);
        symlink("/bin/busybox", r.join("usr/bin/sh")).unwrap();
        symlink("/nowhere", r.join("usr/bin/dangling")).unwrap();
        let m = t.path().join("m");
        fs::create_dir_all(&m).unwrap();
        exe(&m.join("mounted"), 0o755);
        let mut v = View::new(r);
        v.push("/opt/tools".into(), Backing::Host { base: m, writable: false });
        v.push("/tmpfs".into(), Backing::Virtual);

        let cases = [
            ("sh", DEFAULT_PATH, "/bin/busybox"),
            ("busybox", "/usr/bin:/bin", "/bin/busybox"),
            ("sh", "/bin", "not found"),
            ("dangling", DEFAULT_PATH, "not found"),
            ("tool", "/noexec", "not found"),
            ("/bin/busybox", "", "/bin/busybox"),
            ("./local", "", "/work/local"),
            ("../bin/busybox", "", "/bin/busybox"),
            ("local", "/bin:", "/work/local"),
            ("mounted", "/usr/bin:/opt/tools", "/opt/tools/mounted"),
            ("x", "/tmpfs", "unknown"),
            ("nope", DEFAULT_PATH, "not found"),
            ("bin", "/", "not found"),
        ];
        for (cmd, path, expect) in cases {
            check_case(&v, cmd, path, expect);
        }
    }

    #[test]
    fn path_env() {
        let env = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(path_of(&env(&["A=1", "PATH=/a", "PATH=/b"])), Some("/b"));
        assert_eq!(path_of(&env(&["A=1"])), None);
    }
}
