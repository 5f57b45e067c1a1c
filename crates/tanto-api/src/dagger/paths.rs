//! Path and environment helpers shared by the resolvers.

pub use tanto_model::path::clean_abs;

/// `p` made absolute against `base` (an absolute directory).
pub fn resolve(base: &str, p: &str) -> String {
    if p.starts_with('/') {
        clean_abs(p)
    } else {
        clean_abs(&format!("{}/{}", if base.is_empty() { "/" } else { base }, p))
    }
}

/// A path inside a directory object: absolute paths count from the directory's root.
pub fn within(dir: &str, p: &str) -> String {
    clean_abs(&format!("{dir}/{p}"))
}

pub fn base_name(p: &str) -> String {
    let c = clean_abs(p);
    match c.rsplit('/').next() {
        Some("") | None => "/".to_string(),
        Some(n) => n.to_string(),
    }
}

/// If `path` is `prefix` or below it, the remainder (`""` for equal).
pub fn strip_dir_prefix<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    if prefix == "/" {
        return Some(path.trim_start_matches('/'));
    }
    let rest = path.strip_prefix(prefix)?;
    if rest.is_empty() {
        Some("")
    } else {
        rest.strip_prefix('/')
    }
}

/// Expands `$VAR` and `${VAR}` from `env` ("K=V" entries, last wins); unknown
/// variables become empty, as in a shell.
pub fn expand(s: &str, env: &[String]) -> String {
    let lookup = |name: &str| -> String {
        env.iter()
            .rev()
            .find_map(|kv| kv.split_once('=').filter(|(k, _)| *k == name).map(|(_, v)| v.to_string()))
            .unwrap_or_default()
    };
    let bytes: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == '$' && i + 1 < bytes.len() {
            if bytes[i + 1] == '{' {
                if let Some(end) = bytes[i + 2..].iter().position(|&c| c == '}') {
                    let name: String = bytes[i + 2..i + 2 + end].iter().collect();
                    out.push_str(&lookup(&name));
                    i += end + 3;
                    continue;
                }
            } else if bytes[i + 1] == '_' || bytes[i + 1].is_ascii_alphabetic() {
                let mut j = i + 1;
                while j < bytes.len() && (bytes[j] == '_' || bytes[j].is_ascii_alphanumeric()) {
                    j += 1;
                }
                let name: String = bytes[i + 1..j].iter().collect();
                out.push_str(&lookup(&name));
                i = j;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_cases() {
        for (base, p, want) in [
            ("/", "a", "/a"),
            ("/work", "a/b", "/work/a/b"),
            ("/work", "/x/../y", "/y"),
            ("/work", "../../..", "/"),
            ("", "a", "/a"),
        ] {
            assert_eq!(resolve(base, p), want, "{base} {p}");
        }
        assert_eq!(base_name("/a/b.txt"), "b.txt");
        assert_eq!(base_name("/"), "/");
        assert_eq!(strip_dir_prefix("/in/x", "/in"), Some("x"));
        assert_eq!(strip_dir_prefix("/inx", "/in"), None);
        assert_eq!(strip_dir_prefix("/in", "/in"), Some(""));
    }

    #[test]
    fn expand_cases() {
        let env = vec!["A=1".to_string(), "B=two".to_string(), "A=3".to_string()];
        for (input, want) in
            [("$A", "3"), ("${B}x", "twox"), ("$NOPE-", "-"), ("a$", "a$"), ("$1", "$1"), ("${B", "${B")]
        {
            assert_eq!(expand(input, &env), want, "{input}");
        }
    }
}
