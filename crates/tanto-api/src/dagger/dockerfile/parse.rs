//! The Dockerfile syntax, parsed the way BuildKit's `frontend/dockerfile/parser`
//! and `instructions` packages do: parser directives (`# escape=`), line
//! continuations (comment and blank lines inside them are dropped), heredocs
//! anywhere in `RUN`/`COPY`/`ADD` lines (`<<EOF`, `<<-EOF`, `<<'EOF'`, several
//! per line), `--flags`, JSON (exec) and shell forms.
//!
//! Hand-written because the crates that exist either have no heredocs
//! (`dockerfile-parser`) or accept them only at the start of a command and
//! one per line (`parse-dockerfile` rejects `RUN python3 <<EOF`).
//! Words keep their quotes here; expansion happens in the builder, where the
//! variables are known.

use super::lex::split_words;
use super::DockerfileError;

#[derive(Debug, Clone, PartialEq)]
pub struct Dockerfile {
    pub escape: char,
    /// `ARG`s before the first `FROM`.
    pub meta_args: Vec<ArgDecl>,
    pub stages: Vec<Stage>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    /// The image or stage to start from, unexpanded.
    pub base: String,
    pub platform: Option<String>,
    pub name: Option<String>,
    pub line: usize,
    pub instrs: Vec<Line>,
}

/// An instruction and the line it starts on (1-based).
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub line: usize,
    pub instr: Instr,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ArgDecl {
    pub name: String,
    pub default: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Flag {
    pub name: String,
    pub value: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Cmd {
    /// JSON array form: run as is, no shell, no expansion.
    Exec(Vec<String>),
    /// Shell form: the text after the flags, continuations joined.
    Shell(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Heredoc {
    /// The delimiter (also the file name of a `COPY` heredoc).
    pub name: String,
    /// The body, every line with its `\n`, tabs not stripped.
    pub content: String,
    /// Unquoted delimiter: `$` expansion applies.
    pub expand: bool,
    /// `<<-`: leading tabs are stripped.
    pub chomp: bool,
}

impl Heredoc {
    /// The body as the command or file sees it (`<<-` strips leading tabs).
    pub fn body(&self) -> String {
        if !self.chomp {
            return self.content.clone();
        }
        self.content.split_inclusive('\n').map(|l| l.trim_start_matches('\t')).collect()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Src {
    Path(String),
    Heredoc(Heredoc),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Instr {
    Run {
        flags: Vec<Flag>,
        cmd: Cmd,
        heredocs: Vec<Heredoc>,
    },
    Copy {
        add: bool,
        flags: Vec<Flag>,
        srcs: Vec<Src>,
        dest: String,
    },
    Env(Vec<(String, String)>),
    Arg(Vec<ArgDecl>),
    Label(Vec<(String, String)>),
    Workdir(String),
    User(String),
    Expose(Vec<String>),
    Volume(Vec<String>),
    StopSignal(String),
    Cmd(Cmd),
    Entrypoint(Cmd),
    Shell(Vec<String>),
    /// `HEALTHCHECK [flags] CMD ...`, or `HEALTHCHECK NONE` (`cmd: None`).
    Healthcheck {
        flags: Vec<Flag>,
        cmd: Option<Cmd>,
    },
    /// Instructions that do not change the filesystem and that tanto does
    /// not record (`ONBUILD`, `MAINTAINER`): keyword and text.
    Ignored(String, String),
}

fn perr(line: usize, msg: impl Into<String>) -> DockerfileError {
    DockerfileError::Parse { line, msg: msg.into() }
}

/// `# name=value` at the top of the file.
fn directive(line: &str) -> Option<(String, String)> {
    let rest = line.trim().strip_prefix('#')?.trim();
    let (k, v) = rest.split_once('=')?;
    let k = k.trim();
    if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric()) || k.contains(' ') {
        return None;
    }
    Some((k.to_ascii_lowercase(), v.trim().to_string()))
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// Strips a trailing escape (and blanks after it): `Some(rest)` when the line continues.
fn continuation(line: &str, escape: char) -> Option<&str> {
    let t = line.trim_end_matches([' ', '\t']);
    t.strip_suffix(escape)
}

/// Heredoc markers among the words of a line: `[n]<<[-]DELIM`.
fn heredoc_markers(rest: &str, escape: char) -> Vec<(String, bool, bool)> {
    let mut out = Vec::new();
    for w in split_words(rest, escape) {
        let w = w.trim_start_matches(|c: char| c.is_ascii_digit());
        let Some(r) = w.strip_prefix("<<") else { continue };
        let (chomp, r) = match r.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, r),
        };
        if r.is_empty() || r.contains('<') {
            continue;
        }
        let quoted = r.contains(['\'', '"']);
        let name: String = r.chars().filter(|c| *c != '\'' && *c != '"').collect();
        if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '.' || c == '-') {
            continue;
        }
        out.push((name, !quoted, chomp));
    }
    out
}

/// Leading `--name[=value]` words (BuildKit's `extractBuilderFlags`) and the rest.
fn flags(s: &str) -> (Vec<Flag>, &str) {
    let mut out = Vec::new();
    let mut rest = s.trim_start();
    while rest.starts_with("--") {
        let chars: Vec<(usize, char)> = rest.char_indices().collect();
        let mut word = String::new();
        let mut quote: Option<char> = None;
        let mut end = rest.len();
        let mut i = 0;
        while i < chars.len() {
            let (pos, c) = chars[i];
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) if c == '\\' && i + 1 < chars.len() => {
                    i += 1;
                    word.push(chars[i].1);
                }
                Some(_) => word.push(c),
                None if c.is_whitespace() => {
                    end = pos;
                    break;
                }
                None if c == '\'' || c == '"' => quote = Some(c),
                None if c == '\\' && i + 1 < chars.len() => {
                    i += 1;
                    word.push(chars[i].1);
                }
                None => word.push(c),
            }
            i += 1;
        }
        if word == "--" {
            rest = rest[end..].trim_start();
            break;
        }
        let body = &word[2..];
        out.push(match body.split_once('=') {
            Some((n, v)) => Flag { name: n.to_string(), value: Some(v.to_string()) },
            None => Flag { name: body.to_string(), value: None },
        });
        rest = rest[end..].trim_start();
    }
    (out, rest)
}

/// A JSON array of strings, or `None` when `s` is not one (then it is shell form).
fn json_array(s: &str) -> Option<Vec<String>> {
    let t = s.trim();
    if !t.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(t).ok()
}

fn cmd(s: &str) -> Cmd {
    match json_array(s) {
        Some(v) => Cmd::Exec(v),
        None => Cmd::Shell(s.trim().to_string()),
    }
}

/// `name=value` pairs of ENV and LABEL (or the legacy `ENV name value...`).
fn name_vals(line: usize, kw: &str, rest: &str, escape: char) -> Result<Vec<(String, String)>, DockerfileError> {
    let words = split_words(rest, escape);
    let Some(first) = words.first() else {
        return Err(perr(line, format!("{kw} needs at least one argument")));
    };
    if !first.contains('=') {
        if kw == "LABEL" {
            return Err(perr(line, format!("LABEL `{first}` has no value: use LABEL name=value")));
        }
        let t = rest.trim();
        let (k, v) = t
            .split_once(char::is_whitespace)
            .ok_or_else(|| perr(line, format!("{kw} `{t}` has no value: use {kw} name=value")))?;
        return Ok(vec![(k.to_string(), v.trim_start().to_string())]);
    }
    words
        .iter()
        .map(|w| {
            w.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| perr(line, format!("can't find = in `{w}`: {kw} takes name=value pairs")))
        })
        .collect()
}

/// Parses a Dockerfile.
pub fn parse(text: &str) -> Result<Dockerfile, DockerfileError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).collect();
    let mut escape = '\\';
    let mut i = 0;
    // Parser directives: only at the very top.
    while i < lines.len() {
        let Some((k, v)) = directive(lines[i]) else { break };
        if k == "escape" {
            escape = match v.as_str() {
                "\\" => '\\',
                "`" => '`',
                other => return Err(perr(i + 1, format!("invalid escape token `{other}`: use \\ or `"))),
            };
        }
        i += 1;
    }

    let mut meta_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    while i < lines.len() {
        let raw = lines[i];
        if raw.trim().is_empty() || is_comment(raw) {
            i += 1;
            continue;
        }
        let start = i + 1;
        // Join continuation lines; comments and blank lines inside are dropped.
        let mut logical = String::new();
        let mut cur = raw.trim_start();
        loop {
            match continuation(cur, escape) {
                Some(body) => {
                    logical.push_str(body);
                    i += 1;
                    while i < lines.len() && (is_comment(lines[i]) || lines[i].trim().is_empty()) {
                        i += 1;
                    }
                    if i >= lines.len() {
                        break;
                    }
                    cur = lines[i];
                }
                None => {
                    logical.push_str(cur);
                    break;
                }
            }
        }
        i += 1;
        let logical = logical.trim_end();
        let (kw, rest) = match logical.split_once(char::is_whitespace) {
            Some((k, r)) => (k.to_ascii_uppercase(), r.trim_start()),
            None => (logical.to_ascii_uppercase(), ""),
        };

        // Heredoc bodies follow the instruction line.
        let mut heredocs = Vec::new();
        if matches!(kw.as_str(), "RUN" | "COPY" | "ADD") {
            for (name, expand, chomp) in heredoc_markers(rest, escape) {
                let mut content = String::new();
                loop {
                    if i >= lines.len() {
                        return Err(perr(
                            start,
                            format!("heredoc `{name}` is not terminated: end it with a line `{name}`"),
                        ));
                    }
                    let l = lines[i];
                    i += 1;
                    let cmp = if chomp { l.trim_start_matches('\t') } else { l };
                    if cmp == name {
                        break;
                    }
                    content.push_str(l);
                    content.push('\n');
                }
                heredocs.push(Heredoc { name, content, expand, chomp });
            }
        }

        let instr = match kw.as_str() {
            "FROM" => {
                let (fl, rest) = flags(rest);
                let words: Vec<&str> = rest.split_whitespace().collect();
                let (base, name) = match words.as_slice() {
                    [b] => (b.to_string(), None),
                    [b, as_, n] if as_.eq_ignore_ascii_case("as") => (b.to_string(), Some(n.to_ascii_lowercase())),
                    _ => return Err(perr(start, "FROM takes an image and an optional `AS name`")),
                };
                let mut platform = None;
                for f in fl {
                    match f.name.as_str() {
                        "platform" => platform = f.value,
                        other => return Err(perr(start, format!("unknown flag `--{other}` for FROM"))),
                    }
                }
                stages.push(Stage { base, platform, name, line: start, instrs: Vec::new() });
                continue;
            }
            "RUN" => {
                let (fl, rest) = flags(rest);
                Instr::Run { flags: fl, cmd: cmd(rest), heredocs }
            }
            "COPY" | "ADD" => {
                let (fl, rest) = flags(rest);
                let words = match json_array(rest) {
                    Some(v) => v,
                    None => rest.split_whitespace().map(str::to_string).collect(),
                };
                if words.len() < 2 {
                    return Err(perr(start, format!("{kw} needs at least one source and a destination")));
                }
                let mut docs = heredocs.into_iter();
                let mut srcs = Vec::new();
                for w in &words[..words.len() - 1] {
                    if !heredoc_markers(w, escape).is_empty() {
                        if let Some(h) = docs.next() {
                            srcs.push(Src::Heredoc(h));
                            continue;
                        }
                    }
                    srcs.push(Src::Path(w.clone()));
                }
                Instr::Copy { add: kw == "ADD", flags: fl, srcs, dest: words[words.len() - 1].clone() }
            }
            "ENV" => Instr::Env(name_vals(start, "ENV", rest, escape)?),
            "LABEL" => Instr::Label(name_vals(start, "LABEL", rest, escape)?),
            "ARG" => {
                let words = split_words(rest, escape);
                if words.is_empty() {
                    return Err(perr(start, "ARG needs a name"));
                }
                let decls = words
                    .into_iter()
                    .map(|w| match w.split_once('=') {
                        Some((n, v)) => ArgDecl { name: n.to_string(), default: Some(v.to_string()) },
                        None => ArgDecl { name: w, default: None },
                    })
                    .collect();
                if stages.is_empty() {
                    meta_args.extend(decls);
                    continue;
                }
                Instr::Arg(decls)
            }
            "WORKDIR" => Instr::Workdir(rest.to_string()),
            "USER" => Instr::User(rest.to_string()),
            "STOPSIGNAL" => Instr::StopSignal(rest.to_string()),
            "EXPOSE" => Instr::Expose(rest.split_whitespace().map(str::to_string).collect()),
            "VOLUME" => {
                Instr::Volume(json_array(rest).unwrap_or_else(|| rest.split_whitespace().map(str::to_string).collect()))
            }
            "CMD" => Instr::Cmd(cmd(rest)),
            "ENTRYPOINT" => Instr::Entrypoint(cmd(rest)),
            "SHELL" => Instr::Shell(
                json_array(rest)
                    .ok_or_else(|| perr(start, "SHELL must be a JSON array, e.g. SHELL [\"/bin/bash\", \"-c\"]"))?,
            ),
            "HEALTHCHECK" => {
                let (fl, rest) = flags(rest);
                let (what, body) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
                match what.to_ascii_uppercase().as_str() {
                    "NONE" => Instr::Healthcheck { flags: fl, cmd: None },
                    "CMD" if !body.trim().is_empty() => Instr::Healthcheck { flags: fl, cmd: Some(cmd(body)) },
                    _ => return Err(perr(start, "HEALTHCHECK takes NONE or CMD <command>")),
                }
            }
            "ONBUILD" | "MAINTAINER" => Instr::Ignored(kw.clone(), rest.to_string()),
            _ => return Err(perr(start, format!("unknown instruction `{kw}`"))),
        };
        if matches!(instr, Instr::Run { .. } | Instr::Copy { .. }) && rest.is_empty() {
            return Err(perr(start, format!("{kw} needs arguments")));
        }
        match stages.last_mut() {
            Some(st) => st.instrs.push(Line { line: start, instr }),
            None => return Err(perr(start, format!("{kw} before the first FROM: only ARG may come before FROM"))),
        }
    }
    if stages.is_empty() {
        return Err(perr(lines.len().max(1), "the Dockerfile has no FROM instruction"));
    }
    Ok(Dockerfile { escape, meta_args, stages })
}

#[cfg(test)]
mod tests;
