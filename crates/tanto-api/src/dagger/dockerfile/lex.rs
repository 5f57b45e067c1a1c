//! Dockerfile words: splitting and variable expansion with BuildKit's rules
//! (`frontend/dockerfile/shell` and `parser.parseWords`).
//!
//! - [`split_words`] splits on whitespace outside quotes, keeping quotes and
//!   escapes in the words (they are removed later by [`Expander::word`]).
//! - [`Expander::word`] removes quotes and escapes and expands `$NAME`,
//!   `${NAME}`, `${NAME:-w}`, `${NAME-w}`, `${NAME:+w}`, `${NAME+w}`,
//!   `${NAME:?w}`, `${NAME?w}`, `${NAME#p}`, `${NAME##p}`, `${NAME%p}`,
//!   `${NAME%%p}`, `${NAME/p/r}` and `${NAME//p/r}`; unset names are empty.

use super::DockerfileError;

/// Splits `s` into words on whitespace outside quotes; quotes and escapes
/// stay in the words (BuildKit's `parseWords`).
pub fn split_words(s: &str, escape: char) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let mut words = Vec::new();
    let mut word = String::new();
    let mut blank_ok = false;
    let mut quote: Option<char> = None;
    let mut in_word = false;
    let mut i = 0;
    while i < chars.len() {
        let ch = chars[i];
        if let Some(q) = quote {
            if ch == q {
                quote = None;
            } else if ch == escape && q != '\'' {
                if i + 1 == chars.len() {
                    i += 1;
                    continue;
                }
                word.push(ch);
                i += 1;
                word.push(chars[i]);
                i += 1;
                continue;
            }
            word.push(ch);
            i += 1;
            continue;
        }
        if ch.is_whitespace() {
            if in_word && (blank_ok || !word.is_empty()) {
                words.push(std::mem::take(&mut word));
            }
            in_word = false;
            blank_ok = false;
            i += 1;
            continue;
        }
        in_word = true;
        if ch == '\'' || ch == '"' {
            quote = Some(ch);
            blank_ok = true;
        } else if ch == escape {
            if i + 1 == chars.len() {
                i += 1;
                continue;
            }
            word.push(ch);
            i += 1;
            word.push(chars[i]);
            i += 1;
            continue;
        }
        word.push(ch);
        i += 1;
    }
    if in_word && (blank_ok || !word.is_empty()) {
        words.push(word);
    }
    words
}

/// Expands words against a variable lookup.
pub struct Expander<'a> {
    pub escape: char,
    pub lookup: &'a (dyn Fn(&str) -> Option<String> + Sync),
    /// Keep quotes and escapes (used for heredoc bodies: only `$` is special).
    pub raw: bool,
}

struct Scan<'s> {
    chars: &'s [char],
    pos: usize,
}

impl Scan<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }
}

fn err(msg: impl Into<String>) -> DockerfileError {
    DockerfileError::Expand(msg.into())
}

impl Expander<'_> {
    /// One word with quotes removed and variables expanded.
    pub fn word(&self, w: &str) -> Result<String, DockerfileError> {
        let chars: Vec<char> = w.chars().collect();
        let mut s = Scan { chars: &chars, pos: 0 };
        self.process(&mut s, None, false)
    }

    fn process(&self, s: &mut Scan<'_>, stop: Option<char>, raw_escapes: bool) -> Result<String, DockerfileError> {
        let mut out = String::new();
        while let Some(ch) = s.peek() {
            if Some(ch) == stop {
                s.next();
                return Ok(out);
            }
            match ch {
                '\'' if !self.raw => out.push_str(&self.single_quote(s)?),
                '"' if !self.raw => out.push_str(&self.double_quote(s)?),
                '$' => out.push_str(&self.dollar(s)?),
                _ => {
                    s.next();
                    if ch == self.escape && !self.raw {
                        if raw_escapes {
                            out.push(ch);
                        }
                        match s.next() {
                            Some(c) => out.push(c),
                            None => break,
                        }
                    } else {
                        out.push(ch);
                    }
                }
            }
        }
        if stop.is_some() {
            return Err(err("syntax error: missing '}'"));
        }
        Ok(out)
    }

    fn single_quote(&self, s: &mut Scan<'_>) -> Result<String, DockerfileError> {
        s.next();
        let mut out = String::new();
        loop {
            match s.next() {
                None => return Err(err("unexpected end of statement while looking for matching single-quote")),
                Some('\'') => return Ok(out),
                Some(c) => out.push(c),
            }
        }
    }

    fn double_quote(&self, s: &mut Scan<'_>) -> Result<String, DockerfileError> {
        s.next();
        let mut out = String::new();
        loop {
            match s.peek() {
                None => return Err(err("unexpected end of statement while looking for matching double-quote")),
                Some('"') => {
                    s.next();
                    return Ok(out);
                }
                Some('$') => out.push_str(&self.dollar(s)?),
                Some(c) => {
                    s.next();
                    if c == self.escape {
                        match s.peek() {
                            None => {}
                            Some(n) if n == '"' || n == '$' || n == self.escape => {
                                s.next();
                                out.push(n);
                            }
                            Some(_) => out.push(c),
                        }
                    } else {
                        out.push(c);
                    }
                }
            }
        }
    }

    fn name(&self, s: &mut Scan<'_>) -> String {
        let mut name = String::new();
        while let Some(c) = s.peek() {
            if name.is_empty() && c.is_ascii_digit() {
                while let Some(d) = s.peek().filter(|d| d.is_ascii_digit()) {
                    s.next();
                    name.push(d);
                }
                return name;
            }
            if name.is_empty() && "@*#?-$!".contains(c) {
                s.next();
                return c.to_string();
            }
            if !(c.is_alphanumeric() || c == '_') {
                break;
            }
            s.next();
            name.push(c);
        }
        name
    }

    fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
    }

    fn dollar(&self, s: &mut Scan<'_>) -> Result<String, DockerfileError> {
        s.next(); // $
        if s.peek() != Some('{') {
            let name = self.name(s);
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(self.get(&name).unwrap_or_default());
        }
        s.next(); // {
        match s.peek() {
            None => return Err(err("syntax error: missing '}'")),
            Some('{' | '}' | ':') => return Err(err("syntax error: bad substitution")),
            _ => {}
        }
        let name = self.name(s);
        let Some(mut ch) = s.next() else { return Err(err("syntax error: missing '}'")) };
        let value = self.get(&name);
        match ch {
            '}' => Ok(value.unwrap_or_default()),
            ':' | '+' | '-' | '?' | '#' | '%' => {
                let null_is_unset = ch == ':';
                if null_is_unset {
                    ch = s.next().ok_or_else(|| err("syntax error: missing '}'"))?;
                    if !matches!(ch, '+' | '-' | '?') {
                        return Err(err(format!("unsupported modifier (:{ch}) in substitution")));
                    }
                }
                let raw = ch == '#' || ch == '%';
                let word = self.process(s, Some('}'), raw)?;
                let unset = value.is_none() || (null_is_unset && value.as_deref() == Some(""));
                match ch {
                    '-' => Ok(if unset { word } else { value.unwrap_or_default() }),
                    '+' => Ok(if unset { String::new() } else { word }),
                    '?' => {
                        if value.is_none() {
                            Err(err(format!(
                                "{name}: {}",
                                if word.is_empty() { "is not allowed to be unset" } else { &word }
                            )))
                        } else if unset {
                            Err(err(format!(
                                "{name}: {}",
                                if word.is_empty() { "is not allowed to be empty" } else { &word }
                            )))
                        } else {
                            Ok(value.unwrap_or_default())
                        }
                    }
                    _ => {
                        let v = value.unwrap_or_default();
                        let (greedy, pat) = match word.strip_prefix(ch) {
                            Some(p) => (true, p.to_string()),
                            None => (false, word),
                        };
                        Ok(if ch == '#' { trim_prefix(&v, &pat, greedy) } else { trim_suffix(&v, &pat, greedy) })
                    }
                }
            }
            '/' => {
                let all = s.peek() == Some('/');
                if all {
                    s.next();
                }
                let pattern = self.process(s, Some('/'), true)?;
                let replacement = self.process(s, Some('}'), true)?;
                Ok(replace(&value.unwrap_or_default(), &pattern, &replacement, all))
            }
            other => Err(err(format!("unsupported modifier ({other}) in substitution"))),
        }
    }
}

/// Shell pattern match of a whole string (`*`, `?`, escapes with `\`).
fn pattern_matches(pat: &[char], s: &[char]) -> bool {
    match pat.first() {
        None => s.is_empty(),
        Some('*') => (0..=s.len()).any(|i| pattern_matches(&pat[1..], &s[i..])),
        Some('?') => !s.is_empty() && pattern_matches(&pat[1..], &s[1..]),
        Some('\\') if pat.len() > 1 => s.first() == Some(&pat[1]) && pattern_matches(&pat[2..], &s[1..]),
        Some(c) => s.first() == Some(c) && pattern_matches(&pat[1..], &s[1..]),
    }
}

fn trim_prefix(v: &str, pat: &str, greedy: bool) -> String {
    let (p, c): (Vec<char>, Vec<char>) = (pat.chars().collect(), v.chars().collect());
    let mut ends: Vec<usize> = (0..=c.len()).filter(|&i| pattern_matches(&p, &c[..i])).collect();
    if !greedy {
        ends.truncate(1);
    }
    match ends.last() {
        Some(&i) => c[i..].iter().collect(),
        None => v.to_string(),
    }
}

fn trim_suffix(v: &str, pat: &str, greedy: bool) -> String {
    let (p, c): (Vec<char>, Vec<char>) = (pat.chars().collect(), v.chars().collect());
    let starts: Vec<usize> = (0..=c.len()).filter(|&i| pattern_matches(&p, &c[i..])).collect();
    let pick = if greedy { starts.first() } else { starts.last() };
    match pick {
        Some(&i) => c[..i].iter().collect(),
        None => v.to_string(),
    }
}

/// `${v/pat/rep}`: the first (or every) longest match of `pat` replaced.
fn replace(v: &str, pat: &str, rep: &str, all: bool) -> String {
    let (p, c): (Vec<char>, Vec<char>) = (pat.chars().collect(), v.chars().collect());
    if p.is_empty() {
        return v.to_string();
    }
    let mut out = String::new();
    let mut i = 0;
    let mut replaced = false;
    while i < c.len() {
        if !replaced || all {
            if let Some(end) = (i + 1..=c.len()).rev().find(|&e| pattern_matches(&p, &c[i..e])) {
                out.push_str(rep);
                i = end;
                replaced = true;
                continue;
            }
        }
        out.push(c[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, want: Result<&str, &str>) {
        let lookup = |n: &str| match n {
            "A" => Some("1".to_string()),
            "EMPTY" => Some(String::new()),
            "PATHV" => Some("/usr/local/bin/tool.tar.gz".to_string()),
            _ => None,
        };
        let x = Expander { escape: '\\', lookup: &lookup, raw: false };
        let got = x.word(input).map_err(|e| e.to_string());
        match want {
            Ok(w) => assert_eq!(got.as_deref(), Ok(w), "{input:?}"),
            Err(e) => assert!(got.as_ref().is_err_and(|g| g.contains(e)), "{input:?}: {got:?}"),
        }
    }

    #[test]
    fn expansion_cases() {
        for (input, want) in [
            ("plain", Ok("plain")),
            ("$A", Ok("1")),
            ("${A}x", Ok("1x")),
            ("$NOPE-", Ok("-")),
            ("a$", Ok("a$")),
            ("'$A'", Ok("$A")),
            ("\"$A b\"", Ok("1 b")),
            ("\"a\\\"b\"", Ok("a\"b")),
            ("\"a\\nb\"", Ok("a\\nb")),
            ("\\$A", Ok("$A")),
            ("a\\ b", Ok("a b")),
            ("${NOPE:-dflt}", Ok("dflt")),
            ("${EMPTY:-dflt}", Ok("dflt")),
            ("${EMPTY-dflt}", Ok("")),
            ("${A:+set}", Ok("set")),
            ("${NOPE+set}", Ok("")),
            ("${NOPE:-$A}", Ok("1")),
            ("${PATHV##*/}", Ok("tool.tar.gz")),
            ("${PATHV#*/}", Ok("usr/local/bin/tool.tar.gz")),
            ("${PATHV%.*}", Ok("/usr/local/bin/tool.tar")),
            ("${PATHV%%.*}", Ok("/usr/local/bin/tool")),
            ("${PATHV/local/opt}", Ok("/usr/opt/bin/tool.tar.gz")),
            ("${PATHV//o/0}", Ok("/usr/l0cal/bin/t00l.tar.gz")),
            ("${NOPE:?must be set}", Err("NOPE: must be set")),
            ("${A", Err("missing '}'")),
            ("${}", Err("bad substitution")),
            ("'open", Err("single-quote")),
            ("\"open", Err("double-quote")),
        ] {
            check(input, want);
        }
    }

    #[test]
    fn split_cases() {
        for (input, want) in [
            ("a b  c", vec!["a", "b", "c"]),
            ("A=1 B=\"two words\"   C=3", vec!["A=1", "B=\"two words\"", "C=3"]),
            ("k='a b' x\\ y", vec!["k='a b'", "x\\ y"]),
            ("\"\"", vec!["\"\""]),
            ("", vec![]),
        ] {
            assert_eq!(split_words(input, '\\'), want, "{input:?}");
        }
    }

    #[test]
    fn raw_mode_keeps_quotes() {
        let lookup = |n: &str| (n == "A").then(|| "1".to_string());
        let x = Expander { escape: '\\', lookup: &lookup, raw: true };
        assert_eq!(x.word("echo \"$A\" '${A}'\n").unwrap(), "echo \"1\" '1'\n");
    }
}
