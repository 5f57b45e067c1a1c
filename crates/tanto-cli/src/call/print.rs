//! What `call` and `functions` print, the way Dagger's CLI prints it
//! (`cmd/dagger/functions.go` `handleResponse`/`printPlainResult`,
//! `call.go` `functionListRun`): pure functions from results to bytes.

use serde_json::Value as Json;
use tanto_module::names::cli_name;
use tanto_module::types::{Function, TypeDef};

use super::catalog::{flag_type, object_name, required, FlagType};
use super::chain::{command_path, is_void, Help, LeafSelection, Plan};

/// What a command writes, and its exit code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub code: u8,
    /// `-o FILE` on a result that is not exported by the engine: the
    /// file to write (the caller writes it and reports it).
    pub file: Option<(String, Vec<u8>)>,
}

impl Output {
    pub fn error(message: &str) -> Output {
        Output { stderr: format!("Error: {message}\n").into_bytes(), code: 1, ..Default::default() }
    }

    /// A usage error of `tanto call PATH` (Dagger: `Error: ...` then the hint).
    pub fn usage(path: &[String], message: &str) -> Output {
        let mut out = Output::error(message);
        out.stderr.extend_from_slice(format!("Run '{} --help' for usage.\n", command_path(path)).as_bytes());
        out
    }
}

/// Go's `strconv.Quote` (what `%q` prints) for the strings the CLI shows.
pub fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `%+v` of a JSON number decoded into `any` (a float64, as Dagger's
/// query builder decodes it): `strconv`'s shortest `%g`, whose exponent
/// form starts at 1e+06 and below 1e-04 (`12`, `1.234567e+06`, `1e-05`).
pub fn go_number(n: &serde_json::Number) -> String {
    let Some(f) = n.as_f64() else { return n.to_string() };
    if f == 0.0 {
        return if f.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let sci = format!("{f:e}"); // shortest digits: "1.5e-5", "1e21"
    let (mantissa, exp) = sci.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("an integer exponent");
    if (-4..6).contains(&exp) {
        format!("{f}")
    } else {
        format!("{mantissa}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
    }
}

/// Dagger's `printPlainResult`: strings as they are, lists one element a
/// line, maps their values, anything else with `%+v`.
pub fn plain(v: &Json, out: &mut Vec<u8>) {
    match v {
        Json::Array(items) => {
            for item in items {
                plain(item, out);
                out.push(b'\n');
            }
        }
        Json::Object(m) => {
            for item in m.values() {
                plain(item, out);
            }
        }
        Json::String(s) => out.extend_from_slice(s.as_bytes()),
        Json::Number(n) => out.extend_from_slice(go_number(n).as_bytes()),
        Json::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Json::Null => out.extend_from_slice(b"<nil>"),
    }
}

/// Go's `json.Encoder` with `SetIndent("", "    ")` and no HTML escaping:
/// object keys sorted (Go maps), numbers as float64, a final newline.
pub fn go_json(v: &Json, out: &mut Vec<u8>) {
    fn write(v: &Json, depth: usize, out: &mut Vec<u8>) {
        let indent = |out: &mut Vec<u8>, d: usize| {
            out.push(b'\n');
            out.extend(std::iter::repeat_n(b' ', 4 * d));
        };
        match v {
            Json::Array(items) if !items.is_empty() => {
                out.push(b'[');
                for (k, item) in items.iter().enumerate() {
                    if k > 0 {
                        out.push(b',');
                    }
                    indent(out, depth + 1);
                    write(item, depth + 1, out);
                }
                indent(out, depth);
                out.push(b']');
            }
            Json::Object(m) if !m.is_empty() => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                out.push(b'{');
                for (k, key) in keys.into_iter().enumerate() {
                    if k > 0 {
                        out.push(b',');
                    }
                    indent(out, depth + 1);
                    out.extend_from_slice(serde_json::to_string(key).expect("a key serializes").as_bytes());
                    out.extend_from_slice(b": ");
                    write(&m[key], depth + 1, out);
                }
                indent(out, depth);
                out.push(b'}');
            }
            Json::Number(n) => out.extend_from_slice(go_json_number(n).as_bytes()),
            other => out.extend_from_slice(serde_json::to_string(other).expect("json serializes").as_bytes()),
        }
    }
    write(v, 0, out);
    out.push(b'\n');
}

/// encoding/json's float64 form: `%f`-like between 1e-6 and 1e21, else
/// an exponent without a leading zero (`1e+21`, `1e-7`).
fn go_json_number(n: &serde_json::Number) -> String {
    let Some(f) = n.as_f64() else { return n.to_string() };
    let abs = f.abs();
    if abs == 0.0 || (1e-6..1e21).contains(&abs) {
        return format!("{f}");
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("an integer exponent");
    format!("{mantissa}e{}{}", if exp < 0 { '-' } else { '+' }, exp.abs())
}

/// `Container:abc` → `Container@abc` (Dagger's `Type@digest`); an ID
/// without a type prefix is shown under the type the chain ended in.
pub fn encoded_id(id: &str, type_name: &str) -> String {
    match id.split_once(':') {
        Some((t, digest)) if !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') => {
            format!("{t}@{digest}")
        }
        _ => format!("{type_name}@{id}"),
    }
}

/// Dagger's `printID`: `Type@digest` lines (`- ` before each of a list's).
fn print_id(v: &Json, t: &TypeDef, out: &mut Vec<u8>) -> Result<(), String> {
    match (v, &t.as_list) {
        (Json::Array(items), Some(l)) => {
            for item in items {
                out.extend_from_slice(b"- ");
                print_id(item, &l.element_type_def, out)?;
            }
            Ok(())
        }
        (Json::Object(m), _) => match m.get("id").and_then(Json::as_str) {
            Some(id) => {
                out.extend_from_slice(encoded_id(id, &t.type_name()).as_bytes());
                out.push(b'\n');
                Ok(())
            }
            None => Err(format!("printID: no ID found in object: {v}")),
        },
        (Json::String(id), _) => {
            out.extend_from_slice(encoded_id(id, &t.type_name()).as_bytes());
            out.push(b'\n');
            Ok(())
        }
        (Json::Null, _) => {
            out.extend_from_slice(b"<nil>\n");
            Ok(())
        }
        _ => Err(format!("printID: unexpected value for {}: {v}", t.type_name())),
    }
}

/// Dagger's `handleResponse` for a plan's result (already read from under
/// the chain). `tty`: whether stdout is a terminal (then a newline is
/// added to output that lacks one). `output_abs`: the absolute `-o` path.
pub fn response(plan: &Plan, result: &Json, tty: bool, output_abs: Option<&str>) -> Output {
    let mut out = Output::default();
    if is_void(&plan.leaf) {
        return out;
    }
    if let LeafSelection::Export { .. } = plan.leaf_selection {
        match result.as_str() {
            Some(path) => out.stderr.extend_from_slice(format!("Saved to {}.\n", go_quote(path)).as_bytes()),
            None => return Output::error(&format!("unexpected response: {result}")),
        }
        return out;
    }
    let mut buf = Vec::new();
    if object_name(&plan.leaf).is_some() {
        if let Err(e) = print_id(result, &plan.leaf, &mut buf) {
            return Output::error(&e);
        }
    } else if plan.json {
        go_json(result, &mut buf);
    } else {
        plain(result, &mut buf);
    }
    if let (Some(_), Some(abs)) = (&plan.output, output_abs) {
        out.file = Some((abs.to_string(), buf.clone()));
        out.stderr.extend_from_slice(format!("Saved output to {}.\n", go_quote(abs)).as_bytes());
    }
    let needs_newline = tty && !buf.ends_with(b"\n");
    out.stdout = buf;
    if needs_newline {
        out.stdout.push(b'\n');
    }
    out
}

/// A failed query: its errors' messages (each once) after `Error: `, and
/// for an exec error its output and exit code.
pub fn query_errors(errors: &[Json]) -> Output {
    let mut out = Output { code: 1, ..Default::default() };
    let message =
        |e: &Json| e.get("message").and_then(Json::as_str).unwrap_or("the engine returned an error").to_string();
    let mut messages: Vec<String> = Vec::new();
    for m in errors.iter().map(message) {
        if !messages.contains(&m) {
            messages.push(m);
        }
    }
    let text = if messages.is_empty() { "the engine returned an error".to_string() } else { messages.join("\n") };
    out.stderr.extend_from_slice(format!("Error: {text}\n").as_bytes());
    for e in errors {
        let Some(ext) = e.get("extensions") else { continue };
        if ext.get("_type").and_then(Json::as_str) != Some("EXEC_ERROR") {
            continue;
        }
        for (key, title) in [("stdout", "Stdout:"), ("stderr", "Stderr:")] {
            if let Some(s) = ext.get(key).and_then(Json::as_str).filter(|s| !s.is_empty()) {
                out.stderr.extend_from_slice(format!("{title}\n{s}\n").as_bytes());
            }
        }
        if let Some(code) = ext.get("exitCode").and_then(Json::as_i64).filter(|c| (1..=255).contains(c)) {
            out.code = code as u8;
        }
        break;
    }
    out
}

/// Dagger's `shortDescription`: the first line, or `-`.
pub fn short(description: Option<&str>) -> &str {
    match description.unwrap_or("").split('\n').next() {
        Some("") | None => "-",
        Some(s) => s,
    }
}

/// A tabwriter (minwidth 0, padding 3): every column but the last padded
/// to its widest cell plus 3; `width` is the visible width of a cell.
fn table(rows: &[Vec<String>], width: impl Fn(&str) -> usize) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; cols];
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(row.len().saturating_sub(1)) {
            widths[i] = widths[i].max(width(cell));
        }
    }
    let mut out = String::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            out.push_str(cell);
            if i + 1 < row.len() {
                out.extend(std::iter::repeat_n(' ', widths[i] + 3 - width(cell)));
            }
        }
        out.push('\n');
    }
    out
}

fn bold(s: &str, tty: bool) -> String {
    if tty {
        format!("\x1b[1m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

/// The visible width of a cell (SGR sequences take none).
fn visible_width(s: &str) -> usize {
    let mut n = 0;
    let mut in_escape = false;
    for c in s.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, _) => n += 1,
        }
    }
    n
}

/// `tanto functions`: Dagger's `functionListRun` (sorted by name, CLI
/// names, first description line or `-`; a bold header on a terminal).
pub fn functions_list(functions: &[Function], skipped: &[String], tty: bool) -> Output {
    if functions.is_empty() {
        return Output { stderr: b"No functions found.\n".to_vec(), ..Default::default() };
    }
    let mut sorted: Vec<&Function> = functions.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut rows = vec![vec![bold("Name", tty), bold("Description", tty)]];
    for f in sorted {
        rows.push(vec![cli_name(&f.name), short(f.description.as_deref()).to_string()]);
    }
    let mut text = table(&rows, visible_width);
    if !skipped.is_empty() {
        text.push_str(&format!(
            "\nSkipped {} function(s) with unsupported types: {}\n",
            skipped.len(),
            skipped.join(", ")
        ));
    }
    Output { stdout: text.into_bytes(), ..Default::default() }
}

/// An argument's line in help: `--name string`, its description, its default.
fn flag_row(
    a: &tanto_module::types::FunctionArg,
    t: &FlagType,
    enums: &std::collections::BTreeMap<String, Vec<String>>,
) -> Vec<String> {
    let mut left = format!("      --{}", cli_name(&a.name));
    if *t != FlagType::Bool {
        left.push(' ');
        left.push_str(&t.display(enums));
    }
    let mut right = short(a.description.as_deref()).trim_start_matches('-').to_string();
    let mut extra = |s: String| {
        if !right.is_empty() {
            right.push(' ');
        }
        right.push_str(&s);
    };
    if let Some(d) = a.default_value.as_deref().filter(|d| !d.is_empty() && *d != "null") {
        extra(format!("(default: {d})"));
    }
    if required(a) {
        extra("[required]".to_string());
    }
    vec![left, right]
}

/// `tanto call [FUNCTION...] --help`: the command's description, usage,
/// the functions of what it returns, and its arguments.
pub fn help(h: &Help, module_description: Option<&str>) -> Output {
    let mut s = String::new();
    let description = if h.path.is_empty() {
        module_description
            .or(h.function.description.as_deref())
            .map(str::to_string)
            .unwrap_or_else(|| "Call one or more functions, interconnected into a pipeline".to_string())
    } else {
        h.function.description.clone().unwrap_or_default()
    };
    if !description.is_empty() {
        s.push_str(description.trim_end());
        s.push_str("\n\n");
    }
    let args: Vec<_> = h.function.args.iter().filter_map(|a| flag_type(a, h.core_object).map(|t| (a, t))).collect();
    s.push_str("USAGE\n  ");
    s.push_str(&command_path(&h.path));
    if h.path.is_empty() {
        s.push_str(" [options]");
    }
    if !args.is_empty() {
        s.push_str(" [arguments]");
    }
    if !h.functions.is_empty() {
        s.push_str(" <function>");
    }
    s.push('\n');
    if !h.functions.is_empty() {
        s.push_str("\nFUNCTIONS\n");
        let rows: Vec<Vec<String>> = h
            .functions
            .iter()
            .map(|f| vec![format!("  {}", cli_name(&f.name)), short(f.description.as_deref()).to_string()])
            .collect();
        s.push_str(&table(&rows, visible_width));
    }
    if !args.is_empty() {
        s.push_str("\nARGUMENTS\n");
        let rows: Vec<Vec<String>> = args.iter().map(|(a, t)| flag_row(a, t, &h.enum_values)).collect();
        s.push_str(&table(&rows, visible_width));
    }
    if h.path.is_empty() {
        s.push_str("\nOPTIONS\n");
        s.push_str(&table(
            &[
                vec!["  -j, --json".into(), "Present result as JSON".into()],
                vec![
                    "  -m, --mod string".into(),
                    "Module reference to load, either a local path or a remote git repo (defaults to current directory)"
                        .into(),
                ],
                vec!["  -o, --output string".into(), "Save the result to a local file or directory".into()],
            ],
            visible_width,
        ));
    }
    if !h.skipped.is_empty() {
        s.push_str(&format!("\nSkipped function(s) with unsupported types: {}\n", h.skipped.join(", ")));
    }
    if !h.functions.is_empty() {
        s.push_str(&format!(
            "\nUse \"{} [command] --help\" for more information about a command.\n",
            command_path(&h.path)
        ));
    }
    Output { stdout: s.into_bytes(), ..Default::default() }
}

#[cfg(test)]
mod tests;
