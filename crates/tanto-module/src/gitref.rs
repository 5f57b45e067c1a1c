//! Git module references as Dagger writes them (`core/modulerefs.go`):
//! `github.com/owner/repo/sub/path@v1.2`, `https://host/group/repo.git/sub@main`,
//! `/srv/repos/repo.git@<sha>`. The repository ends at a component ending in
//! `.git`, or after `host/owner/repo` for the well-known forges; what follows
//! is the module's path in the repository; `@` gives the version (a tag,
//! branch or commit; the default branch without one).

/// A parsed git module reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitModuleRef {
    /// What to clone: an `https://` URL, or the local path or URL as given.
    pub clone_url: String,
    /// The module's directory in the repository (`.` for its root).
    pub subpath: String,
    /// The version asked for, if any.
    pub version: Option<String>,
}

/// Forges whose repositories are `host/owner/repo`.
const FORGES: &[&str] = &["github.com", "gitlab.com", "bitbucket.org", "codeberg.org"];

/// Parses `r`; the error says what is wrong with it.
pub fn parse(r: &str) -> Result<GitModuleRef, String> {
    // (`git@host:path` has its `@` before the path: no version there)
    let (path, version) = match r.rsplit_once('@') {
        Some((p, v)) if !v.is_empty() && !v.contains('/') && !v.contains(':') => (p, Some(v.to_string())),
        _ => (r, None),
    };
    let (scheme, rest) = match path.split_once("://") {
        Some((s, rest)) => (Some(s), rest),
        None => (None, path),
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let repo_end = match parts.iter().position(|p| p.ends_with(".git") && p.len() > 4) {
        Some(i) => i + 1,
        None if parts.first().is_some_and(|h| FORGES.contains(h)) && parts.len() >= 3 => 3,
        None => {
            return Err(format!(
                "git module reference `{r}`: cannot tell where the repository ends; end its path with `.git` (e.g. `https://host/group/repo.git/sub@v1`)"
            ))
        }
    };
    let repo = parts[..repo_end].join("/");
    let sub: Vec<&str> = parts[repo_end..].iter().copied().filter(|p| !p.is_empty() && *p != ".").collect();
    if sub.contains(&"..") {
        return Err(format!("git module reference `{r}`: its path must stay inside the repository"));
    }
    let clone_url = match scheme {
        Some(s) => format!("{s}://{repo}"),
        None if repo.starts_with('/') => repo,
        None => format!("https://{repo}"),
    };
    Ok(GitModuleRef { clone_url, subpath: if sub.is_empty() { ".".into() } else { sub.join("/") }, version })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        // (reference, clone URL, subpath, version) or the error's start
        let ok = [
            ("github.com/o/r", "https://github.com/o/r", ".", None),
            ("github.com/o/r/ci/mod@v1.2", "https://github.com/o/r", "ci/mod", Some("v1.2")),
            ("https://host/g/r.git/sub@main", "https://host/g/r.git", "sub", Some("main")),
            ("/srv/repos/r.git@abc123", "/srv/repos/r.git", ".", Some("abc123")),
            ("/srv/repos/r.git/a/b", "/srv/repos/r.git", "a/b", None),
            ("gitlab.com/g/r/./x/@dev", "https://gitlab.com/g/r", "x", Some("dev")),
        ];
        for (r, url, sub, version) in ok {
            let got = parse(r).unwrap_or_else(|e| panic!("{r}: {e}"));
            assert_eq!(
                got,
                GitModuleRef { clone_url: url.into(), subpath: sub.into(), version: version.map(Into::into) },
                "{r}"
            );
        }
        let bad = [
            ("example.com/some/path@v1", "git module reference `example.com/some/path@v1`: cannot tell"),
            ("github.com/o/r/../x", "git module reference `github.com/o/r/../x`: its path must stay"),
        ];
        for (r, want) in bad {
            let e = parse(r).unwrap_err();
            assert!(e.starts_with(want), "{r}: {e}");
        }
    }
}
