//! The names Dagger derives from a module's or a function's name
//! (Go's `strcase`, as Dagger uses it): `my-mod` → `MyMod` (main object),
//! `myMod` (its field on `Query`), `my_mod` (Python package), `my-mod` (CLI).

/// Splits a name into lower-case words at `-`, `_`, spaces, and case changes
/// (`HTTPServer` → `http`, `server`; `v2Api` → `v2`, `api`).
pub fn words(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let mut words = Vec::new();
    let mut cur = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c == '-' || c == '_' || c == ' ' || c == '.' {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if c.is_uppercase() && !cur.is_empty() {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if prev.is_lowercase() || prev.is_ascii_digit() || (prev.is_uppercase() && next_lower) {
                words.push(std::mem::take(&mut cur));
            }
        }
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

fn capitalized(w: &str) -> String {
    let mut c = w.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// `my-mod` → `MyMod`.
pub fn camel(s: &str) -> String {
    words(s).iter().map(|w| capitalized(w)).collect()
}

/// `my-mod` → `myMod`.
pub fn lower_camel(s: &str) -> String {
    let w = words(s);
    let mut out = String::new();
    for (i, w) in w.iter().enumerate() {
        if i == 0 {
            out.push_str(w);
        } else {
            out.push_str(&capitalized(w));
        }
    }
    out
}

/// `MyMod` → `my_mod`.
pub fn snake(s: &str) -> String {
    words(s).join("_")
}

/// `containerEcho` → `container-echo`.
pub fn kebab(s: &str) -> String {
    words(s).join("-")
}

/// The CLI name of a function or argument, `strcase.ToKebab` of
/// iancoleman/strcase v0.3.0 as Dagger's CLI uses it (`cliName`), byte for
/// byte: a delimiter wherever the case or digit class changes (`v2Api` →
/// `v-2-api`, `HTTPServer` → `http-server`) and for each ` `, `_`, `-`, `.`.
pub fn cli_name(s: &str) -> String {
    let b = s.trim().as_bytes();
    let mut out = Vec::with_capacity(b.len() + 2);
    for (i, &c) in b.iter().enumerate() {
        let is_cap = c.is_ascii_uppercase();
        let is_low = c.is_ascii_lowercase();
        let v = c.to_ascii_lowercase();
        if let Some(&next) = b.get(i + 1) {
            let is_num = v.is_ascii_digit();
            let (n_cap, n_low, n_num) = (next.is_ascii_uppercase(), next.is_ascii_lowercase(), next.is_ascii_digit());
            if (is_cap && (n_low || n_num)) || (is_low && (n_cap || n_num)) || (is_num && (n_cap || n_low)) {
                if is_cap && n_low && i > 0 && b[i - 1].is_ascii_uppercase() {
                    out.push(b'-');
                }
                out.push(v);
                if is_low || is_num || n_num {
                    out.push(b'-');
                }
                continue;
            }
        }
        out.push(if matches!(v, b' ' | b'_' | b'-' | b'.') { b'-' } else { v });
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        // (input, camel, lower camel, snake, kebab)
        let cases = [
            ("hello", "Hello", "hello", "hello", "hello"),
            ("my-mod", "MyMod", "myMod", "my_mod", "my-mod"),
            ("my_mod", "MyMod", "myMod", "my_mod", "my-mod"),
            ("containerEcho", "ContainerEcho", "containerEcho", "container_echo", "container-echo"),
            ("container_echo", "ContainerEcho", "containerEcho", "container_echo", "container-echo"),
            ("HTTPServer", "HttpServer", "httpServer", "http_server", "http-server"),
            ("v2Api", "V2Api", "v2Api", "v2_api", "v2-api"),
        ];
        for (input, c, lc, s, k) in cases {
            assert_eq!((camel(input).as_str(), lower_camel(input).as_str()), (c, lc), "{input}");
            assert_eq!((snake(input).as_str(), kebab(input).as_str()), (s, k), "{input}");
        }
    }

    #[test]
    fn cli_names_follow_strcase_to_kebab() {
        let cases = [
            ("greet", "greet"),
            ("randomId", "random-id"),
            ("random_id", "random-id"),
            ("containerEcho", "container-echo"),
            ("withExec", "with-exec"),
            ("HTTPServer", "http-server"),
            ("v2Api", "v-2-api"),
            ("sha256sum", "sha-256-sum"),
            ("dockerConfig", "docker-config"),
            ("DockerConfig", "docker-config"),
            ("already-kebab", "already-kebab"),
            ("a__b", "a--b"),
            (" spaced name ", "spaced-name"),
            ("ID", "id"),
        ];
        for (input, want) in cases {
            assert_eq!(cli_name(input), want, "{input:?}");
        }
    }
}
